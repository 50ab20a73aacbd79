//! Producer and consumer in separate processes: the Rust `peer` example in both roles, every
//! message of the conformance stream checked by the consumer (length, every byte, order).

// These tests build the peer example with cargo and run it, which a test under Wine cannot
// do; .ci/windows.sh runs the same pairs with the Windows build of the peer.
#![cfg(not(windows))]

use std::process::Command;

use support::peers::{peer_report, run_pair, run_pair_within, rust_peer, Order, RUN_LIMIT};
use support::process::Running;
use support::raw::Raw;
use support::segment::{exists, unique_name, Removes};
use support::stream::stream_bytes;

/// A `peer` command for `role` on segment `name` with the given extra arguments.
fn peer(role: &str, name: &str, args: &[&str]) -> Command {
    let mut command = Command::new(rust_peer());
    command
        .args([role, "--name", name, "--timeout-ms", "60000"])
        .args(args);
    command
}

/// Runs a producer and a consumer with the same stream arguments and checks both reports.
fn conformance(tag: &str, count: u64, sizes: (usize, usize), args: &[&str], order: Order) {
    conformance_within(tag, count, sizes, args, order, RUN_LIMIT);
}

/// [`conformance`] with a hang guard of `limit`.
fn conformance_within(
    tag: &str,
    count: u64,
    sizes: (usize, usize),
    args: &[&str],
    order: Order,
    limit: std::time::Duration,
) {
    let name = unique_name(tag);
    let count_text = count.to_string();
    let (min, max) = (sizes.0.to_string(), sizes.1.to_string());
    let stream = [
        &[
            "--count",
            count_text.as_str(),
            "--min-size",
            &min,
            "--max-size",
            &max,
        ][..],
        args,
    ]
    .concat();
    let (producer, consumer) = run_pair_within(
        &name,
        peer("producer", &name, &stream),
        peer("consumer", &name, &stream),
        order,
        limit,
    );
    let bytes = stream_bytes(count, sizes.0, sizes.1);
    for (role, output) in [("producer", &producer), ("consumer", &consumer)] {
        let report = peer_report(role, output);
        assert_eq!(report.role, role);
        assert_eq!((report.messages, report.bytes), (count, bytes), "{role}");
    }
    assert!(!exists(&name), "the producer removes its segment");
}

/// The soak in CI: a million messages of random sizes (1 to 4096 bytes) through a 64 KiB ring,
/// every one checked.
#[test]
fn soak_a_million_messages() {
    conformance(
        "million",
        1_000_000,
        (1, 4096),
        &["--capacity", "65536"],
        Order::ConsumerFirst,
    );
}

/// The long soak, run by hand: `cargo test --release -- --ignored soak`. A hundred million
/// messages of random sizes (1 to 1024 bytes) through a 64 KiB ring, every one checked.
#[test]
#[ignore = "long: about a minute in release builds; run with `cargo test --release -- --ignored soak`"]
fn soak_a_hundred_million_messages() {
    conformance_within(
        "hundredmillion",
        100_000_000,
        (1, 1024),
        &["--capacity", "65536"],
        Order::ConsumerFirst,
        std::time::Duration::from_secs(3600),
    );
}

#[test]
fn records_split_at_the_ring_end_in_every_mode() {
    // 16 KiB ring and messages up to 8 KiB: prefixes and payloads split at the end again
    // and again. Each producer mode against each consumer mode.
    let modes: [&[&str]; 3] = [&[], &["--zero-copy"], &["--batch"]];
    for producer_mode in modes {
        for consumer_mode in modes {
            let name = unique_name("modes");
            let stream = ["--count", "50000", "--min-size", "1", "--max-size", "8192"];
            let producer_args = [&stream[..], &["--capacity", "16384"], producer_mode].concat();
            let consumer_args = [&stream[..], consumer_mode].concat();
            let (p, c) = run_pair(
                &name,
                peer("producer", &name, &producer_args),
                peer("consumer", &name, &consumer_args),
                Order::ConsumerFirst,
            );
            let what = format!("producer {producer_mode:?} -> consumer {consumer_mode:?}");
            assert_eq!(peer_report(&what, &p).messages, 50_000, "{what}");
            assert_eq!(
                peer_report(&what, &c).bytes,
                stream_bytes(50_000, 1, 8192),
                "{what}"
            );
        }
    }
}

