//! The bridge's throughput against Zenoh's own, measured in the same run over loopback.
//!
//! ```text
//! cargo bench -p shm_ring_bridge [-- --runs R]
//! ```
//!
//! For 64 B, 4 KiB and 1 MiB messages:
//!
//! - **bridge**: a producer thread writes ring X → `shm-ring-bridge out` → Zenoh over
//!   `tcp/127.0.0.1:P` → `shm-ring-bridge in` → ring Y → a consumer thread (four parties,
//!   three processes);
//! - **bare Zenoh**: a publisher process → Zenoh over `tcp/127.0.0.1:P` → a subscriber process,
//!   with the bridge's settings (peer mode, reliable, congestion control Block, not express,
//!   the sequence number attached), the subscriber taking each payload as a contiguous slice.
//!
//! Both rates are taken at the receiving end, from the first message to the last:
//! `(N - 1) / (t_last - t_first)`. Each configuration runs `R` times (default 5), alternating;
//! the table gives the median rate of each and the ratio of the medians, with the range of the
//! per-run ratios. Figures in docs/BRIDGE.md.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shm_ring::{ProducerOptions, ShmConsumer};
use zenoh::qos::{CongestionControl, Priority};
use zenoh::sample::SampleKind;
use zenoh::Wait;

const TIMEOUT: Duration = Duration::from_secs(120);
/// Ring capacity on both sides: room for a few 1 MiB messages.
const CAPACITY: usize = 4 << 20;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port")
        .port()
}

fn config(listen: Option<&str>, connect: Option<&str>) -> zenoh::Config {
    let list = |endpoint: Option<&str>| match endpoint {
        Some(e) => format!("[\"{e}\"]"),
        None => "[]".to_owned(),
    };
    let mut config = zenoh::Config::default();
    for (key, value) in [
        ("mode", "\"peer\"".to_owned()),
        ("listen/endpoints", list(listen)),
        ("connect/endpoints", list(connect)),
        ("scouting/multicast/enabled", "false".to_owned()),
        ("scouting/gossip/enabled", "false".to_owned()),
    ] {
        config.insert_json5(key, &value).expect("a valid setting");
    }
    config
}

/// The bare subscriber (a child process): receives `count` messages, prints
/// `<seconds from first to last>`.
fn bare_subscriber(endpoint: &str, key: &str, count: u64) {
    let session = zenoh::open(config(Some(endpoint), None))
        .wait()
        .expect("open");
    let received = Arc::new(AtomicU64::new(0));
    let times: Arc<Mutex<(Option<Instant>, Option<Instant>)>> = Arc::new(Mutex::new((None, None)));
    let done = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let (r, t, d) = (received.clone(), times.clone(), done.clone());
    let _subscriber = session
        .declare_subscriber(key)
        .callback(move |sample| {
            if sample.kind() == SampleKind::Delete {
                *d.0.lock().unwrap() = true;
                d.1.notify_all();
                return;
            }
            let payload = sample.payload().to_bytes();
            std::hint::black_box(&payload[..]);
            let now = Instant::now();
            let mut times = t.lock().unwrap();
            times.0.get_or_insert(now);
            times.1 = Some(now);
            r.fetch_add(1, Ordering::Relaxed);
        })
        .wait()
        .expect("subscribe");
    let mut finished = done.0.lock().unwrap();
    while !*finished {
        finished = done.1.wait(finished).unwrap();
    }
    drop(finished);
    let got = received.load(Ordering::Relaxed);
    assert_eq!(got, count, "the bare subscriber received {got} of {count}");
    let (first, last) = *times.lock().unwrap();
    let seconds = last.unwrap().duration_since(first.unwrap()).as_secs_f64();
    println!("{seconds}");
    drop(_subscriber);
    session.close().wait().expect("close");
}

/// The bare publisher (a child process): waits for a subscriber, publishes `count` messages
/// of `size` bytes, then the end, and waits for the subscriber to leave.
fn bare_publisher(endpoint: &str, key: &str, size: usize, count: u64) {
    let session = zenoh::open(config(None, Some(endpoint)))
        .wait()
        .expect("open");
    let publisher = session
        .declare_publisher(key)
        .congestion_control(CongestionControl::Block)
        .priority(Priority::Data)
        .express(false)
        .wait()
        .expect("publisher");
    let matching = publisher.matching_listener().wait().expect("listener");
    if !publisher
        .matching_status()
        .wait()
        .expect("status")
        .matching()
    {
        while !matching.recv().expect("status").matching() {}
    }
    let message: Vec<u8> = (0..size).map(|j| (j % 251) as u8).collect();
    for sequence in 0..count {
        // A fresh buffer per message, as `out` has (it copies each message out of the ring).
        publisher
            .put(message.clone())
            .attachment(sequence.to_le_bytes().to_vec())
            .wait()
            .expect("put");
    }
    publisher
        .delete()
        .attachment(count.to_le_bytes().to_vec())
        .wait()
        .expect("end");
    while matching.recv().expect("status").matching() {}
    drop(publisher);
    session.close().wait().expect("close");
}

