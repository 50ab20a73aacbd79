//! `shm-ring-bridge` end to end, over loopback only (`127.0.0.1`, ports picked free at run
//! time): the conformance peers on both sides, a stalled far side, a late subscriber, the
//! sockets the bridge opens, and a Python subscriber using `eclipse-zenoh` directly.

use std::collections::HashSet;
use std::net::TcpListener;
use std::process::{Command, Output};

use serde_json::Value;
use support::peers::{peer_failure, peer_report, rust_peer, RUN_LIMIT};
use support::process::{output_text, wait_until, Running, HANG_GUARD};
use support::segment::{exists, unique_name, Removes};
use support::stream::{stream_bytes, stream_len, stream_message};
use zenoh::Wait;

/// A TCP port of 127.0.0.1 that nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port of 127.0.0.1")
        .port()
}

fn endpoint(port: u16) -> String {
    format!("tcp/127.0.0.1:{port}")
}

/// `shm-ring-bridge` with `args`.
fn bridge(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shm-ring-bridge"));
    command.args(args);
    command
}

/// The Rust conformance peer with `args`.
fn peer(args: &[&str]) -> Command {
    let mut command = Command::new(rust_peer());
    command.args(args);
    command
}

/// Checks that a bridge succeeded, said nothing on stderr and printed exactly the contract's
/// line `{"role":R,"messages":N,"bytes":B,"seconds":S}` (compact, keys in that order, `S` to 6
/// decimals). Returns `(messages, bytes)`.
fn bridge_report(what: &str, role: &str, output: &Output) -> (u64, u64) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "{what} failed ({}): {}",
        output.status,
        output_text(output)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{what} must print one line: {stdout:?}");
    let report: Value = serde_json::from_str(lines[0])
        .unwrap_or_else(|e| panic!("{what}: not a JSON line ({e}): {}", lines[0]));
    let number = |key: &str| {
        report[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{what}: no whole number {key:?} in {}", lines[0]))
    };
    let (messages, bytes) = (number("messages"), number("bytes"));
    let seconds = report["seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: no \"seconds\" in {}", lines[0]));
    assert_eq!(
        lines[0],
        format!(
            "{{\"role\":\"{role}\",\"messages\":{messages},\"bytes\":{bytes},\"seconds\":{seconds:.6}}}"
        ),
        "{what}: not the contract's line"
    );
    (messages, bytes)
}

/// Socket inodes of process `pid` (its `/proc/<pid>/fd` links `socket:[N]`).
fn socket_inodes(pid: u32) -> HashSet<String> {
    // None when the process has exited: the caller checks for that.
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    fds.filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect()
}

/// One socket of `/proc/<pid>/net/{tcp,tcp6,udp,udp6}`.
#[derive(Debug)]
struct Socket {
    /// `tcp`, `tcp6`, `udp` or `udp6`.
    table: &'static str,
    /// The local address as the kernel writes it: hex address, `:`, hex port.
    local: String,
    /// The kernel's state number in hex (`0A` is listening).
    state: String,
}

/// The sockets of process `pid`, of the Internet families (the tables of its network
/// namespace, kept to the sockets the process holds).
fn sockets(pid: u32) -> Vec<Socket> {
    let mine = socket_inodes(pid);
    let mut found = Vec::new();
    for table in ["tcp", "tcp6", "udp", "udp6"] {
        // Gone when the process has exited: the caller checks for that.
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() > 9 && mine.contains(fields[9]) {
                found.push(Socket {
                    table,
                    local: fields[1].to_owned(),
                    state: fields[3].to_owned(),
                });
            }
        }
    }
    found
}

/// `127.0.0.1:port` as `/proc/net/tcp` writes it.
fn loopback(port: u16) -> String {
    format!("0100007F:{port:04X}")
}

/// Whether anything on this machine listens on TCP `127.0.0.1:port`.
fn listening(port: u16) -> bool {
    let text = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    text.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.len() > 3 && fields[1] == loopback(port) && fields[3] == "0A"
    })
}

/// Signals process `pid` with `signal` (`STOP` or `CONT`).
fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// A Zenoh session of the test itself, connected to `port` only.
fn test_session(port: u16) -> zenoh::Session {
    let mut config = zenoh::Config::default();
    for (key, value) in [
        ("mode", "\"peer\"".to_owned()),
        ("listen/endpoints", "[]".to_owned()),
        ("connect/endpoints", format!("[\"{}\"]", endpoint(port))),
        ("scouting/multicast/enabled", "false".to_owned()),
        ("scouting/gossip/enabled", "false".to_owned()),
    ] {
        config.insert_json5(key, &value).expect("a valid setting");
    }
    zenoh::open(config).wait().expect("open the test's session")
}

