//! The `shm-ring` binary run as a process, against segments made by the Rust, Python and C++
//! peers, by hand in the original layout, and by hostile writers.

// The tool is run against Python and C++ peers and by hand on /dev/shm: Linux's. Under Wine
// there is no python3 or C++ compiler.
#![cfg(not(windows))]
// Some cases need Linux and say so with a cfg; what only they use is unused elsewhere.
#![cfg_attr(not(target_os = "linux"), allow(unused_imports, dead_code))]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use shm_ring::{PeerState, ShmProducer};
use support::peers::{run_pair, Lang, Order};
use support::process::{output_text, wait_until, Running, HANG_GUARD};
use support::raw::Raw;
use support::segment::{exists, unique_name, Removes};
use support::stream::stream_message;

fn shm_ring() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("shm-ring"))
}

fn run(args: &[&str]) -> Output {
    shm_ring().args(args).output().expect("run shm-ring")
}

fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = shm_ring()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shm-ring");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn ok(output: Output) -> Output {
    assert!(output.status.success(), "{}", output_text(&output));
    output
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", output_text(output)))
}

const SIZE: usize = 100;

/// A peer producer of `lang` writes 3 messages and waits for them to be read: `inspect`
/// reports their sizes without taking them, `rm` refuses the live producer's segment, and
/// `recv` then reads all 3 intact (the peer checks that its consumer read everything).
// Liveness is told by open-file-description locks, which only Linux has.
#[cfg(target_os = "linux")]
fn peer_producer_is_inspected_refused_and_drained(lang: Lang) {
    let name = unique_name("cli-pp");
    let _removes = Removes(name.clone());
    let mut command = lang.peer();
    command.args(["producer", "--name", &name, "--count", "3", "--size"]);
    command.args([SIZE.to_string(), "--capacity".into(), "4096".into()]);
    let mut producer = Running::start(format!("{lang:?} producer"), command);
    wait_until("3 messages waiting", HANG_GUARD, || {
        assert!(
            producer.poll().is_none(),
            "the {lang:?} producer ended early"
        );
        shm_ring::inspect(&name).is_ok_and(|i| i.messages.is_some_and(|m| m.count == 3))
    });

    let info = json(&ok(run(&["inspect", &name, "--json"])));
    assert_eq!(
        info["messages"]["sizes"],
        serde_json::json!([SIZE, SIZE, SIZE])
    );
    assert_eq!(info["producer"], "alive");
    assert_eq!(info["verdict"], "valid");
    assert_eq!(info["kind"], "extended ring");
    let text = ok(run(&["inspect", &name]));
    assert!(String::from_utf8_lossy(&text.stdout).contains("message sizes     100 100 100"));

    let refused = run(&["rm", &name]);
    assert_eq!(refused.status.code(), Some(1), "{}", output_text(&refused));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("in use by a live producer"));
    assert!(exists(&name));

    let received = ok(run(&[
        "recv",
        &name,
        "--count",
        "3",
        "--hex",
        "--timeout",
        "60",
    ]));
    let lines: Vec<String> = String::from_utf8(received.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let expected: Vec<String> = (0..3)
        .map(|i| {
            stream_message(i, SIZE)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .collect();
    assert_eq!(lines, expected);
    let done = producer.finish(HANG_GUARD);
    assert!(done.status.success(), "{}", output_text(&done));
}

// See peer_producer_is_inspected_refused_and_drained.
#[cfg(target_os = "linux")]
#[test]
fn rust_peer_producer() {
    peer_producer_is_inspected_refused_and_drained(Lang::Rust);
}

// See peer_producer_is_inspected_refused_and_drained.
#[cfg(target_os = "linux")]
#[test]
fn python_peer_producer() {
    peer_producer_is_inspected_refused_and_drained(Lang::Python);
}

// See peer_producer_is_inspected_refused_and_drained.
#[cfg(target_os = "linux")]
#[test]
fn cpp_peer_producer() {
    peer_producer_is_inspected_refused_and_drained(Lang::Cpp);
}

/// `send --create --unlink` feeds a peer consumer of `lang` 3 messages of the conformance
/// stream, waits until it has read them and removes the ring.
fn send_feeds_a_peer_consumer(lang: Lang) {
    let name = unique_name("cli-pc");
    let _removes = Removes(name.clone());
    let dir = support::tools::target_tmpdir().join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut send = shm_ring();
    send.args(["send", &name, "--create", "--capacity", "4096", "--unlink"]);
    send.args(["--timeout", "120"]);
    for i in 0..3 {
        let file = dir.join(format!("m{i}"));
        std::fs::write(&file, stream_message(i, SIZE)).unwrap();
        send.arg("--file").arg(file);
    }
    let mut consumer = lang.peer();
    consumer.args(["consumer", "--name", &name, "--count", "3", "--size"]);
    consumer.arg(SIZE.to_string());
    let (sent, read) = run_pair(&name, send, consumer, Order::ConsumerFirst);
    assert!(sent.status.success(), "{}", output_text(&sent));
    assert!(read.status.success(), "{}", output_text(&read));
    assert!(!exists(&name), "send --unlink left the ring");
}

#[test]
fn send_to_rust_peer() {
    send_feeds_a_peer_consumer(Lang::Rust);
}

#[test]
fn send_to_python_peer() {
    send_feeds_a_peer_consumer(Lang::Python);
}

#[test]
fn send_to_cpp_peer() {
    send_feeds_a_peer_consumer(Lang::Cpp);
}

#[test]
fn send_and_recv_round_trip_binary_data_larger_than_the_ring() {
    let name = unique_name("cli-bin");
    let _removes = Removes(name.clone());
    // Every byte value, 40 KiB: one message of at most capacity - 4 bytes per send run.
    let data: Vec<u8> = (0..4000u32).map(|i| (i * 131 % 256) as u8).collect();
    let mut recv = shm_ring();
    recv.args(["recv", &name, "--count", "10", "--timeout", "120"]);
    let receiver = Running::start("recv", recv);
    // Ten messages through a 4 KiB ring: send waits while it is full.
    let dir = support::tools::target_tmpdir().join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("data");
    std::fs::write(&file, &data).unwrap();
    let mut args = vec!["send", &name, "--create", "--capacity", "4096"];
    let file = file.to_str().unwrap();
    for _ in 0..10 {
        args.extend(["--file", file]);
    }
    ok(run(&args));
    let received = receiver.finish(HANG_GUARD);
    assert!(received.status.success(), "{}", output_text(&received));
    assert_eq!(received.stdout, data.repeat(10));
}

#[test]
fn send_and_recv_round_trip_lines() {
    let name = unique_name("cli-lines");
    let _removes = Removes(name.clone());
    let sent = run_with_stdin(
        &["send", &name, "--create", "--capacity", "4096", "--lines"],
        b"first\nsecond line\n\nthird",
    );
    assert!(sent.status.success(), "{}", output_text(&sent));
    assert!(String::from_utf8_lossy(&sent.stderr).contains("skipped empty line 3"));
    let info = shm_ring::inspect(&name).unwrap();
    assert_eq!(info.messages.unwrap().sizes, [5, 11, 5]);
    let received = ok(run(&["recv", &name, "--lines"]));
    assert_eq!(received.stdout, b"first\nsecond line\nthird\n");
    // Nothing left: a plain recv reads what is waiting and stops.
    assert_eq!(ok(run(&["recv", &name])).stdout, b"");
    // The whole input as one message by default.
    let sent = run_with_stdin(&["send", &name, "--create", "--capacity", "64"], b"a\nb\n");
    assert!(sent.status.success(), "{}", output_text(&sent));
    assert_eq!(ok(run(&["recv", &name])).stdout, b"a\nb\n");
}

#[test]
fn send_without_create_writes_on_after_what_the_ring_holds() {
    let name = unique_name("cli-sendon");
    let _removes = Removes(name.clone());
    ok(run_with_stdin(
        &["send", &name, "--create", "--capacity", "4096", "--lines"],
        b"one\ntwo\n",
    ));
    // The creating `send` has ended: its ring is written on, and nothing waiting is lost.
    ok(run_with_stdin(&["send", &name, "--lines"], b"three\n"));
    let received = ok(run(&["recv", &name, "--lines"]));
    assert_eq!(received.stdout, b"one\ntwo\nthree\n");
    // A live producer's ring is refused, naming the segment.
    let producer = ShmProducer::create(&name, 4096).unwrap();
    let refused = run_with_stdin(&["send", &name], b"four");
    assert_eq!(refused.status.code(), Some(1), "{}", output_text(&refused));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains(&name) && said.contains("in use"), "{said}");
    drop(producer);
}

// Only Linux lists its shared memory, in /dev/shm.
#[cfg(target_os = "linux")]
#[test]
fn a_hand_made_ring_of_the_original_layout_is_listed_inspected_and_read() {
    let name = unique_name("cli-orig");
    let raw = Raw::create_ring(&name, 256, 1000);
    let mut head = 1000;
    for payload in [&b"one"[..], b"two!", b"three"] {
        head = raw.push_record(256, head, payload);
    }
    let info = json(&ok(run(&["inspect", &name, "--json"])));
    assert_eq!(info["kind"], "original ring");
    assert_eq!(info["messages"]["sizes"], serde_json::json!([3, 4, 5]));
    assert_eq!(info["producer"], "unknown");
    assert_eq!(raw.word(4), 1000, "inspect moved tail");
    let listed = json(&ok(run(&["list", "--json"])));
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name.as_str())
        .expect("listed");
    assert_eq!(entry["kind"], "original ring");
    // Its owners cannot be told, so gc leaves it.
    let gc = json(&ok(run(&["gc", "--dry-run", "--json"])));
    assert!(!gc.as_array().unwrap().contains(&Value::from(name.as_str())));
    let received = ok(run(&["recv", &name, "--lines"]));
    assert_eq!(received.stdout, b"one\ntwo!\nthree\n");
    assert_eq!(raw.word(4), head);
}