#[test]
fn indices_wrap_at_2_pow_32_across_processes() {
    // 200,000 messages of up to 8 KiB move about 800 MB: the indices pass 2^32 early on.
    conformance(
        "wrap",
        200_000,
        (1, 8192),
        &["--capacity", "16384", "--start-index", "4294967000"],
        Order::ConsumerFirst,
    );
}

#[test]
fn the_consumer_may_start_after_the_producer() {
    conformance(
        "late",
        20_000,
        (1, 1000),
        &["--capacity", "4096"],
        Order::ProducerFirst,
    );
}

#[test]
fn fixed_sizes_up_to_the_largest_message() {
    for size in ["64", "16380"] {
        let name = unique_name("fixed");
        let args = ["--count", "20000", "--size", size, "--capacity", "16384"];
        let (p, c) = run_pair(
            &name,
            peer("producer", &name, &args),
            peer("consumer", &name, &args),
            Order::ConsumerFirst,
        );
        let bytes = 20_000 * size.parse::<u64>().unwrap();
        assert_eq!(peer_report("producer", &p).bytes, bytes);
        assert_eq!(peer_report("consumer", &c).bytes, bytes);
    }
}

/// Runs a peer alone and returns its exit code and stderr. A failing peer must print nothing
/// on stdout.
fn alone(args: &[&str]) -> (Option<i32>, String) {
    let output = Running::start("peer", {
        let mut command = Command::new(rust_peer());
        command.args(args);
        command
    })
    .finish(RUN_LIMIT);
    if !output.status.success() {
        assert!(output.stdout.is_empty(), "nothing on stdout when failing");
    }
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_consumer_names_the_first_message_that_is_wrong() {
    let name = unique_name("mismatch");
    let _cleanup = Removes(name.clone());
    let (p, c) = run_pair(
        &name,
        peer("producer", &name, &["--count", "10", "--size", "10"]),
        peer("consumer", &name, &["--count", "10", "--size", "11"]),
        Order::ConsumerFirst,
    );
    assert_eq!(c.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&c.stderr),
        "consumer: message 0: length 10, expected 11\n"
    );
    assert!(
        !p.status.success(),
        "the producer is stopped, not left waiting"
    );
}

#[test]
fn a_producer_refuses_an_empty_message_in_the_stream() {
    let name = unique_name("emptystream");
    let (code, stderr) = alone(&["producer", "--name", &name, "--count", "3", "--size", "0"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "producer: message 0: empty messages are refused (consumers of the original library would stall on them)\n"
    );
    assert!(!exists(&name), "a failed producer removes its segment");
}

#[test]
fn a_consumer_reads_zero_length_records_placed_by_hand() {
    let name = unique_name("zerohand");
    let _cleanup = Removes(name.clone());
    let raw = Raw::create_ring(&name, 64, 0);
    let mut head = 0;
    for _ in 0..5 {
        head = raw.push_record(64, head, b"");
    }
    let (code, stderr) = alone(&["consumer", "--name", &name, "--count", "5", "--size", "0"]);
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
    assert_eq!(raw.word(4), head, "all five consumed");
}

#[test]
fn bad_command_lines_exit_1_with_one_line() {
    let cases: [(&[&str], &str); 5] = [
        (&[], "peer: usage: peer producer|consumer"),
        (
            &["producer", "--name", "x", "--count", "1"],
            "producer: give either --size, or both --min-size and --max-size",
        ),
        (
            &[
                "consumer", "--name", "x", "--count", "1", "--size", "1", "--what",
            ],
            "consumer: unknown argument \"--what\"",
        ),
        (
            &["consumer", "--name", "x", "--count", "lots", "--size", "1"],
            "consumer: --count \"lots\" is not a valid number",
        ),
        (
            &[
                "producer",
                "--name",
                "x",
                "--count",
                "1",
                "--min-size",
                "5",
                "--max-size",
                "4",
            ],
            "producer: --min-size 5 is above --max-size 4",
        ),
    ];
    for (args, start) in cases {
        let (code, stderr) = alone(args);
        assert_eq!(code, Some(1), "{args:?}");
        assert!(stderr.starts_with(start), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
}

#[test]
fn a_consumer_without_a_producer_times_out() {
    let name = unique_name("noproducer");
    let (code, stderr) = alone(&[
        "consumer",
        "--name",
        &name,
        "--count",
        "1",
        "--size",
        "1",
        "--timeout-ms",
        "50",
    ]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with("consumer: cannot open the segment: timed out after"),
        "{stderr}"
    );
}
