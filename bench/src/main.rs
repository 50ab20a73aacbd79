//! The benchmark table: every figure beside a reference measured in the same run, as a ratio.
//!
//! ```text
//! cargo run --release -p shm_ring_bench [-- --runs N] [--json FILE] [--plot FILE.svg]
//! ```
//!
//! Prints one markdown report: throughput per message size and API (single-thread,
//! cross-thread, cross-process) against `memcpy` bandwidth and against rtrb carrying the same
//! framed bytes; the Rust, C++ and Python peer programs against each other; the drop-in Python
//! consumer against a stand-in of the original library's Python read path; one-way latency
//! against a raw `AtomicU32` ping-pong; and the cost of waiting (wake-up latency, idle CPU,
//! the write path with and without wake-up support). Every figure is the median of `--runs`
//! runs (default 5) with the minimum and maximum. `--json` writes the same figures as JSON,
//! `--plot` a throughput-against-size chart as SVG. Takes about a minute and a half on 2 cores,
//! building the peer programs included.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shm_ring_bench as support;
use support::{Api, SIZES};

/// A measured figure: one value per run, higher is better unless it is a time.
#[derive(Clone)]
struct Figure {
    section: &'static str,
    name: String,
    size: usize,
    unit: &'static str,
    runs: Vec<f64>,
}

impl Figure {
    fn sorted(&self) -> Vec<f64> {
        let mut runs = self.runs.clone();
        runs.sort_by(f64::total_cmp);
        runs
    }
    fn median(&self) -> f64 {
        let runs = self.sorted();
        runs[runs.len() / 2]
    }
    fn min(&self) -> f64 {
        self.sorted()[0]
    }
    fn max(&self) -> f64 {
        *self.sorted().last().unwrap()
    }
    /// "median [min – max]" as message rates.
    fn rates(&self) -> String {
        format!(
            "{} [{} – {}]",
            human_rate(self.median()),
            human_rate(self.min()),
            human_rate(self.max())
        )
    }
}

/// A throughput workload of shm_ring: one run of `count` messages of `size` bytes with an API.
type RunWith = fn(Api, usize, u64) -> Duration;

/// A named workload: each call is one run, returning its messages per second.
type Workload<'a> = (String, Box<dyn FnMut() -> f64 + 'a>);

/// The three ways of running shm_ring's throughput workloads.
const MODES: [(&str, RunWith); 3] = [
    ("single-thread", support::single_thread),
    ("cross-thread", support::cross_thread),
    ("cross-process", support::cross_process),
];

/// `runs` results (messages per second) of each workload, by name.
///
/// The workloads take turns, one run each per round, rather than each doing all its runs in
/// a row: on a shared machine the speed of the same code drifts from second to second (other
/// tenants, where the host places the two CPUs), and taking turns lets every workload, and so
/// every ratio, see the same drift.
fn rates_in_turn(
    runs: usize,
    workloads: &mut [Workload<'_>],
) -> std::collections::HashMap<String, Vec<f64>> {
    let mut rates: std::collections::HashMap<String, Vec<f64>> = std::collections::HashMap::new();
    for _ in 0..runs {
        for (name, run) in workloads.iter_mut() {
            rates.entry(name.clone()).or_default().push(run());
        }
    }
    rates
}

/// Messages per second of a run of `count` messages that took `elapsed`.
fn rate(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn gib(rate: f64, size: usize) -> f64 {
    rate * size as f64 / (1u64 << 30) as f64
}

fn human_rate(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.2} M", rate / 1e6)
    } else {
        format!("{:.1} k", rate / 1e3)
    }
}

fn human_size(size: usize) -> String {
    match size {
        6_220_800 => "6,220,800 B".to_owned(),
        s if s >= 1024 => format!("{} KiB", s / 1024),
        s => format!("{s} B"),
    }
}

fn micros(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Args {
    runs: usize,
    json: Option<PathBuf>,
    plot: Option<PathBuf>,
}

fn parse_args() -> Args {
    let mut args = Args {
        runs: 5,
        json: None,
        plot: None,
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        let mut value = || {
            words
                .next()
                .unwrap_or_else(|| panic!("{word} needs a value"))
        };
        match word.as_str() {
            "--runs" => args.runs = value().parse().expect("--runs takes a number"),
            "--json" => args.json = Some(value().into()),
            "--plot" => args.plot = Some(value().into()),
            other => panic!("unknown argument {other}; see the top of bench/src/main.rs"),
        }
    }
    assert!(args.runs >= 1, "--runs must be at least 1");
    args
}

/// What this machine is.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_owned())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores available, Linux {kernel}")
}