// Only Linux lists its shared memory (in /dev/shm) and has liveness locks.
#[cfg(target_os = "linux")]
#[test]
fn list_json_holds_every_field() {
    let name = unique_name("cli-list");
    let _removes = Removes(name.clone());
    let mut producer = shm_ring::ProducerOptions::new()
        .mode(0o640)
        .create(&name, 4096)
        .unwrap();
    producer.try_write(b"12345").unwrap();
    let listed = json(&ok(run(&["list", "--json"])));
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name.as_str())
        .expect("listed")
        .clone();
    for field in [
        "name",
        "kind",
        "size",
        "capacity",
        "bytes_in_use",
        "producer",
        "consumer",
        "mode",
        "uid",
        "owner",
        "verdict",
    ] {
        assert!(entry.get(field).is_some(), "no {field} in {entry}");
    }
    assert_eq!(entry["kind"], "extended ring");
    assert_eq!(entry["size"], 4224);
    assert_eq!(entry["capacity"], 4096);
    assert_eq!(entry["bytes_in_use"], 9);
    assert_eq!(entry["producer"], "alive");
    assert_eq!(entry["consumer"], "unknown");
    assert_eq!(entry["mode"], "0640");
    let table = String::from_utf8(ok(run(&["list"])).stdout).unwrap();
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("NAME") && header.contains("PRODUCER"),
        "{table}"
    );
    let row = table.lines().find(|l| l.starts_with(&name)).expect("a row");
    // Aligned: each column starts where its header does.
    let column = header.find("PRODUCER").unwrap();
    assert_eq!(&row[column..column + 5], "alive", "{table}");
    drop(producer);
}

