//! The interoperability matrix: every producer language against every consumer language in
//! {Rust, Python, C++}, nine pairs, each pair as two processes running at the same time and
//! the consumer checking every message of the conformance stream.
//!
//! Each pair runs four streams:
//! - 200,000 messages of 1 to 8192 bytes through a 16 KiB ring, so length prefixes and payloads
//!   split at the ring's end over and over (consumer started first);
//! - 64-byte messages (producer started first);
//! - messages of `capacity - 4` bytes, the largest a ring carries (consumer started first);
//! - indices starting at 4294967000, so they wrap at 2^32 early in the run (producer first).
//!
//! And each consumer language reads zero-length records placed in a ring by hand, and in every
//! pair of different languages each end notices, through the liveness locks, that the other
//! was killed; a producer of one language takes over the ring of a killed producer of another
//! without loss; and a producer of every language refuses a ring the shared-memory file system
//! cannot back.
//!
//! `python3` and a C++ compiler (`g++` or `$CXX`) are required: without them these tests fail,
//! saying what to install.

// Windows builds of these tests would run under Wine, which has no python3, no C++ compiler
// and cannot see a native Linux peer's objects; the Windows conformance runs are in
// .ci/windows.sh.
#![cfg(not(windows))]
// Some cases need Linux and say so with a cfg; what only they use is unused elsewhere.
#![cfg_attr(not(target_os = "linux"), allow(unused_imports, dead_code))]

use support::peers::{peer_failure, peer_report, run_pair, Lang, Order, RUN_LIMIT};
use support::process::{wait_until, Running, HANG_GUARD};
use support::raw::Raw;
use support::segment::{exists, unique_name, Removes};
use support::stream::{stream_bytes, stream_len, stream_message};
use support::tools::python3;

/// One stream of the matrix.
struct Stream {
    tag: &'static str,
    count: u64,
    sizes: (usize, usize),
    extra: &'static [&'static str],
    order: Order,
}

const STREAMS: [Stream; 4] = [
    Stream {
        tag: "range",
        count: 200_000,
        sizes: (1, 8192),
        extra: &[],
        order: Order::ConsumerFirst,
    },
    Stream {
        tag: "small",
        count: 50_000,
        sizes: (64, 64),
        extra: &[],
        order: Order::ProducerFirst,
    },
    Stream {
        tag: "largest",
        count: 20_000,
        sizes: (16_380, 16_380),
        extra: &[],
        order: Order::ConsumerFirst,
    },
    Stream {
        tag: "wrap",
        count: 50_000,
        sizes: (1, 8192),
        extra: &["--start-index", "4294967000"],
        order: Order::ProducerFirst,
    },
];

fn matrix(producer: Lang, consumer: Lang) {
    for stream in &STREAMS {
        let name = unique_name(stream.tag);
        let _cleanup = Removes(name.clone());
        let count = stream.count.to_string();
        let (min, max) = (stream.sizes.0.to_string(), stream.sizes.1.to_string());
        let args = [
            &[
                "--name",
                name.as_str(),
                "--count",
                &count,
                "--min-size",
                &min,
                "--max-size",
                &max,
                "--capacity",
                "16384",
                "--timeout-ms",
                "60000",
            ][..],
            stream.extra,
        ]
        .concat();
        let mut p = producer.peer();
        p.arg("producer").args(&args);
        let mut c = consumer.peer();
        c.arg("consumer").args(&args);
        let (p_out, c_out) = run_pair(&name, p, c, stream.order);
        let what = format!("{producer:?} -> {consumer:?}, stream {}", stream.tag);
        let bytes = stream_bytes(stream.count, stream.sizes.0, stream.sizes.1);
        let produced = peer_report(&format!("{what}: producer"), &p_out);
        let consumed = peer_report(&format!("{what}: consumer"), &c_out);
        assert_eq!(
            (produced.role.as_str(), produced.messages, produced.bytes),
            ("producer", stream.count, bytes),
            "{what}"
        );
        assert_eq!(
            (consumed.role.as_str(), consumed.messages, consumed.bytes),
            ("consumer", stream.count, bytes),
            "{what}"
        );
        assert!(!exists(&name), "{what}: the producer removes its segment");
    }
}

macro_rules! pairs {
    ($($test:ident: $producer:ident -> $consumer:ident;)*) => {$(
        #[test]
        fn $test() {
            matrix(Lang::$producer, Lang::$consumer);
        }
    )*};
}

pairs! {
    rust_to_rust: Rust -> Rust;
    rust_to_python: Rust -> Python;
    rust_to_cpp: Rust -> Cpp;
    python_to_rust: Python -> Rust;
    python_to_python: Python -> Python;
    python_to_cpp: Python -> Cpp;
    cpp_to_rust: Cpp -> Rust;
    cpp_to_python: Cpp -> Python;
    cpp_to_cpp: Cpp -> Cpp;
}

