//! Crash tests: a producer or consumer process killed with SIGKILL at a chosen point.
//!
//! This file has its own small test runner (`harness = false`) because the processes to kill
//! are this very executable, started again in a child role (`SHM_RING_CRASH_CHILD`). A child
//! does its part, prints `ready`, and waits to be killed; the parent synchronises on that line
//! and on the blocked thread being asleep in the kernel, never on sleeps.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::thread;

use common::{stream_message, unique_name, wait_until_asleep, Raw, HANG_GUARD};
use shm_ring::layout::{extension_offset, CONSUMER_FLAGS, PRODUCER_FLAGS};
use shm_ring::{OpenError, ProducerOptions, ReadError, Role, ShmConsumer, ShmProducer, WriteError};

const CHILD_ROLE: &str = "SHM_RING_CRASH_CHILD";
const CHILD_NAME: &str = "SHM_RING_CRASH_NAME";

/// Message `i` of the test stream: the conformance bytes, 1 to 40 bytes long.
fn message(i: u64) -> Vec<u8> {
    stream_message(i, (i % 40 + 1) as usize)
}

// ---------------------------------------------------------------- children

/// Says `ready` to the parent and waits to be killed.
fn ready_and_wait() -> ! {
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    loop {
        thread::park();
    }
}

fn child(role: &str, name: &str) -> ! {
    match role {
        // Commits ten messages, then dies halfway through filling an eleventh.
        "producer-mid-commit" => {
            let mut producer = ShmProducer::create(name, 4096).unwrap();
            for i in 0..10 {
                producer.try_write(&message(i)).unwrap();
            }
            let mut grant = producer.try_reserve(message(10).len()).unwrap();
            let (first, _) = grant.as_mut_slices();
            let half = first.len() / 2;
            first[..half].copy_from_slice(&message(10)[..half]);
            ready_and_wait();
        }
        // Reads three messages, then dies.
        "consumer-reads-three" => {
            let mut consumer = ShmConsumer::open_timeout(name, HANG_GUARD).unwrap();
            for i in 0..3 {
                assert_eq!(consumer.read(HANG_GUARD).unwrap(), message(i));
            }
            ready_and_wait();
        }
        // Holds the producer role.
        "producer-holds" => {
            let _producer = ShmProducer::create(name, 4096).unwrap();
            ready_and_wait();
        }
        // Holds the consumer role.
        "consumer-holds" => {
            let _consumer = ShmConsumer::open_timeout(name, HANG_GUARD).unwrap();
            ready_and_wait();
        }
        other => panic!("unknown child role {other}"),
    }
}

/// Starts this executable as `role` on segment `name` and waits for its `ready`.
fn spawn_child(role: &str, name: &str) -> Child {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ROLE, role)
        .env(CHILD_NAME, name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the child");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n", "the {role} child did not get ready");
    child
}

/// SIGKILL, and wait until the process is gone.
fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

// ---------------------------------------------------------------- tests

/// The producer dies between filling a grant and committing it: the consumer gets every
/// committed message, never the partial one, and then `PeerGone` while it sleeps.
fn a_killed_producer_leaves_only_whole_messages() {
    let name = unique_name("killprod");
    let _cleanup = common::Removes(name.clone());
    let producer = spawn_child("producer-mid-commit", &name);
    let mut consumer = ShmConsumer::open(&name).unwrap();
    for i in 0..10 {
        assert_eq!(
            consumer.read(HANG_GUARD).unwrap(),
            message(i),
            "message {i}"
        );
    }
    let raw = Raw::open(&name);
    let (tid, reader) = common::spawn_reporting_tid(move || (consumer.read(HANG_GUARD), consumer));
    wait_until_asleep(&raw, tid, Some(extension_offset(4096) + CONSUMER_FLAGS));
    kill(producer);
    let (after, mut consumer) = reader.join().unwrap();
    assert_eq!(after, Err(ReadError::PeerGone));
    assert_eq!(
        consumer.try_read().unwrap(),
        None,
        "the partial message never appears"
    );
    assert_eq!(consumer.is_peer_alive(), Some(false));
}