// ------------------------------------------------------------------ peer programs

/// The peer programs found or built for this run.
struct Peers {
    rust: Option<PathBuf>,
    cpp: Option<PathBuf>,
    python: bool,
}

/// The repository: the workspace this package is a member of.
fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The target directory this program was built in (`<target>/release/bench`), where the peer
/// programs are built too, so that they share its compiled crates.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.ancestors()
        .nth(2)
        .expect("the program lies in <target>/<profile>/")
        .to_path_buf()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Builds the Rust peer example (in this program's target directory) and the C++ peer (if g++
/// is there, into `dir`), and looks for python3.
fn find_peers(dir: &Path) -> Peers {
    let target = target_dir();
    let built = Command::new(cargo())
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "shm_ring",
            "--example",
            "peer",
            "--target-dir",
        ])
        .arg(&target)
        .current_dir(root())
        .status()
        .is_ok_and(|s| s.success());
    let rust = built.then(|| target.join("release/examples/peer"));
    let cpp_exe = dir.join("peer-cpp");
    let cpp = Command::new(std::env::var("CXX").unwrap_or_else(|_| "g++".into()))
        .args(["-std=c++14", "-O2", "-I"])
        .arg(root().join("interop/cpp/include"))
        .arg(root().join("interop/cpp/examples/peer.cpp"))
        .arg("-o")
        .arg(&cpp_exe)
        .status()
        .is_ok_and(|s| s.success())
        .then_some(cpp_exe);
    let python = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    Peers { rust, cpp, python }
}

fn peer_command(peers: &Peers, lang: &str) -> Option<Command> {
    match lang {
        "Rust" => peers.rust.as_ref().map(Command::new),
        "C++" => peers.cpp.as_ref().map(Command::new),
        "Python" if peers.python => {
            let mut command = Command::new("python3");
            command
                .args(["-m", "shm_ring"])
                .env("PYTHONPATH", root().join("interop/python"));
            Some(command)
        }
        _ => None,
    }
}

