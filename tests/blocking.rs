//! Blocking calls sleep in the kernel and are woken by the other end.
//!
//! Each test waits until the blocked thread is provably asleep in `FUTEX_WAIT` (its
//! `/proc/self/task/<tid>/syscall` shows the futex system call and its flag byte says
//! sleeping), then acts, and checks from the end's [`WaitStats`] that the sleep was ended by
//! a wake-up rather than by running out its slice. The peer-check interval is set far above
//! any test's length, so a missed wake-up cannot be hidden by a slice ending on its own.
//!
//! Linux only: elsewhere blocking calls poll in bounded sleeps (no futex, no `membarrier`), so
//! there is no wake-up to test, and no `/proc` to watch a thread sleep through.
#![cfg(target_os = "linux")]

use std::time::Duration;

use shm_ring::{
    ProducerOptions, ReadGrant, ReadTimeoutError, ShmConsumer, ShmProducer, WaitTimeoutError,
    WriteTimeoutError,
};
use support::futex::{spawn_reporting_tid, wait_until_asleep};
use support::process::HANG_GUARD;
use support::raw::Raw;
use support::segment::{exists, unique_name};
use support::try_take;
use support::wire::{extension_offset, CONSUMER_FLAGS, FLAG_SLEEPING, PRODUCER_FLAGS};

/// Long enough that no sleep in these tests ends by its slice.
const NO_SLICE: Duration = Duration::from_secs(3600);

/// The offsets of the consumer's and the producer's flag bytes in a ring of `capacity`.
fn flags_at(capacity: usize) -> (usize, usize) {
    let block = extension_offset(capacity as u32);
    (block + CONSUMER_FLAGS, block + PRODUCER_FLAGS)
}

fn pair(tag: &str, capacity: usize) -> (String, ShmProducer, ShmConsumer) {
    let name = unique_name(tag);
    let mut producer = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, capacity)
        .unwrap();
    let mut consumer = ShmConsumer::open(&name).unwrap();
    producer.set_peer_check_interval(NO_SLICE);
    consumer.set_peer_check_interval(NO_SLICE);
    (name, producer, consumer)
}

#[test]
fn a_sleeping_read_is_woken_by_a_write() {
    let (name, mut producer, mut consumer) = pair("wakeread", 4096);
    let (consumer_flag, _) = flags_at(4096);
    let raw = Raw::open(&name);
    let (tid, reader) = spawn_reporting_tid(move || {
        let message = consumer.read(HANG_GUARD).map(ReadGrant::into_vec);
        (message, consumer.wait_stats())
    });
    wait_until_asleep(&raw, tid, Some(consumer_flag));
    producer.try_write(b"wake up").unwrap();
    let (message, stats) = reader.join().unwrap();
    assert_eq!(message.unwrap(), b"wake up");
    assert_eq!(stats.sleeps, 1, "{stats:?}");
    assert_eq!(
        stats.full_slices, 0,
        "the write must end the sleep: {stats:?}"
    );
    assert_eq!(raw.bytes(consumer_flag as u64, 1)[0] & FLAG_SLEEPING, 0);
}

#[test]
fn a_sleeping_batch_read_is_woken_by_a_batch_write() {
    let (name, mut producer, mut consumer) = pair("wakebatch", 4096);
    let (consumer_flag, _) = flags_at(4096);
    let raw = Raw::open(&name);
    let (tid, reader) = spawn_reporting_tid(move || {
        let mut seen = Vec::new();
        let count = consumer.read_batch(10, HANG_GUARD, |m| seen.push(m.to_vec()));
        (count, seen, consumer.wait_stats())
    });
    wait_until_asleep(&raw, tid, Some(consumer_flag));
    producer.try_write_batch(&[b"one", b"two"]).unwrap();
    let (count, seen, stats) = reader.join().unwrap();
    assert_eq!(count.unwrap(), 2);
    assert_eq!(seen, [b"one".to_vec(), b"two".to_vec()]);
    assert_eq!((stats.sleeps, stats.full_slices), (1, 0), "{stats:?}");
}