fn spawn(command: &mut Command) -> Child {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start a child process")
}

fn finish(child: Child, what: &str) -> String {
    let output = child.wait_with_output().expect("wait for a child");
    assert!(output.status.success(), "{what} failed: {}", output.status);
    String::from_utf8(output.stdout).expect("text")
}

/// Messages per second of bare Zenoh.
fn bare(size: usize, count: u64) -> f64 {
    let endpoint = format!("tcp/127.0.0.1:{}", free_port());
    let key = format!("bench/bare/{}", std::process::id());
    let me = std::env::current_exe().expect("own path");
    let subscriber =
        spawn(Command::new(&me).args(["bare-sub", &endpoint, &key, &count.to_string()]));
    let publisher = spawn(Command::new(&me).args([
        "bare-pub",
        &endpoint,
        &key,
        &size.to_string(),
        &count.to_string(),
    ]));
    let seconds: f64 = finish(subscriber, "bare subscriber")
        .trim()
        .parse()
        .expect("seconds");
    finish(publisher, "bare publisher");
    (count - 1) as f64 / seconds
}

/// Messages per second of ring → bridge → ring.
fn bridged(size: usize, count: u64, run: usize) -> f64 {
    let id = std::process::id();
    let (x, y) = (
        format!("bbx-{id}-{size}-{run}"),
        format!("bby-{id}-{size}-{run}"),
    );
    let endpoint = format!("tcp/127.0.0.1:{}", free_port());
    let key = format!("bench/bridge/{id}");
    let bridge = env!("CARGO_BIN_EXE_shm-ring-bridge");
    let capacity = CAPACITY.to_string();
    let inlet = spawn(Command::new(bridge).args([
        "in",
        "--ring",
        &y,
        "--key",
        &key,
        "--listen",
        &endpoint,
        "--capacity",
        &capacity,
    ]));
    let consumer = {
        let y = y.clone();
        std::thread::spawn(move || {
            let mut consumer = ShmConsumer::open_timeout(&y, TIMEOUT).expect("open ring Y");
            let mut buffer = vec![0u8; size];
            let mut first = None;
            for _ in 0..count {
                let message = consumer.read(TIMEOUT).expect("read ring Y");
                assert_eq!(message.len(), size);
                message.into_slice(&mut buffer).expect("fits");
                first.get_or_insert_with(Instant::now);
            }
            Instant::now().duration_since(first.unwrap()).as_secs_f64()
        })
    };
    let mut producer = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&x, CAPACITY)
        .expect("create ring X");
    let outlet = spawn(Command::new(bridge).args([
        "out",
        "--ring",
        &x,
        "--key",
        &key,
        "--connect",
        &endpoint,
    ]));
    let message: Vec<u8> = (0..size).map(|j| (j % 251) as u8).collect();
    for _ in 0..count {
        producer.write(&message, TIMEOUT).expect("write ring X");
    }
    producer
        .wait_until_empty(TIMEOUT)
        .expect("out reads it all");
    drop(producer);
    let seconds = consumer.join().expect("consumer");
    finish(outlet, "bridge out");
    finish(inlet, "bridge in");
    (count - 1) as f64 / seconds
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn rate(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2} M/s", value / 1e6)
    } else {
        format!("{:.1} k/s", value / 1e3)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bare-sub") => {
            return bare_subscriber(&args[1], &args[2], args[3].parse().expect("count"));
        }
        Some("bare-pub") => {
            return bare_publisher(
                &args[1],
                &args[2],
                args[3].parse().expect("size"),
                args[4].parse().expect("count"),
            );
        }
        _ => {}
    }
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .map_or(5, |r| r.parse().expect("--runs N"));
    println!("| size | messages | bare Zenoh | bridge (ring → out → in → ring) | bridge / bare (range of runs) | bridge MB/s |");
    println!("|---|---|---|---|---|---|");
    for (size, count) in [(64usize, 1_000_000u64), (4096, 200_000), (1 << 20, 1000)] {
        let (mut bare_rates, mut bridge_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..runs {
            let b = bare(size, count);
            let r = bridged(size, count, run);
            bare_rates.push(b);
            bridge_rates.push(r);
            ratios.push(r / b);
        }
        let (b, r) = (median(&mut bare_rates), median(&mut bridge_rates));
        ratios.sort_by(f64::total_cmp);
        println!(
            "| {size} B | {count} | {} | {} | {:.2} ({:.2}–{:.2}) | {:.0} |",
            rate(b),
            rate(r),
            r / b,
            ratios[0],
            ratios[ratios.len() - 1],
            r * size as f64 / 1e6
        );
    }
}