// Only Linux lists its shared memory (in /dev/shm) and has liveness locks.
#[cfg(target_os = "linux")]
#[test]
fn gc_dry_run_lists_a_dead_owners_segment_and_not_a_live_one() {
    let dead = unique_name("cli-dead");
    let live = unique_name("cli-live");
    let _removes = (Removes(dead.clone()), Removes(live.clone()));
    drop(ShmProducer::create(&dead, 4096).unwrap());
    let producer = ShmProducer::create(&live, 4096).unwrap();
    assert_eq!(shm_ring::inspect(&dead).unwrap().producer, PeerState::Gone);
    let listed = json(&ok(run(&["gc", "--dry-run", "--json"])));
    let names = listed.as_array().unwrap();
    assert!(names.contains(&Value::from(dead.as_str())), "{listed}");
    assert!(!names.contains(&Value::from(live.as_str())), "{listed}");
    let text = String::from_utf8(ok(run(&["gc", "--dry-run"])).stdout).unwrap();
    assert!(
        text.lines().any(|l| l == format!("would remove {dead}")),
        "{text}"
    );
    assert!(
        exists(&dead) && exists(&live),
        "--dry-run removed something"
    );
    drop(producer);
}

// Liveness is told by open-file-description locks, which only Linux has.
#[cfg(target_os = "linux")]
#[test]
fn rm_removes_dead_segments_and_force_removes_live_ones() {
    let name = unique_name("cli-rm");
    let _removes = Removes(name.clone());
    let producer = ShmProducer::create(&name, 4096).unwrap();
    assert_eq!(run(&["rm", &name]).status.code(), Some(1));
    ok(run(&["rm", "--force", &name]));
    assert!(!exists(&name));
    drop(producer);
    drop(ShmProducer::create(&name, 4096).unwrap());
    let removed = ok(run(&["rm", &name]));
    assert_eq!(removed.stdout, format!("removed {name}\n").as_bytes());
    let missing = run(&["rm", &name]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains(&name));
}