/// Waits until a publisher of `out` on `key` has declared itself (its liveliness token), seen
/// from a session of the test connected to `port`.
fn wait_for_publisher(port: u16, key: &str) {
    let session = test_session(port);
    wait_until("the bridge's publisher", HANG_GUARD, || {
        let replies = session
            .liveliness()
            .get(key)
            .wait()
            .expect("ask for liveliness tokens");
        replies.recv().is_ok()
    });
    session.close().wait().expect("close the test's session");
}

#[test]
fn four_processes_carry_100000_messages_of_1_to_4096_bytes_each_verified() {
    let (x, y) = (unique_name("bx"), unique_name("by"));
    let _cleanup = (Removes(x.clone()), Removes(y.clone()));
    let key = format!("test/{x}");
    let port = free_port();
    let count = "100000";
    let sizes = ["--min-size", "1", "--max-size", "4096"];
    let inlet = Running::start(
        "bridge in",
        bridge(&[
            "in",
            "--ring",
            &y,
            "--key",
            &key,
            "--listen",
            &endpoint(port),
        ]),
    );
    let consumer = Running::start(
        "peer consumer",
        peer(&[&["consumer", "--name", &y, "--count", count][..], &sizes].concat()),
    );
    let producer = Running::start(
        "peer producer",
        peer(&[&["producer", "--name", &x, "--count", count][..], &sizes].concat()),
    );
    wait_until("the producer's ring", HANG_GUARD, || exists(&x));
    let outlet = Running::start(
        "bridge out",
        bridge(&[
            "out",
            "--ring",
            &x,
            "--key",
            &key,
            "--connect",
            &endpoint(port),
        ]),
    );
    let bytes = stream_bytes(100_000, 1, 4096);
    for (output, what) in [
        (producer.finish(RUN_LIMIT), "producer"),
        (consumer.finish(RUN_LIMIT), "consumer"),
    ] {
        let report = peer_report(what, &output);
        assert_eq!((report.messages, report.bytes), (100_000, bytes), "{what}");
    }
    let out = outlet.finish(RUN_LIMIT);
    assert_eq!(
        bridge_report("bridge out", "bridge-out", &out),
        (100_000, bytes)
    );
    let inn = inlet.finish(RUN_LIMIT);
    assert_eq!(
        bridge_report("bridge in", "bridge-in", &inn),
        (100_000, bytes)
    );
    assert!(!exists(&y), "bridge in must remove its ring when done");
}

/// The far consumer stops reading; the far ring fills, the link backs up, and `out`'s
/// publication waits longer than its `wait_before_close`: Zenoh closes the link, and what was
/// queued on it is lost. `in` must say which message is the first missing one, and the far
/// consumer must have received exactly the messages before it.
#[test]
fn a_stalled_far_side_is_reported_with_the_first_missing_message() {
    let (x, y) = (unique_name("bx"), unique_name("by"));
    let _cleanup = (Removes(x.clone()), Removes(y.clone()));
    let key = format!("test/{x}");
    let port = free_port();
    let count = "1000000";
    let sizes = ["--size", "1000"];
    let inlet = Running::start(
        "bridge in",
        bridge(&[
            "in",
            "--ring",
            &y,
            "--key",
            &key,
            "--listen",
            &endpoint(port),
            "--capacity",
            "65536",
            "--lease-ms",
            "500",
        ]),
    );
    let consumer = Running::start(
        "peer consumer",
        peer(&[&["consumer", "--name", &y, "--count", count][..], &sizes].concat()),
    );
    let producer = Running::start(
        "peer producer",
        peer(&[&["producer", "--name", &x, "--count", count][..], &sizes].concat()),
    );
    wait_until("the producer's ring", HANG_GUARD, || exists(&x));
    let mut outlet = Running::start(
        "bridge out",
        bridge(&[
            "out",
            "--ring",
            &x,
            "--key",
            &key,
            "--connect",
            &endpoint(port),
            "--lease-ms",
            "500",
            "--timeout-ms",
            "1000",
        ]),
    );
    // Whether the consumer has read anything yet does not matter: its ring is small and the
    // stream long.
    signal(consumer.id(), "STOP");
    // The link is closed by `out`'s side; `out` sees its subscriber gone and stops.
    wait_until("bridge out to give up", HANG_GUARD, || {
        outlet.poll().is_some()
    });
    signal(consumer.id(), "CONT");
    let inn = inlet.finish(RUN_LIMIT);
    let stderr = peer_failure("bridge in", &inn, &["bridge-in: message ", " is missing"]);
    let missing: u64 = stderr
        .trim_start_matches("bridge-in: message ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no message number in {stderr:?}"));
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    // The consumer read every message before the missing one, then found the ring's producer
    // gone.
    let consumed = consumer.finish(RUN_LIMIT);
    peer_failure(
        "consumer",
        &consumed,
        &[&format!("consumer: message {missing}: ")],
    );
    let out = outlet.finish(RUN_LIMIT);
    peer_failure("bridge out", &out, &["bridge-out: ", "went away"]);
    let _ = producer.finish(RUN_LIMIT);
}