/// Runs one producer/consumer pair of peer programs and returns the consumer's msgs/s.
fn peer_run(
    producer: Command,
    consumer: Command,
    size: usize,
    count: u64,
    producer_flags: &[&str],
    consumer_flags: &[&str],
) -> f64 {
    let name = support::segment_name("peer");
    let stream = [
        "--name".to_owned(),
        name,
        "--count".into(),
        count.to_string(),
        "--size".into(),
        size.to_string(),
        "--capacity".into(),
        support::capacity_for(size).to_string(),
        "--no-verify".into(),
    ];
    // Each peer is pinned to a CPU of its own (a child inherits the CPUs of the thread that
    // starts it), as the threads of the other workloads are.
    let start = |mut peer: Command, role: &str, flags: &[&str], cpu: usize, stdout: Stdio| {
        let _pinned = support::pin(cpu);
        peer.arg(role)
            .args(&stream)
            .args(flags)
            .stdout(stdout)
            .spawn()
            .unwrap_or_else(|e| panic!("start the {role} peer: {e}"))
    };
    let c = start(consumer, "consumer", consumer_flags, 0, Stdio::piped());
    let p = start(producer, "producer", producer_flags, 1, Stdio::null())
        .wait()
        .expect("run the producer peer");
    let out = c.wait_with_output().expect("consumer peer");
    assert!(p.success() && out.status.success(), "a peer failed");
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|report| report["msgs_per_sec"].as_f64())
        .unwrap_or_else(|| {
            panic!(
                "the consumer peer printed no msgs_per_sec: {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
}

/// Runs one of the Python read-path programs in `bench/python` (`script`) against the Rust
/// producer peer and returns the messages per CPU-second it reports.
///
/// The producer publishes all `count` messages at once (the ring holds them all), then gives
/// up waiting for them to be read and removes the name; the reader starts its clock only
/// then, so that it measures its own read path, with no producer to wake or to wait for. The
/// reader's clock is its own CPU time, which a loaded machine does not stretch.
fn python_read_path_run(rust: Command, script: &str, size: usize, count: u64) -> f64 {
    let name = support::segment_name("pyread");
    let capacity = ((size + 4) * count as usize).next_power_of_two();
    let mut reader = Command::new("python3");
    reader
        .arg(root().join("bench/python").join(script))
        .args([name.as_str(), &count.to_string(), &size.to_string()])
        .env("PYTHONPATH", root().join("interop/python"))
        .stdout(Stdio::piped());
    let reader = {
        let _pinned = support::pin(0);
        reader.spawn().expect("start the Python reader")
    };
    let mut producer = rust;
    producer
        .arg("producer")
        .args(["--name", name.as_str(), "--count", &count.to_string()])
        .args([
            "--size",
            &size.to_string(),
            "--capacity",
            &capacity.to_string(),
        ])
        .args(["--batch", "--no-verify", "--timeout-ms", "2000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    {
        let _pinned = support::pin(1);
        // Fails by design: nobody reads while it waits for the ring to drain.
        let _ = producer.status().expect("run the producer peer");
    }
    let out = reader.wait_with_output().expect("Python reader");
    assert!(out.status.success(), "the Python reader {script} failed");
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|report| report["msgs_per_sec"].as_f64())
        .unwrap_or_else(|| {
            panic!(
                "{script} printed no msgs_per_sec: {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
}

// ------------------------------------------------------------------ the no-wake build

/// Builds this program with `--cfg shm_ring_no_wake` (the ring without its check for a
/// sleeping peer) into `dir`, for the same-run reference of what that check costs.
fn build_without_wake(dir: &Path) -> Option<PathBuf> {
    let ok = Command::new(cargo())
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "shm_ring_bench",
            "--bin",
            "bench",
            "--target-dir",
        ])
        .arg(dir)
        .env("RUSTFLAGS", "--cfg shm_ring_no_wake")
        .current_dir(root())
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| dir.join("release/bench"))
}

/// The spinning write path, measured in a child process running `exe`.
fn write_path_in(exe: &Path, count: u64) -> f64 {
    let out = Command::new(exe)
        .env("SHM_RING_BENCH_WRITE_PATH", count.to_string())
        .output()
        .expect("run the write-path child");
    assert!(out.status.success(), "the write-path child failed");
    let nanos: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("nanoseconds");
    count as f64 / (nanos * 1e-9)
}

// ------------------------------------------------------------------ main

fn main() {
    support::child_main();
    if let Ok(count) = std::env::var("SHM_RING_BENCH_WRITE_PATH") {
        let elapsed = support::spinning_write_path(count.parse().expect("count"));
        println!("{}", elapsed.as_nanos());
        return;
    }
    let args = parse_args();
    let runs = args.runs;
    let started = Instant::now();
    let work = target_dir().join("bench-work");
    std::fs::create_dir_all(&work).expect("work directory");
    eprintln!("building the peer programs and the no-wake reference build...");
    let peers = find_peers(&work);
    let no_wake = build_without_wake(&work.join("no-wake"));

    let mut figures: Vec<Figure> = Vec::new();
    let mut report = String::new();
    let mut targets: Vec<(String, f64, f64, bool)> = Vec::new(); // (what, measured, goal, higher is better)
    writeln!(report, "# shm_ring benchmark\n").unwrap();
    writeln!(report, "Machine: {}.", machine()).unwrap();
    writeln!(
        report,
        "Every figure is the median of {runs} runs, with the minimum and maximum in brackets; \
         each ratio divides medians measured in this same run. A throughput run carries 512 MiB \
         of payload (at most 2 million messages); the two sides of a workload run on two CPUs, \
         pinned.\n"
    )
    .unwrap();

    // Throughput.
    for size in SIZES {
        eprintln!("throughput at {}...", human_size(size));
        let count = support::count_for(size);
        let mut workloads: Vec<Workload> = vec![
            (
                "memcpy, single-thread".into(),
                Box::new(move || rate(count, support::memcpy(size, count))),
            ),
            (
                "rtrb, cross-thread, per message".into(),
                Box::new(move || rate(count, support::rtrb_cross_thread(false, size, count))),
            ),
            (
                "rtrb, cross-thread, batched".into(),
                Box::new(move || rate(count, support::rtrb_cross_thread(true, size, count))),
            ),
        ];
        for (mode, run) in MODES {
            for api in Api::ALL {
                workloads.push((
                    format!("shm_ring, {mode}, {}", api.name()),
                    Box::new(move || rate(count, run(api, size, count))),
                ));
            }
        }
        let mut rates = rates_in_turn(runs, &mut workloads);
        let mut figure = |name: &str| Figure {
            section: "throughput",
            name: name.to_owned(),
            size,
            unit: "msgs/s",
            runs: rates.remove(name).expect("every workload ran"),
        };
        let memcpy = figure("memcpy, single-thread");
        let rtrb = figure("rtrb, cross-thread, per message");
        let rtrb_batched = figure("rtrb, cross-thread, batched");
        writeln!(report, "## Throughput, {} messages\n", human_size(size)).unwrap();
        writeln!(report, "| what | msgs/s | GiB/s | reference | ratio |").unwrap();
        writeln!(report, "|---|---|---|---|---|").unwrap();
        let row = |report: &mut String, figure: &Figure, reference: Option<(&Figure, &str)>| {
            let (reference_text, ratio) = match reference {
                Some((r, label)) => (
                    label.to_owned(),
                    format!("{:.2}×", figure.median() / r.median()),
                ),
                None => ("—".to_owned(), "—".to_owned()),
            };
            writeln!(
                report,
                "| {} | {} | {:.2} | {} | {} |",
                figure.name,
                figure.rates(),
                gib(figure.median(), size),
                reference_text,
                ratio
            )
            .unwrap();
        };
        row(&mut report, &memcpy, None);
        row(&mut report, &rtrb, None);
        row(&mut report, &rtrb_batched, None);
        let mut copy_process = None;
        for (mode, _) in MODES {
            for api in Api::ALL {
                let figure = figure(&format!("shm_ring, {mode}, {}", api.name()));
                let reference = match (mode, api) {
                    ("cross-thread", Api::Batch) => Some((&rtrb_batched, "rtrb batched")),
                    ("cross-thread", _) => Some((&rtrb, "rtrb per message")),
                    _ => Some((&memcpy, "memcpy")),
                };
                row(&mut report, &figure, reference);
                if mode == "cross-thread" {
                    let (r, label) = reference.unwrap();
                    targets.push((
                        format!(
                            "cross-thread {}, {}: ≥ 1.0× {label}",
                            api.name(),
                            human_size(size)
                        ),
                        figure.median() / r.median(),
                        1.0,
                        true,
                    ));
                }
                if mode == "cross-process" {
                    match api {
                        Api::Copy => copy_process = Some(figure.clone()),
                        Api::Batch if size == 64 => targets.push((
                            "cross-process 64 B, batch: ≥ 3× our copy API".into(),
                            figure.median() / copy_process.as_ref().unwrap().median(),
                            3.0,
                            true,
                        )),
                        _ => {}
                    }
                    if size == 6_220_800 && api != Api::Batch {
                        let goal = if api == Api::Copy { 0.5 } else { 0.8 };
                        targets.push((
                            format!(
                                "cross-process 6,220,800 B, {}: ≥ {goal}× memcpy",
                                api.name()
                            ),
                            figure.median() / memcpy.median(),
                            goal,
                            true,
                        ));
                    }
                }
                figures.push(figure);
            }
        }
        figures.extend([memcpy, rtrb, rtrb_batched]);
        writeln!(report).unwrap();
    }

    // The peer programs.
    eprintln!("peer programs...");
    writeln!(report, "## The peer programs, cross-process\n").unwrap();
    writeln!(
        report,
        "Each row runs the `peer` programs (copy API, `--no-verify`) as two processes; msgs/s is \
         the consumer's.\n"
    )
    .unwrap();
    writeln!(
        report,
        "| producer → consumer | size | msgs/s | GiB/s | ratio to Rust → Rust |"
    )
    .unwrap();
    writeln!(report, "|---|---|---|---|---|").unwrap();
    for size in SIZES {
        let count = support::count_for(size);
        let mut workloads: Vec<Workload> = Vec::new();
        for lang in ["Rust", "C++"] {
            if let Some(program) = peer_command(&peers, lang).map(|c| c.get_program().to_owned()) {
                workloads.push((
                    lang.to_owned(),
                    Box::new(move || {
                        peer_run(
                            Command::new(&program),
                            Command::new(&program),
                            size,
                            count,
                            &[],
                            &[],
                        )
                    }),
                ));
            }
        }
        let mut rates = rates_in_turn(runs, &mut workloads);
        let mut rust_median = None;
        for lang in ["Rust", "C++"] {
            let Some(lang_runs) = rates.remove(lang) else {
                writeln!(
                    report,
                    "| {lang} → {lang} | {} | not available | | |",
                    human_size(size)
                )
                .unwrap();
                continue;
            };
            let figure = Figure {
                section: "peers",
                name: format!("{lang} → {lang}"),
                size,
                unit: "msgs/s",
                runs: lang_runs,
            };
            let ratio = match rust_median {
                None => {
                    rust_median = Some(figure.median());
                    "1.00×".to_owned()
                }
                Some(rust) => {
                    targets.push((
                        format!("C++ peer at {}: ≥ 0.9× the Rust peer", human_size(size)),
                        figure.median() / rust,
                        0.9,
                        true,
                    ));
                    format!("{:.2}×", figure.median() / rust)
                }
            };
            writeln!(
                report,
                "| {} | {} | {} | {:.2} | {ratio} |",
                figure.name,
                human_size(size),
                figure.rates(),
                gib(figure.median(), size)
            )
            .unwrap();
            figures.push(figure);
        }
    }
    writeln!(report).unwrap();
    writeln!(
        report,
        "Python consumer fed by the Rust producer (batch writes):\n"
    )
    .unwrap();
    writeln!(report, "| Python read | size | msgs/s | GiB/s |").unwrap();
    writeln!(report, "|---|---|---|---|").unwrap();
    for size in [64, 4096] {
        for (label, flag) in [
            ("copy", None),
            ("batch", Some("--batch")),
            ("zero-copy", Some("--zero-copy")),
        ] {
            let (Some(_), Some(_)) = (peer_command(&peers, "Rust"), peer_command(&peers, "Python"))
            else {
                writeln!(
                    report,
                    "| {label} | {} | not available | |",
                    human_size(size)
                )
                .unwrap();
                continue;
            };
            let count = if size == 64 { 400_000 } else { 100_000 };
            let consumer_flags: Vec<&str> = flag.into_iter().collect();
            let figure = Figure {
                section: "python",
                name: format!("Python consumer, {label}"),
                size,
                unit: "msgs/s",
                runs: (0..runs)
                    .map(|_| {
                        peer_run(
                            peer_command(&peers, "Rust").unwrap(),
                            peer_command(&peers, "Python").unwrap(),
                            size,
                            count,
                            &["--batch"],
                            &consumer_flags,
                        )
                    })
                    .collect(),
            };
            writeln!(
                report,
                "| {label} | {} | {} | {:.3} |",
                human_size(size),
                figure.rates(),
                gib(figure.median(), size)
            )
            .unwrap();
            figures.push(figure);
        }
    }
    writeln!(report).unwrap();

    // The drop-in Python consumer against a stand-in of the original's read path.
    eprintln!("python read paths...");
    writeln!(
        report,
        "Python polling loop (`if c.has_data(): c.read()`): the drop-in `shm_channel` consumer \
         against a stand-in of the original library's read path (`bench/python`), both reading \
         what the Rust producer published, in messages per CPU-second of the reader:\n"
    )
    .unwrap();
    writeln!(report, "| size | drop-in | original's read path | ratio |").unwrap();
    writeln!(report, "|---|---|---|---|").unwrap();
    for size in [64, 4096] {
        if peer_command(&peers, "Rust").is_none() || !peers.python {
            writeln!(report, "| {} | not available | | |", human_size(size)).unwrap();
            continue;
        }
        let count = if size == 64 { 200_000 } else { 20_000 };
        let mut dropin = Vec::new();
        let mut original = Vec::new();
        for _ in 0..runs {
            // Interleaved, so that both see the same drift of the machine.
            let rust = || peer_command(&peers, "Rust").unwrap();
            dropin.push(python_read_path_run(
                rust(),
                "dropin_read_path.py",
                size,
                count,
            ));
            original.push(python_read_path_run(
                rust(),
                "original_read_path.py",
                size,
                count,
            ));
        }
        let dropin = Figure {
            section: "python_dropin",
            name: "drop-in shm_channel consumer".to_owned(),
            size,
            unit: "msgs/s",
            runs: dropin,
        };
        let original = Figure {
            section: "python_dropin",
            name: "original's Python read path (stand-in)".to_owned(),
            size,
            unit: "msgs/s",
            runs: original,
        };
        writeln!(
            report,
            "| {} | {} | {} | {:.2}× |",
            human_size(size),
            dropin.rates(),
            original.rates(),
            dropin.median() / original.median()
        )
        .unwrap();
        figures.push(dropin);
        figures.push(original);
    }
    writeln!(report).unwrap();

    // 1080p frames through a ring plus a pool, beside the ring's own zero-copy calls.
    eprintln!("1080p frames through a ring plus a pool...");
    {
        let size = support::FRAME_RGBA;
        let count = support::count_for(size);
        let mut workloads: Vec<Workload> = vec![
            (
                "ring, zero-copy".into(),
                Box::new(move || rate(count, support::frames_cross_thread(false, count))),
            ),
            (
                "ring plus pool (LargeSender loan)".into(),
                Box::new(move || rate(count, support::frames_cross_thread(true, count))),
            ),
        ];
        let mut rates = rates_in_turn(runs, &mut workloads);
        let mut figure = |name: &str| Figure {
            section: "large_frames",
            name: name.to_owned(),
            size,
            unit: "msgs/s",
            runs: rates.remove(name).expect("every workload ran"),
        };
        let ring = figure("ring, zero-copy");
        let pooled = figure("ring plus pool (LargeSender loan)");
        writeln!(
            report,
            "## 1080p RGBA frames (8,294,400 B) through a ring plus a pool, cross-thread\n"
        )
        .unwrap();
        writeln!(
            report,
            "| what | frames/s | GiB/s | ratio to the ring's zero-copy |"
        )
        .unwrap();
        writeln!(report, "|---|---|---|---|").unwrap();
        for f in [&ring, &pooled] {
            writeln!(
                report,
                "| {} | {} | {:.2} | {:.2}× |",
                f.name,
                f.rates(),
                gib(f.median(), size),
                f.median() / ring.median()
            )
            .unwrap();
        }
        writeln!(report).unwrap();
        targets.push((
            "1080p RGBA frames, cross-thread, ring plus pool: ≥ 1.0× the ring's zero-copy"
                .to_owned(),
            pooled.median() / ring.median(),
            1.0,
            true,
        ));
        figures.push(ring);
        figures.push(pooled);
    }

    // Latency.
    eprintln!("latency...");
    let rounds = 100_000;
    let mut ring: Vec<Duration> = Vec::new();
    let mut raw: Vec<Duration> = Vec::new();
    for _ in 0..runs {
        ring.extend(support::ring_ping_pong(rounds));
        raw.extend(support::atomic_ping_pong(rounds));
    }
    ring.sort();
    raw.sort();
    writeln!(report, "## One-way latency\n").unwrap();
    writeln!(
        report,
        "Half of each round trip of an 8-byte ping-pong, {} round trips in all; the ring's between \
         two processes polling with the non-blocking calls, the reference on one `AtomicU32` \
         between two threads.\n",
        ring.len()
    )
    .unwrap();
    writeln!(report, "| | p50 | p99 | p99.9 |").unwrap();
    writeln!(report, "|---|---|---|---|").unwrap();
    for (label, samples) in [
        ("shm_ring, cross-process", &ring),
        ("raw AtomicU32, cross-thread", &raw),
    ] {
        writeln!(
            report,
            "| {label} | {} | {} | {} |",
            micros(percentile(samples, 0.5)),
            micros(percentile(samples, 0.99)),
            micros(percentile(samples, 0.999))
        )
        .unwrap();
    }
    let p50 = percentile(&ring, 0.5).as_secs_f64() / percentile(&raw, 0.5).as_secs_f64();
    let p99 = percentile(&ring, 0.99).as_secs_f64() / percentile(&raw, 0.99).as_secs_f64();
    writeln!(report, "| ratio | {p50:.2}× | {p99:.2}× | |\n").unwrap();
    targets.push((
        "one-way latency p50: ≤ 1.5× the raw ping-pong".into(),
        p50,
        1.5,
        false,
    ));
    targets.push((
        "one-way latency p99: ≤ 3× the raw ping-pong".into(),
        p99,
        3.0,
        false,
    ));
    for (label, samples) in [("ring", &ring), ("raw", &raw)] {
        figures.push(Figure {
            section: "latency",
            name: format!("{label} one-way p50/p99/p99.9 (µs)"),
            size: 8,
            unit: "µs",
            runs: [0.5, 0.99, 0.999]
                .iter()
                .map(|&p| percentile(samples, p).as_secs_f64() * 1e6)
                .collect(),
        });
    }

    // Waiting.
    eprintln!("waiting...");
    let mut wake = support::wake_latency(200 * runs, Duration::from_millis(2));
    wake.sort();
    // The reference is a bare futex, which only Linux has; elsewhere a blocked read polls.
    #[cfg(target_os = "linux")]
    let raw_wake = {
        let mut raw_wake = support::raw_futex_wake(200 * runs, Duration::from_millis(2));
        raw_wake.sort();
        Some(raw_wake)
    };
    #[cfg(not(target_os = "linux"))]
    let raw_wake: Option<Vec<Duration>> = None;
    let labelled = [
        ("shm_ring read", Some(&wake)),
        ("raw futex", raw_wake.as_ref()),
    ];
    for (label, samples) in labelled
        .into_iter()
        .filter_map(|(label, samples)| Some((label, samples?)))
    {
        figures.push(Figure {
            section: "waiting",
            name: format!("{label} wake-up after 2 ms idle, p50/p99 (µs)"),
            size: 0,
            unit: "µs",
            runs: [0.5, 0.99]
                .iter()
                .map(|&p| percentile(samples, p).as_secs_f64() * 1e6)
                .collect(),
        });
    }
    let idle: Vec<f64> = (0..runs.min(3))
        .map(|_| support::idle_cpu(Duration::from_secs(1)) * 100.0)
        .collect();
    let idle_figure = Figure {
        section: "waiting",
        name: "idle blocked consumer, % of a core".into(),
        size: 0,
        unit: "%",
        runs: idle,
    };
    writeln!(report, "## Waiting\n").unwrap();
    writeln!(
        report,
        "| | figure |\n|---|---|\n| wake-up of a read asleep in the kernel, after 2 ms idle, {} samples | p50 {}, p99 {} |",
        wake.len(),
        micros(percentile(&wake, 0.5)),
        micros(percentile(&wake, 0.99)),
    )
    .unwrap();
    if let Some(raw_wake) = &raw_wake {
        writeln!(
            report,
            "| reference: a bare shared `FUTEX_WAIT` woken by `FUTEX_WAKE` from the other core, same idle | p50 {}, p99 {} |\n| ratio | p50 {:.2}×, p99 {:.2}× |",
            micros(percentile(raw_wake, 0.5)),
            micros(percentile(raw_wake, 0.99)),
            percentile(&wake, 0.5).as_secs_f64() / percentile(raw_wake, 0.5).as_secs_f64(),
            percentile(&wake, 0.99).as_secs_f64() / percentile(raw_wake, 0.99).as_secs_f64(),
        )
        .unwrap();
    }
    writeln!(
        report,
        "| a blocked consumer with nothing to read, share of one core | {:.3} % [{:.3} – {:.3}] |",
        idle_figure.median(),
        idle_figure.min(),
        idle_figure.max()
    )
    .unwrap();
    targets.push((
        "wake-up of a sleeping read: p99 ≤ 50 µs".into(),
        percentile(&wake, 0.99).as_secs_f64() * 1e6,
        50.0,
        false,
    ));
    targets.push((
        "idle blocked consumer: < 1% of a core".into(),
        idle_figure.median(),
        1.0,
        false,
    ));
    figures.push(idle_figure);
    let count = 5_000_000;
    match no_wake {
        Some(no_wake) => {
            let own = std::env::current_exe().expect("own path");
            // Three times the usual number of runs, in turn: the two builds differ by a few
            // percent at most, far less than a shared machine's drift between runs.
            let (mut with, mut without) = (Vec::new(), Vec::new());
            for _ in 0..3 * runs {
                with.push(write_path_in(&own, count));
                without.push(write_path_in(&no_wake, count));
            }
            let with = Figure {
                section: "waiting",
                name: "try_write/try_read 64 B, cross-thread, with wake-up support".into(),
                size: 64,
                unit: "msgs/s",
                runs: with,
            };
            let without = Figure {
                section: "waiting",
                name: "the same, built without wake-up support".into(),
                size: 64,
                unit: "msgs/s",
                runs: without,
            };
            let ratio = with.median() / without.median();
            writeln!(
                report,
                "| non-blocking write path, 64 B: with / without wake-up support ({} runs each) | {} / {} = {ratio:.3}× |",
                with.runs.len(),
                human_rate(with.median()),
                human_rate(without.median())
            )
            .unwrap();
            targets.push((
                "write path with wake-up support: ≥ 0.9× without".into(),
                ratio,
                0.9,
                true,
            ));
            figures.extend([with, without]);
        }
        None => writeln!(
            report,
            "| non-blocking write path, 64 B | the no-wake build failed |"
        )
        .unwrap(),
    }
    writeln!(report).unwrap();

    // Targets.
    writeln!(report, "## Targets\n").unwrap();
    writeln!(report, "| target | measured | met |").unwrap();
    writeln!(report, "|---|---|---|").unwrap();
    for (what, measured, goal, higher) in &targets {
        let met = if *higher {
            measured >= goal
        } else {
            measured <= goal
        };
        writeln!(
            report,
            "| {what} | {measured:.2} | {} |",
            if met { "yes" } else { "no" }
        )
        .unwrap();
    }
    writeln!(
        report,
        "\nTotal time: {:.0} s.",
        started.elapsed().as_secs_f64()
    )
    .unwrap();
    print!("{report}");

    if let Some(path) = &args.json {
        std::fs::write(path, json(&figures)).expect("write the JSON file");
    }
    if let Some(path) = &args.plot {
        std::fs::write(path, plot(&figures)).expect("write the SVG file");
    }
}

fn json(figures: &[Figure]) -> String {
    let rows: Vec<String> = figures
        .iter()
        .map(|f| {
            format!(
                "  {{\"section\":\"{}\",\"name\":\"{}\",\"size\":{},\"unit\":\"{}\",\"median\":{},\"min\":{},\"max\":{},\"runs\":[{}]}}",
                f.section,
                f.name.replace('"', "'"),
                f.size,
                f.unit,
                f.median(),
                f.min(),
                f.max(),
                f.runs.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(",")
            )
        })
        .collect();
    format!("[\n{}\n]\n", rows.join(",\n"))
}

/// Throughput (GiB/s, linear) against message size (log scale), one line per series.
fn plot(figures: &[Figure]) -> String {
    let series: Vec<(&str, &str)> = vec![
        ("memcpy, single-thread", "#777777"),
        ("rtrb, cross-thread, per message", "#bb8800"),
        ("shm_ring, cross-thread, copy", "#1f77b4"),
        ("shm_ring, cross-thread, batch", "#17becf"),
        ("shm_ring, cross-process, copy", "#d62728"),
        ("shm_ring, cross-process, zero-copy", "#9467bd"),
        ("shm_ring, cross-process, batch", "#2ca02c"),
    ];
    let (width, height, left, bottom, top, right) = (760.0, 440.0, 60.0, 50.0, 20.0, 250.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let value = |name: &str, size: usize| {
        figures
            .iter()
            .find(|f| f.section == "throughput" && f.name == name && f.size == size)
            .map(|f| gib(f.median(), size))
    };
    let max = series
        .iter()
        .flat_map(|(name, _)| SIZES.iter().filter_map(move |&s| value(name, s)))
        .fold(1.0f64, f64::max)
        .ceil();
    let (lo, hi) = ((SIZES[0] as f64).log2(), (SIZES[3] as f64).log2());
    let x = |size: usize| left + ((size as f64).log2() - lo) / (hi - lo) * plot_w;
    let y = |gib: f64| top + plot_h - gib / max * plot_h;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for step in 0..=4 {
        let g = max * step as f64 / 4.0;
        let (right_edge, line_y, label_x, label_y) = (left + plot_w, y(g), left - 6.0, y(g) + 4.0);
        writeln!(svg, "<line x1=\"{left}\" x2=\"{right_edge}\" y1=\"{line_y:.1}\" y2=\"{line_y:.1}\" stroke=\"#dddddd\"/><text x=\"{label_x}\" y=\"{label_y:.1}\" text-anchor=\"end\">{g:.1}</text>").unwrap();
    }
    for size in SIZES {
        writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            x(size),
            top + plot_h + 18.0,
            human_size(size)
        )
        .unwrap();
    }
    writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">message size (log scale)</text>",
        left + plot_w / 2.0,
        height - 8.0
    )
    .unwrap();
    writeln!(svg, "<text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {0})\" text-anchor=\"middle\">GiB/s of payload</text>", top + plot_h / 2.0).unwrap();
    for (i, (name, colour)) in series.iter().enumerate() {
        let points: Vec<String> = SIZES
            .iter()
            .filter_map(|&s| value(name, s).map(|v| format!("{:.1},{:.1}", x(s), y(v))))
            .collect();
        writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        )
        .unwrap();
        let ly = top + 14.0 + i as f64 * 18.0;
        let lx = left + plot_w + 16.0;
        writeln!(svg, "<line x1=\"{lx}\" x2=\"{}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"2\"/><text x=\"{}\" y=\"{}\">{name}</text>", lx + 18.0, lx + 24.0, ly + 4.0).unwrap();
    }
    svg.push_str("</svg>\n");
    svg
}