/// Writes the conformance stream with sizes 0..=3 into a ring by hand, zero-length records
/// included, and has `consumer` read and check it.
fn zero_length_records(consumer: Lang) {
    let name = unique_name("zero");
    let count = 40u64;
    let start = u32::MAX - 20;
    let raw = Raw::create_ring(&name, 4096, start);
    let mut head = start;
    let mut zeros = 0;
    for i in 0..count {
        let len = stream_len(i, 0, 3);
        zeros += usize::from(len == 0);
        head = raw.push_record(4096, head, &stream_message(i, len));
    }
    assert!(
        zeros >= 5,
        "the stream must hold zero-length records ({zeros})"
    );
    let mut command = consumer.peer();
    command.args([
        "consumer",
        "--name",
        &name,
        "--count",
        &count.to_string(),
        "--min-size",
        "0",
        "--max-size",
        "3",
        "--timeout-ms",
        "60000",
    ]);
    let output = Running::start(format!("{consumer:?} consumer"), command).finish(RUN_LIMIT);
    let report = peer_report(&format!("{consumer:?} consumer"), &output);
    assert_eq!(
        (report.messages, report.bytes),
        (count, stream_bytes(count, 0, 3))
    );
    assert_eq!(raw.word(4), head, "{consumer:?} consumed every record");
}

#[test]
fn rust_consumer_delivers_zero_length_records() {
    zero_length_records(Lang::Rust);
}

#[test]
fn python_consumer_delivers_zero_length_records() {
    zero_length_records(Lang::Python);
}

#[test]
fn cpp_consumer_delivers_zero_length_records() {
    zero_length_records(Lang::Cpp);
}

/// Which end of a running pair is killed.
#[cfg(target_os = "linux")]
#[derive(Debug, Clone, Copy)]
enum Victim {
    Producer,
    Consumer,
}

/// Starts `producer` and `consumer` on an endless stream of 64-byte messages, waits until
/// messages flow, kills `victim` with SIGKILL and checks that the survivor notices the death
/// through the liveness locks: it fails with "the producer is gone" / "the consumer is gone"
/// long before its ten-minute timeout could have run out.
// Liveness is told by open-file-description locks, which only Linux has.
#[cfg(target_os = "linux")]
fn survivor_sees_the_peer_gone(producer: Lang, consumer: Lang, victim: Victim) {
    let name = unique_name("gone");
    let _cleanup = Removes(name.clone());
    let args = [
        "--name",
        name.as_str(),
        "--count",
        "4000000000",
        "--size",
        "64",
        "--capacity",
        "4096",
        "--timeout-ms",
        "600000",
        "--no-verify",
    ];
    let mut p = producer.peer();
    p.arg("producer").args(args);
    let mut c = consumer.peer();
    c.arg("consumer").args(args);
    let mut p = Running::start(format!("{producer:?} producer"), p);
    let mut c = Running::start(format!("{consumer:?} consumer"), c);
    let what = format!("{producer:?} -> {consumer:?}, {victim:?} killed");
    wait_until(&format!("{what}: the segment"), HANG_GUARD, || {
        // The producer makes the object, sizes it, then writes its capacity word: until then
        // it may be missing, or shorter than a header.
        exists(&name) && {
            let raw = Raw::open(&name);
            raw.size() >= 16 && raw.word(8) != 0
        }
    });
    let raw = Raw::open(&name);
    wait_until(&format!("{what}: messages to flow"), HANG_GUARD, || {
        raw.word(4) != 0
    });
    let (survivor, expected) = match victim {
        Victim::Producer => {
            p.kill();
            (c, "the producer is gone")
        }
        Victim::Consumer => {
            c.kill();
            (p, "the consumer is gone")
        }
    };
    let out = survivor.finish(HANG_GUARD);
    peer_failure(&format!("{what}: the survivor"), &out, &[expected]);
}

macro_rules! liveness {
    ($($test:ident: $producer:ident -> $consumer:ident;)*) => {$(
        // Liveness is told by open-file-description locks, which only Linux has.
        #[cfg(target_os = "linux")]
        #[test]
        fn $test() {
            survivor_sees_the_peer_gone(Lang::$producer, Lang::$consumer, Victim::Producer);
            survivor_sees_the_peer_gone(Lang::$producer, Lang::$consumer, Victim::Consumer);
        }
    )*};
}