/// The consumer dies while the producer sleeps on a full ring: the producer gets `PeerGone`,
/// and a new consumer continues exactly where the dead one stopped.
fn a_killed_consumer_is_replaced_without_loss() {
    let name = unique_name("killcons");
    let mut producer = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, 256)
        .unwrap();
    for i in 0..3 {
        producer.try_write(&message(i)).unwrap();
    }
    let consumer = spawn_child("consumer-reads-three", &name);
    let mut next = 3;
    while producer.try_write(&message(next)).is_ok() {
        next += 1;
    }
    let raw = Raw::open(&name);
    let (tid, writer) =
        common::spawn_reporting_tid(move || (producer.write(&message(next), HANG_GUARD), producer));
    wait_until_asleep(&raw, tid, Some(extension_offset(256) + PRODUCER_FLAGS));
    kill(consumer);
    let (blocked, mut producer) = writer.join().unwrap();
    assert_eq!(blocked, Err(WriteError::PeerGone));
    assert_eq!(producer.is_peer_alive(), Some(false));

    let mut replacement = ShmConsumer::open(&name).unwrap();
    assert_eq!(producer.is_peer_alive(), Some(true));
    for i in 3..next {
        assert_eq!(
            replacement.try_read().unwrap(),
            Some(message(i)),
            "message {i}"
        );
    }
    producer.write(&message(next), HANG_GUARD).unwrap();
    assert_eq!(replacement.read(HANG_GUARD).unwrap(), message(next));
}

/// A live producer in another process keeps its segment; once it is killed, the segment is
/// stale and a new producer replaces it.
fn a_live_producer_in_another_process_keeps_its_segment() {
    let name = unique_name("liveproc");
    let _cleanup = common::Removes(name.clone());
    let holder = spawn_child("producer-holds", &name);
    let err = ShmProducer::create(&name, 4096).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::InUse {
                by: Role::Producer,
                ..
            }
        ),
        "{err:?}"
    );
    let consumer = ShmConsumer::open(&name).unwrap();
    assert_eq!(consumer.is_peer_alive(), Some(true));
    kill(holder);
    assert_eq!(consumer.is_peer_alive(), Some(false));
    let _replacement = ShmProducer::create(&name, 4096).expect("a stale segment is replaced");
}

/// A live consumer in another process keeps the consumer role until it dies.
fn a_live_consumer_in_another_process_keeps_its_role() {
    let name = unique_name("liveconsumer");
    let _producer = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, 4096)
        .unwrap();
    let holder = spawn_child("consumer-holds", &name);
    let err = ShmConsumer::open(&name).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::InUse {
                by: Role::Consumer,
                ..
            }
        ),
        "{err:?}"
    );
    kill(holder);
    ShmConsumer::open(&name).expect("the role is free once its holder is dead");
}

// ---------------------------------------------------------------- runner

fn main() {
    if let Ok(role) = std::env::var(CHILD_ROLE) {
        child(
            &role,
            &std::env::var(CHILD_NAME).expect("segment name for the child"),
        );
    }
    let tests: [(&str, fn()); 4] = [
        (
            "a_killed_producer_leaves_only_whole_messages",
            a_killed_producer_leaves_only_whole_messages,
        ),
        (
            "a_killed_consumer_is_replaced_without_loss",
            a_killed_consumer_is_replaced_without_loss,
        ),
        (
            "a_live_producer_in_another_process_keeps_its_segment",
            a_live_producer_in_another_process_keeps_its_segment,
        ),
        (
            "a_live_consumer_in_another_process_keeps_its_role",
            a_live_consumer_in_another_process_keeps_its_role,
        ),
    ];
    // Understands what cargo passes: name filters, and --ignored (nothing here is ignored).
    let args: Vec<String> = std::env::args().skip(1).collect();
    let only_ignored = args.iter().any(|a| a == "--ignored");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let selected: Vec<_> = tests
        .iter()
        .filter(|_| !only_ignored)
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", selected.len());
    let mut failed = Vec::new();
    for (name, test) in &selected {
        let outcome = std::panic::catch_unwind(test);
        println!(
            "test {name} ... {}",
            if outcome.is_ok() { "ok" } else { "FAILED" }
        );
        if outcome.is_err() {
            failed.push(*name);
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed; 0 ignored; 0 measured; {} filtered out\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        selected.len() - failed.len(),
        failed.len(),
        tests.len() - selected.len()
    );
    if !failed.is_empty() {
        println!("failures:\n    {}", failed.join("\n    "));
        std::process::exit(101);
    }
}