/// The hostile headers and records of the library's tests: each gives a verdict line and
/// exit 0 from `inspect`, and `list` and `recv` do not panic on them.
// Only Linux lists its shared memory, in /dev/shm.
#[cfg(target_os = "linux")]
#[test]
fn hostile_segments_give_a_verdict_line_never_a_panic() {
    let name = &unique_name("cli-hostile");
    let ring = |set: &dyn Fn(&Raw)| {
        let raw = Raw::create_ring(name, 64, 0);
        set(&raw);
        raw
    };
    let sized = |size: u64, capacity: u32| {
        let raw = Raw::create(name, size);
        raw.set_word(8, capacity);
        raw
    };
    // Made one at a time: each replaces the previous segment of the name.
    type Make<'a> = Box<dyn Fn() -> Raw + 'a>;
    let cases: Vec<(Make, &str)> = vec![
        (Box::new(|| Raw::create(name, 0)), "not ready"),
        (
            Box::new(|| Raw::create(name, 7)),
            "smaller than the 16-byte header",
        ),
        (
            Box::new(|| sized(64, 100)),
            "capacity 100 is not a power of two",
        ),
        (Box::new(|| sized(64, 1 << 31)), "capacity 2147483648 needs"),
        (Box::new(|| ring(&|r| r.set_word(12, 7))), "reserved word"),
        (
            Box::new(|| ring(&|r| r.set_word(0, 1000))),
            "more than capacity 64",
        ),
        (
            Box::new(|| {
                ring(&|r| {
                    r.put(64, 0, &9999u32.to_le_bytes());
                    r.set_word(0, 8);
                })
            }),
            "claims 9999 payload bytes",
        ),
        (
            Box::new(|| {
                ring(&|r| {
                    r.put(64, 0, &50u32.to_le_bytes());
                    r.set_word(0, 8);
                })
            }),
            "but only 8 bytes",
        ),
        (
            Box::new(|| ring(&|r| r.set_word(0, 2))),
            "fewer than a 4-byte length prefix",
        ),
    ];
    for (make, expected) in cases {
        let raw = make();
        let out = run(&["inspect", name]);
        assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        let verdict = text
            .lines()
            .find(|l| l.starts_with("verdict"))
            .expect("a verdict line");
        assert!(
            verdict.contains(expected),
            "{expected:?} not in {verdict:?}"
        );
        let listed = run(&["list", "--all", "--json"]);
        assert_eq!(listed.status.code(), Some(0), "{}", output_text(&listed));
        let received = run(&["recv", name]);
        assert!(
            matches!(received.status.code(), Some(0 | 1)),
            "{}",
            output_text(&received)
        );
        assert!(!String::from_utf8_lossy(&received.stderr).contains("panicked"));
        drop(raw);
    }
}