/// `out` started before any subscriber exists declares its publisher and then waits: nothing
/// it could read is published into the void. The bridge's sockets are checked meanwhile, with
/// `out` given a configuration file that asks to listen everywhere and to scout.
#[test]
fn out_without_a_subscriber_waits_and_loses_nothing_and_listens_only_where_told() {
    let (x, y) = (unique_name("bx"), unique_name("by"));
    let _cleanup = (Removes(x.clone()), Removes(y.clone()));
    let key = format!("test/{x}");
    let port = free_port();
    let count = "2000";
    let sizes = ["--min-size", "1", "--max-size", "300"];
    // Everything fits in the ring: the producer has written it all before anyone reads.
    let producer = Running::start(
        "peer producer",
        peer(&[&["producer", "--name", &x, "--count", count][..], &sizes].concat()),
    );
    wait_until("the producer's ring", HANG_GUARD, || exists(&x));
    // A configuration file asking for what the bridge fixes otherwise: it must not win.
    let config = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{x}.json5"));
    std::fs::write(
        &config,
        r#"{ listen: { endpoints: ["tcp/[::]:0"] }, scouting: { multicast: { enabled: true },
             gossip: { enabled: true } }, transport: { shared_memory: { enabled: true } } }"#,
    )
    .expect("write a configuration file");
    let outlet = Running::start(
        "bridge out",
        bridge(&[
            "out",
            "--ring",
            &x,
            "--key",
            &key,
            "--listen",
            &endpoint(port),
            "--config",
            config.to_str().expect("a UTF-8 path"),
        ]),
    );
    wait_for_publisher(port, &key);
    let inlet = Running::start(
        "bridge in",
        bridge(&[
            "in",
            "--ring",
            &y,
            "--key",
            &key,
            "--connect",
            &endpoint(port),
            "--capacity",
            "4096",
        ]),
    );
    // Both bridges up and linked: look at their sockets. The stream cannot end before the far
    // consumer starts: `in`'s ring holds a small part of it, and `out` waits for `in` to have
    // the end.
    let (mut outlet, mut inlet) = (outlet, inlet);
    wait_until("bridge in's ring", HANG_GUARD, || {
        exists(&y) || inlet.poll().is_some()
    });
    let established = |pid: u32| sockets(pid).iter().any(|s| s.state == "01");
    wait_until("the link between the bridges", HANG_GUARD, || {
        outlet.poll().is_some()
            || inlet.poll().is_some()
            || (established(outlet.id()) && established(inlet.id()))
    });
    let seen = [sockets(outlet.id()), sockets(inlet.id())];
    for bridge in [&mut outlet, &mut inlet] {
        if bridge.poll().is_some() {
            let what = bridge.what.clone();
            let output = std::mem::replace(bridge, Running::start("nothing", Command::new("true")))
                .finish(RUN_LIMIT);
            panic!("{what} exited early: {}", output_text(&output));
        }
    }
    for (all, what, listens) in seen
        .into_iter()
        .zip([("bridge out", vec![loopback(port)]), ("bridge in", vec![])])
        .map(|(all, (what, listens))| (all, what, listens))
    {
        let listen: Vec<String> = all
            .iter()
            .filter(|s| s.state == "0A")
            .map(|s| format!("{}:{}", s.table, s.local))
            .collect();
        let expected: Vec<String> = listens.iter().map(|l| format!("tcp:{l}")).collect();
        assert_eq!(listen, expected, "{what} listens on: {all:?}");
        let udp: Vec<&Socket> = all.iter().filter(|s| s.table.starts_with("udp")).collect();
        assert!(
            udp.is_empty(),
            "{what} has UDP sockets (scouting?): {udp:?}"
        );
        // Every other socket is a connection of the loopback link.
        for s in all.iter().filter(|s| s.state != "0A") {
            assert!(
                s.table == "tcp" && s.local.starts_with("0100007F:"),
                "{what} has a socket outside the loopback link: {s:?}"
            );
        }
    }
    let consumer = Running::start(
        "peer consumer",
        peer(&[&["consumer", "--name", &y, "--count", count][..], &sizes].concat()),
    );
    let bytes = stream_bytes(2000, 1, 300);
    let report = peer_report("consumer", &consumer.finish(RUN_LIMIT));
    assert_eq!((report.messages, report.bytes), (2000, bytes));
    peer_report("producer", &producer.finish(RUN_LIMIT));
    let out = outlet.finish(RUN_LIMIT);
    assert_eq!(
        bridge_report("bridge out", "bridge-out", &out),
        (2000, bytes)
    );
    let inn = inlet.finish(RUN_LIMIT);
    assert_eq!(bridge_report("bridge in", "bridge-in", &inn), (2000, bytes));
}