#[test]
fn a_zero_copy_commit_wakes_a_sleeping_read() {
    let (name, mut producer, mut consumer) = pair("wakegrant", 4096);
    let (consumer_flag, _) = flags_at(4096);
    let raw = Raw::open(&name);
    let (tid, reader) = spawn_reporting_tid(move || {
        let message = consumer.read(HANG_GUARD).map(|grant| {
            let (a, b) = grant.as_slices();
            let message = [a, b].concat();
            grant.commit();
            message
        });
        (message, consumer.wait_stats())
    });
    wait_until_asleep(&raw, tid, Some(consumer_flag));
    let mut grant = producer.try_reserve(4).unwrap();
    grant.copy_from_slice(b"zero");
    grant.commit();
    let (message, stats) = reader.join().unwrap();
    assert_eq!(message.unwrap(), b"zero");
    assert_eq!((stats.sleeps, stats.full_slices), (1, 0), "{stats:?}");
}

#[test]
fn a_producer_sleeping_on_a_full_ring_is_woken_by_a_read() {
    let (name, mut producer, mut consumer) = pair("wakewrite", 64);
    let (_, producer_flag) = flags_at(64);
    let raw = Raw::open(&name);
    while producer.try_write(&[7; 20]).is_ok() {}
    let (tid, writer) = spawn_reporting_tid(move || {
        let written = producer.write(&[8; 20], HANG_GUARD);
        (written, producer.wait_stats())
    });
    wait_until_asleep(&raw, tid, Some(producer_flag));
    assert_eq!(try_take(&mut consumer), Some(vec![7; 20]));
    let (written, stats) = writer.join().unwrap();
    written.unwrap();
    assert_eq!((stats.sleeps, stats.full_slices), (1, 0), "{stats:?}");
    assert_eq!(raw.bytes(producer_flag as u64, 1)[0] & FLAG_SLEEPING, 0);
}

#[test]
fn waiting_until_empty_is_woken_by_the_last_read() {
    let (name, mut producer, mut consumer) = pair("wakeempty", 4096);
    let (_, producer_flag) = flags_at(4096);
    let raw = Raw::open(&name);
    producer.try_write(b"last").unwrap();
    let (tid, waiter) = spawn_reporting_tid(move || {
        let drained = producer.wait_until_empty(HANG_GUARD);
        (drained, producer.wait_stats())
    });
    wait_until_asleep(&raw, tid, Some(producer_flag));
    assert_eq!(try_take(&mut consumer), Some(b"last".to_vec()));
    let (drained, stats) = waiter.join().unwrap();
    drained.unwrap();
    assert_eq!((stats.sleeps, stats.full_slices), (1, 0), "{stats:?}");
}

#[test]
fn a_producer_that_never_wakes_anyone_is_polled() {
    // The original library's producer: flag byte 0, plain stores, no wake-ups. A blocked read
    // must still see its message, by sleeping in short slices.
    let name = unique_name("nowake");
    let raw = Raw::create_ring(&name, 64, 0);
    let mut consumer = ShmConsumer::open(&name).unwrap();
    consumer.set_peer_check_interval(NO_SLICE); // irrelevant: this producer is not one of ours
    let (tid, reader) = spawn_reporting_tid(move || {
        let message = consumer.read(HANG_GUARD).map(ReadGrant::into_vec);
        (message, consumer.wait_stats())
    });
    wait_until_asleep(&raw, tid, None);
    raw.push_record(64, 0, b"from the original library");
    let (message, stats) = reader.join().unwrap();
    assert_eq!(message.unwrap(), b"from the original library");
    assert!(stats.sleeps >= 1 && stats.full_slices >= 1, "{stats:?}");
}

#[test]
fn a_consumer_gone_before_a_blocked_write_is_reported_at_once() {
    let (_name, mut producer, consumer) = pair("gonewrite", 64);
    while producer.try_write(&[1; 20]).is_ok() {}
    drop(consumer);
    producer.set_peer_check_interval(Duration::from_millis(1));
    assert_eq!(
        producer.write(&[2; 20], HANG_GUARD),
        Err(WriteTimeoutError::PeerGone)
    );
    assert_eq!(
        producer.wait_until_empty(HANG_GUARD),
        Err(WaitTimeoutError::PeerGone)
    );
}