#[test]
fn usage_errors_exit_2_and_help_and_completions_exit_0() {
    assert_eq!(run(&["no-such-command"]).status.code(), Some(2));
    assert_eq!(run(&["recv"]).status.code(), Some(2));
    assert_eq!(
        run(&["send", "x", "--capacity", "64"]).status.code(),
        Some(2)
    );
    assert_eq!(
        run(&["recv", "x", "--timeout", "soon"]).status.code(),
        Some(2)
    );
    let help = String::from_utf8(ok(run(&["--help"])).stdout).unwrap();
    for command in [
        "list",
        "inspect",
        "send",
        "recv",
        "rm",
        "gc",
        "bench",
        "completions",
    ] {
        assert!(help.contains(command), "{command} missing from --help");
    }
    assert!(!help.contains("bench-child"));
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(run(&["completions", shell]));
        assert!(String::from_utf8_lossy(&script.stdout).contains("shm-ring"));
    }
    let missing = run(&["inspect", "cli-no-such-segment"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cli-no-such-segment"));
}

// Looks for leftovers in /dev/shm, where only Linux keeps shared memory.
#[cfg(target_os = "linux")]
#[test]
fn bench_json_reports_throughput_and_latency_and_leaves_no_segment() {
    let out = ok(run(&[
        "bench", "--sizes", "64,4096", "--count", "2000", "--rounds", "200", "--json",
    ]));
    let report = json(&out);
    let rows = report["throughput"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert!(row["msgs_per_sec"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row["gib_per_sec"].as_f64().unwrap() > 0.0, "{row}");
    }
    assert!(report["latency"]["p50_us"].as_f64().unwrap() > 0.0);
    let left = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .any(|n| n.starts_with("shm-ring-bench-"));
    assert!(!left, "bench left a segment behind");
}

#[test]
fn recv_waits_with_a_timeout_and_says_so() {
    let name = unique_name("cli-wait");
    let _removes = Removes(name.clone());
    let producer = ShmProducer::create(&name, 4096).unwrap();
    let out = run(&["recv", &name, "--count", "1", "--timeout", "50ms"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("timed out"),
        "{}",
        output_text(&out)
    );
    drop(producer);
}

/// Sends SIGINT (what Ctrl-C sends) to process `pid`.
fn interrupt(pid: u32) {
    let sent = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -INT {pid} failed");
}

#[test]
fn ctrl_c_stops_recv_cleanly_and_loses_nothing() {
    use std::io::{BufRead, BufReader};
    let name = unique_name("cli-intrecv");
    let _removes = Removes(name.clone());
    let mut producer = ShmProducer::create(&name, 4096).unwrap();
    let mut recv = shm_ring()
        .args(["recv", &name, "--follow", "--lines"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shm-ring recv");
    producer.try_write(b"one").unwrap();
    producer.try_write(b"two").unwrap();
    let mut lines = BufReader::new(recv.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "one");
    assert_eq!(lines.next().unwrap().unwrap(), "two");
    interrupt(recv.id());
    let status = recv.wait().unwrap();
    assert!(
        status.success(),
        "recv --follow ends with 0 on Ctrl-C: {status}"
    );
    // The consumer role is free again, nothing it read is delivered twice, and the ring
    // carries on.
    producer.try_write(b"three").unwrap();
    let mut next = shm_ring::ShmConsumer::open(&name).expect("the consumer role is free");
    assert_eq!(next.try_read().unwrap().into_vec(), b"three");
    assert!(exists(&name), "recv never removes a segment");
}

/// Starts `shm-ring send NAME ARGS...` and returns once it has written one 40-byte message
/// into the ring `name` and is waiting for room for the next.
fn send_until_it_waits(name: &str, args: &[&str]) -> std::process::Child {
    let send = shm_ring()
        .args(["send", name])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shm-ring send");
    wait_until("send to fill the ring", HANG_GUARD, || {
        shm_ring::inspect(name)
            .ok()
            .and_then(|info| info.messages)
            .is_some_and(|messages| messages.sizes == [40])
    });
    send
}

#[test]
fn ctrl_c_stops_send_and_removes_only_what_it_created() {
    let name = unique_name("cli-intsend");
    let _removes = Removes(name.clone());
    let dir = support::tools::target_tmpdir().join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("data");
    std::fs::write(&file, [7u8; 40]).unwrap();
    let file = file.to_str().unwrap();
    // Two 40-byte messages cannot both fit a 64-byte ring, and nobody reads: send waits.
    let send = send_until_it_waits(
        &name,
        &[
            "--create",
            "--capacity",
            "64",
            "--unlink",
            "--file",
            file,
            "--file",
            file,
        ],
    );
    interrupt(send.id());
    let out = send.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    assert!(
        !exists(&name),
        "send --create --unlink removes the ring it made"
    );

    // A ring it did not create stays, with what was written.
    let _owner = ShmProducer::create(&name, 64).unwrap();
    drop(_owner);
    let send = send_until_it_waits(&name, &["--file", file, "--file", file]);
    interrupt(send.id());
    let out = send.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(exists(&name), "a ring send did not create is never removed");
    let mut consumer = shm_ring::ShmConsumer::open(&name).unwrap();
    assert_eq!(consumer.try_read().unwrap().into_vec(), [7u8; 40]);
}

#[test]
fn ctrl_c_stops_bench_and_leaves_none_of_its_segments() {
    let bench = shm_ring()
        .args([
            "bench",
            "--sizes",
            "64",
            "--count",
            "1000000000",
            "--rounds",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shm-ring bench");
    let prefix = format!("shm-ring-bench-{}-", bench.id());
    let ours = |prefix: &str| -> Vec<String> {
        std::fs::read_dir("/dev/shm")
            .unwrap()
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.starts_with(prefix))
            .collect()
    };
    wait_until("bench to make its ring", HANG_GUARD, || {
        !ours(&prefix).is_empty()
    });
    interrupt(bench.id());
    let out = bench.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    assert_eq!(
        ours(&prefix),
        Vec::<String>::new(),
        "bench removes what it made"
    );
}

/// A child role of this test binary: creates the shared buffer `SHM_CLI_CHILD_BUFFER` and the
/// buffer pool `SHM_CLI_CHILD_POOL` and ends without running a destructor, as a crash would:
/// both segments stay, their owner gone.
#[test]
#[ignore = "a child process of the gc test; run by it"]
fn child_leaves_a_buffer_and_a_pool() {
    let buffer = std::env::var("SHM_CLI_CHILD_BUFFER").unwrap();
    let pool = std::env::var("SHM_CLI_CHILD_POOL").unwrap();
    let mut buffer = shm_ring::SharedBuffer::create(&buffer, 100).unwrap();
    buffer.write(b"left behind").unwrap();
    let pool = shm_ring::BufferPool::create(&pool, 2, 64).unwrap();
    std::mem::forget((buffer, pool));
    std::process::exit(0);
}

// Only Linux lists its shared memory (in /dev/shm) and has liveness locks.
#[cfg(target_os = "linux")]
#[test]
fn gc_removes_dead_owners_rings_buffers_and_pools_under_a_prefix_and_nothing_else() {
    let prefix = unique_name("cli-gc");
    let name = |what: &str| format!("{prefix}-{what}");
    let _removes: Vec<Removes> = ["ring-dead", "ring-live", "buf-dead", "buf-live"]
        .iter()
        .chain(&["pool-dead", "pool-live"])
        .map(|what| Removes(name(what)))
        .collect();
    drop(ShmProducer::create(&name("ring-dead"), 4096).unwrap());
    let ring = ShmProducer::create(&name("ring-live"), 4096).unwrap();
    let mut buffer = shm_ring::SharedBuffer::create(&name("buf-live"), 1000).unwrap();
    buffer.write(b"12345").unwrap();
    let pool = shm_ring::BufferPool::create(&name("pool-live"), 4, 256).unwrap();
    let loan = pool.try_acquire().unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_leaves_a_buffer_and_a_pool",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env("SHM_CLI_CHILD_BUFFER", name("buf-dead"))
        .env("SHM_CLI_CHILD_POOL", name("pool-dead"))
        .output()
        .unwrap();
    assert!(child.status.success(), "{}", output_text(&child));
    assert!(exists(&name("buf-dead")) && exists(&name("pool-dead")));

    let dead = serde_json::json!([name("buf-dead"), name("pool-dead"), name("ring-dead")]);
    let listed = json(&ok(run(&[
        "gc",
        "--dry-run",
        "--json",
        "--prefix",
        &prefix,
    ])));
    assert_eq!(listed, dead);
    assert!(exists(&name("buf-dead")), "--dry-run removed something");

    // The live ones are listed and inspected with their own figures.
    let all = json(&ok(run(&["list", "--json"])));
    let entry = |what: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name(what).as_str())
            .unwrap_or_else(|| panic!("{what} not listed: {all}"))
            .clone()
    };
    let listed_buffer = entry("buf-live");
    assert_eq!(listed_buffer["kind"], "shared buffer");
    assert_eq!(listed_buffer["capacity"], 1000);
    assert_eq!(listed_buffer["bytes_in_use"], 5);
    assert_eq!(listed_buffer["producer"], "alive");
    assert_eq!(listed_buffer["buffer"]["writer"], "alive");
    let listed_pool = entry("pool-live");
    assert_eq!(listed_pool["kind"], "buffer pool");
    assert_eq!(listed_pool["pool"]["slot_count"], 4);
    assert_eq!(listed_pool["pool"]["slot_size"], 256);
    assert_eq!(listed_pool["pool"]["available"], 3);
    assert_eq!(listed_pool["pool"]["holders"], "alive");
    assert_eq!(entry("pool-dead")["producer"], "gone");
    let table = String::from_utf8(ok(run(&["ls"])).stdout).unwrap();
    let row = table
        .lines()
        .find(|l| l.starts_with(&name("pool-live")))
        .expect("a row");
    assert!(
        row.contains("4x256") && row.contains("1/4 slots"),
        "{table}"
    );
    let inspected = json(&ok(run(&["inspect", &name("buf-dead"), "--json"])));
    assert_eq!(inspected["kind"], "shared buffer");
    assert_eq!(inspected["buffer"]["data_len"], 11);
    assert_eq!(inspected["buffer"]["writer"], "gone");
    let text = String::from_utf8(ok(run(&["inspect", &name("pool-live")])).stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("available") && l.ends_with(" 3")),
        "{text}"
    );

    let removed = String::from_utf8(ok(run(&["gc", "--prefix", &prefix])).stdout).unwrap();
    let expected: Vec<String> = dead
        .as_array()
        .unwrap()
        .iter()
        .map(|n| format!("removed {}", n.as_str().unwrap()))
        .collect();
    assert_eq!(removed.lines().collect::<Vec<_>>(), expected);
    for what in ["ring-dead", "buf-dead", "pool-dead"] {
        assert!(!exists(&name(what)), "{what} was not removed");
    }
    for what in ["ring-live", "buf-live", "pool-live"] {
        assert!(exists(&name(what)), "{what} was removed");
    }
    assert_eq!(
        json(&ok(run(&["gc", "--json", "--prefix", &prefix]))),
        serde_json::json!([])
    );
    drop((loan, ring));
}