/// The Python interpreter with `eclipse-zenoh`: `$SHM_RING_ZENOH_PYTHON` (.ci/run sets it to
/// the virtual environment it installs it into), else `python3`. `None` when it cannot import
/// `zenoh` and `SHM_RING_REQUIRE_ZENOH` is not `1`: the test is then reported as skipped,
/// saying what to install; where it is `1` (CI), a missing `eclipse-zenoh` fails the test.
fn zenoh_python() -> Option<String> {
    let python = std::env::var("SHM_RING_ZENOH_PYTHON").unwrap_or_else(|_| "python3".into());
    let found = Command::new(&python)
        .args(["-c", "import zenoh"])
        .output()
        .is_ok_and(|out| out.status.success());
    if found {
        return Some(python);
    }
    let install = "python3 -m venv VENV && VENV/bin/pip install 'eclipse-zenoh>=1.10,<1.11', \
                   then SHM_RING_ZENOH_PYTHON=VENV/bin/python";
    if std::env::var("SHM_RING_REQUIRE_ZENOH").as_deref() == Ok("1") {
        panic!("{python} cannot import zenoh: install eclipse-zenoh ({install})");
    }
    // Around the test harness's capture, so that the skip shows in a plain `cargo test`.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED a_python_subscriber_receives_the_stream_byte_for_byte: {python} cannot import \
         zenoh; to run it: {install}"
    );
    None
}

#[test]
fn a_python_subscriber_receives_the_stream_byte_for_byte() {
    let Some(python) = zenoh_python() else {
        return;
    };
    let x = unique_name("bx");
    let _cleanup = Removes(x.clone());
    let key = format!("test/{x}");
    let port = free_port();
    let (count, min, max) = (3000u64, 1usize, 4096usize);
    let producer = Running::start(
        "peer producer",
        peer(&[
            "producer",
            "--name",
            &x,
            "--count",
            &count.to_string(),
            "--min-size",
            &min.to_string(),
            "--max-size",
            &max.to_string(),
        ]),
    );
    wait_until("the producer's ring", HANG_GUARD, || exists(&x));
    let outlet = Running::start(
        "bridge out",
        bridge(&[
            "out",
            "--ring",
            &x,
            "--key",
            &key,
            "--listen",
            &endpoint(port),
        ]),
    );
    wait_until("bridge out's listener", HANG_GUARD, || listening(port));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/subscriber.py");
    let mut subscriber = Command::new(&python);
    subscriber.args([script, &endpoint(port), &key]);
    let received = Running::start("Python subscriber", subscriber).finish(RUN_LIMIT);
    assert!(
        received.status.success(),
        "Python subscriber failed: {}",
        output_text(&received)
    );
    // What the subscriber received, as (sequence number, payload in hex) lines, then the end.
    let text = String::from_utf8_lossy(&received.stdout);
    let mut lines = text.lines();
    for i in 0..count {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the subscriber stopped before message {i}"));
        let expected = stream_message(i, stream_len(i, min, max));
        let hex: String = expected.iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            line == format!("{i} {hex}"),
            "message {i} differs: got {:.80}…",
            line
        );
    }
    assert_eq!(lines.next(), Some(format!("end {count}").as_str()));
    assert_eq!(lines.next(), None);
    peer_report("producer", &producer.finish(RUN_LIMIT));
    let out = outlet.finish(RUN_LIMIT);
    assert_eq!(
        bridge_report("bridge out", "bridge-out", &out),
        (count, stream_bytes(count, min, max))
    );
}