liveness! {
    rust_to_python_survive_each_others_death: Rust -> Python;
    rust_to_cpp_survive_each_others_death: Rust -> Cpp;
    python_to_rust_survive_each_others_death: Python -> Rust;
    python_to_cpp_survive_each_others_death: Python -> Cpp;
    cpp_to_rust_survive_each_others_death: Cpp -> Rust;
    cpp_to_python_survive_each_others_death: Cpp -> Python;
}

/// Takes over the ring named by its first argument (`ShmProducer.open`), prints how many
/// messages of 64 bytes were in it, writes the conformance stream on from there up to the count
/// its second argument gives, and waits until the consumer has read everything.
const PYTHON_SUCCESSOR: &str = "\
import sys, shm_ring
producer = shm_ring.ShmProducer.open(sys.argv[1])
first = producer.readable_bytes() // (4 + 64)
print(first, flush=True)
for i in range(first, int(sys.argv[2])):
    producer.write(bytes((i * 7 + j) % 251 for j in range(64)), timeout=600)
producer.wait_until_empty(timeout=600)
";

/// A Rust producer is killed mid-stream, its ring full and nobody reading; a Python producer
/// takes the ring over and writes the rest of the stream; a C++ consumer, started only then,
/// reads the whole stream: every message once, in order.
// Telling a dead producer from a live one takes open-file-description locks, which only Linux
// has.
#[cfg(target_os = "linux")]
#[test]
fn a_python_producer_takes_over_from_a_killed_rust_one_for_a_cpp_consumer() {
    use std::io::BufRead;
    use std::process::Stdio;

    let name = unique_name("takeover");
    let _cleanup = Removes(name.clone());
    let args = [
        "--name",
        name.as_str(),
        "--count",
        "1000",
        "--size",
        "64",
        "--capacity",
        "4096",
        "--timeout-ms",
        "600000",
    ];
    let mut rust = Lang::Rust.peer();
    rust.arg("producer").args(args);
    let mut rust = Running::start("Rust producer", rust);
    // 60 records of 68 bytes fill 4080 of the 4096 bytes: the 61st waits for room.
    let full = 60 * (4 + 64);
    wait_until("the Rust producer to fill its ring", HANG_GUARD, || {
        exists(&name) && {
            let raw = Raw::open(&name);
            raw.size() >= 16 && raw.word(8) != 0 && raw.word(0) == full
        }
    });
    rust.kill();

    let mut python = python3()
        .args(["-c", PYTHON_SUCCESSOR, &name, "1000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Python producer");
    let mut first = String::new();
    std::io::BufReader::new(python.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("read the Python producer's output");
    assert_eq!(
        first, "60\n",
        "the Python producer found the Rust producer's messages"
    );

    let mut cpp = Lang::Cpp.peer();
    cpp.arg("consumer").args(args);
    let consumer = Running::start("C++ consumer", cpp).finish(HANG_GUARD);
    let python = python
        .wait_with_output()
        .expect("wait for the Python producer");
    assert!(
        python.status.success(),
        "the Python producer failed ({}):\n{}",
        python.status,
        String::from_utf8_lossy(&python.stderr)
    );
    let consumed = peer_report("C++ consumer", &consumer);
    assert_eq!(
        (consumed.role.as_str(), consumed.messages, consumed.bytes),
        ("consumer", 1000, 64_000)
    );
    assert!(exists(&name), "a producer that took over leaves the name");
}

// A private mount namespace with a small /dev/shm is Linux's (unshare, tmpfs).
#[cfg(target_os = "linux")]
#[test]
fn a_full_shared_memory_file_system_is_an_error_from_create_in_every_language() {
    // In a private mount namespace (root only, like the permission tests), /dev/shm is a
    // 1 MiB tmpfs; a 4 MiB ring cannot be backed, and creating it must say so rather than
    // leave a sparse object that kills the process with SIGBUS when a write reaches an
    // unbacked page.
    for lang in [Lang::Rust, Lang::Python, Lang::Cpp] {
        let peer = lang.peer();
        let mut command = std::process::Command::new("unshare");
        command
            .args([
                "--mount",
                "sh",
                "-c",
                "mount -t tmpfs -o size=1m tmpfs /dev/shm && exec \"$@\"",
                "sh",
            ])
            .arg(peer.get_program())
            .args(peer.get_args())
            .args(["producer", "--name", "full", "--count", "1", "--size", "64"])
            .args(["--capacity", "4194304", "--timeout-ms", "1000"]);
        for (key, value) in peer.get_envs() {
            if let Some(value) = value {
                command.env(key, value);
            }
        }
        let out = command
            .output()
            .expect("run unshare (util-linux); this test needs it and root");
        peer_failure(
            &format!("{lang:?} producer"),
            &out,
            &["fallocate", "No space left on device"],
        );
    }
}