#[test]
fn a_reader_drains_a_gone_producer_before_saying_so() {
    let (name, mut producer, mut consumer) = pair("gonedrain", 4096);
    producer.try_write(b"one").unwrap();
    producer.try_write(b"two").unwrap();
    producer.unlink().unwrap();
    drop(producer);
    consumer.set_peer_check_interval(Duration::from_millis(1));
    assert_eq!(consumer.read(HANG_GUARD).unwrap().into_vec(), b"one");
    assert_eq!(consumer.read(HANG_GUARD).unwrap().into_vec(), b"two");
    assert_eq!(
        consumer.read(HANG_GUARD).map(ReadGrant::into_vec),
        Err(ReadTimeoutError::PeerGone)
    );
    assert_eq!(
        try_take(&mut consumer),
        None,
        "try_read only says: nothing now"
    );
    assert!(!exists(&name));
}

/// Round trips of the wake-up stress tests.
const ROUND_TRIPS: u64 = 2000;

/// How long a sleep may last in the stress tests before it counts as a missed wake-up: far
/// longer than any wake-up takes on a loaded machine, far shorter than the hang guard.
const MISSED_WAKE: Duration = Duration::from_secs(5);

/// Waits (spinning, yielding the CPU) until the flag byte at `offset` says its end sleeps, so
/// that the next publish lands while the sleeper is between raising its flag and entering
/// `FUTEX_WAIT`, or already in it: the window in which a wake-up can be lost.
fn until_flagged_asleep(raw: &Raw, offset: usize) {
    let deadline = std::time::Instant::now() + HANG_GUARD;
    while raw.bytes(offset as u64, 1)[0] & FLAG_SLEEPING == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the other end never slept"
        );
        std::thread::yield_now();
    }
}

#[test]
fn no_publish_misses_a_sleeping_reader_over_many_round_trips() {
    let (name, mut producer, mut consumer) = pair("stresspublish", 4096);
    consumer.set_peer_check_interval(MISSED_WAKE);
    let (consumer_flag, _) = flags_at(4096);
    let raw = Raw::open(&name);
    let reader = std::thread::spawn(move || {
        for i in 0..ROUND_TRIPS {
            assert_eq!(
                consumer.read(HANG_GUARD).unwrap().into_vec(),
                i.to_le_bytes()
            );
        }
        consumer.wait_stats()
    });
    for i in 0..ROUND_TRIPS {
        // The reader clears its flag before it reads, so once the last message is read, a set
        // flag means the reader is going to sleep again.
        while !producer.is_empty() {
            std::thread::yield_now();
        }
        until_flagged_asleep(&raw, consumer_flag);
        producer.try_write(&i.to_le_bytes()).unwrap();
    }
    let stats = reader.join().unwrap();
    assert!(stats.sleeps >= ROUND_TRIPS, "{stats:?}");
    assert_eq!(
        stats.full_slices, 0,
        "a sleep ran its {MISSED_WAKE:?} slice out: a wake-up was lost ({stats:?})"
    );
}

#[test]
fn no_release_misses_a_sleeping_writer_over_many_round_trips() {
    // Two 28-byte messages fill a 64-byte ring, so every further write sleeps until a read.
    let (name, mut producer, mut consumer) = pair("stressrelease", 64);
    producer.set_peer_check_interval(MISSED_WAKE);
    let (_, producer_flag) = flags_at(64);
    let raw = Raw::open(&name);
    let message = |i: u64| [i.to_le_bytes().as_slice(), &[7; 20]].concat();
    let writer = std::thread::spawn(move || {
        for i in 0..ROUND_TRIPS {
            producer.write(&message(i), HANG_GUARD).unwrap();
        }
        producer.wait_stats()
    });
    for i in 0..ROUND_TRIPS {
        if i + 2 < ROUND_TRIPS {
            // The writer clears its flag before it writes, so once the ring is full again, a
            // set flag means the writer is going to sleep again.
            while consumer.readable_bytes() < 64 {
                std::thread::yield_now();
            }
            until_flagged_asleep(&raw, producer_flag);
        }
        assert_eq!(consumer.read(HANG_GUARD).unwrap().into_vec(), message(i));
    }
    let stats = writer.join().unwrap();
    assert!(stats.sleeps >= ROUND_TRIPS - 2, "{stats:?}");
    assert_eq!(
        stats.full_slices, 0,
        "a sleep ran its {MISSED_WAKE:?} slice out: a wake-up was lost ({stats:?})"
    );
}