/// A message as another publisher may send it: payload and attachment.
type Foreign = (Vec<u8>, Option<Vec<u8>>);

/// Publishes `messages` (payload, attachment) and the end of the stream after them on `key`,
/// from a session of the test connected to `port`, once a subscriber matches: a publisher
/// other than the bridge, sending what it likes.
fn publish_foreign(port: u16, key: &str, messages: &[Foreign]) {
    let session = test_session(port);
    let publisher = session
        .declare_publisher(key)
        .congestion_control(zenoh::qos::CongestionControl::Block)
        .wait()
        .expect("declare a publisher");
    let matching = publisher.matching_listener().wait().expect("watch");
    if !publisher
        .matching_status()
        .wait()
        .expect("status")
        .matching()
    {
        while !matching.recv().expect("status").matching() {}
    }
    for (payload, attachment) in messages {
        let put = publisher.put(payload.clone());
        match attachment {
            Some(attachment) => put.attachment(attachment.clone()).wait(),
            None => put.wait(),
        }
        .expect("put");
    }
    publisher
        .delete()
        .attachment((messages.len() as u64).to_le_bytes().to_vec())
        .wait()
        .expect("delete");
    // Until `in` leaves: it has all of it.
    while matching.recv().expect("status").matching() {}
    session.close().wait().expect("close the test's session");
}

/// `in` fed by another publisher: what it sends cannot make `in` write a wrong stream, allocate
/// what it asks for, or stop without saying why.
#[test]
fn what_a_foreign_publisher_sends_is_checked_by_in() {
    let sequence = |n: u64| Some(n.to_le_bytes().to_vec());
    let cases: Vec<(&str, Vec<Foreign>, &str)> = vec![
        (
            "no sequence number",
            vec![(b"first".to_vec(), sequence(0)), (b"second".to_vec(), None)],
            "without a sequence number",
        ),
        (
            "a sequence number of 4 bytes",
            vec![(b"first".to_vec(), Some(vec![0, 0, 0, 0]))],
            "without a sequence number",
        ),
        (
            "an empty message",
            vec![(Vec::new(), sequence(0))],
            "message 0: cannot write it into the ring: empty messages are refused",
        ),
        (
            // Larger than a batch, so Zenoh reassembles it, and larger than the ring with
            // room for headers: Zenoh drops it rather than allocate for it.
            "a message far larger than the ring",
            vec![
                (vec![7; 1 << 20], sequence(0)),
                (b"next".to_vec(), sequence(1)),
            ],
            "message 0 is missing: message 1 came instead",
        ),
        (
            "a message larger than the ring can carry",
            vec![(vec![7; 5000], sequence(0))],
            "message 0: cannot write it into the ring: a 5000-byte message can never fit",
        ),
        (
            "a sequence number going back",
            vec![(b"a".to_vec(), sequence(0)), (b"b".to_vec(), sequence(0))],
            "message 0 came again where message 1 was expected",
        ),
    ];
    for (what, messages, says) in cases {
        let y = unique_name("by");
        let _cleanup = Removes(y.clone());
        let key = format!("test/{y}");
        let port = free_port();
        let inlet = Running::start(
            format!("bridge in, sent {what}"),
            bridge(&[
                "in",
                "--ring",
                &y,
                "--key",
                &key,
                "--listen",
                &endpoint(port),
                "--capacity",
                "4096",
            ]),
        );
        wait_until("bridge in's listener", HANG_GUARD, || listening(port));
        std::thread::scope(|scope| {
            // The publisher waits for `in` to leave, which it does on the first fault.
            scope.spawn(|| publish_foreign(port, &key, &messages));
            let output = inlet.finish(RUN_LIMIT);
            peer_failure(
                &format!("bridge in, sent {what}"),
                &output,
                &["bridge-in: ", says],
            );
        });
    }
}
