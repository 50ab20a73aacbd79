//! Model checking of the ring's publish/consume ordering with loom.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release --test loom`. Loom explores every
//! interleaving of the two threads (and every value the weak memory model lets a load see)
//! and fails on a data race: if the producer published `head` before its copy, or the
//! consumer released `tail` before its read, some interleaving would let the other side touch
//! a byte still in use, and loom reports it.
#![cfg(loom)]

use loom::thread;
use shm_ring::ring::heap_pair;
use shm_ring::TryWriteError;

/// The message the tests send as number `i`: `i + 1` bytes of value `i`.
fn message(i: u8) -> Vec<u8> {
    vec![i; usize::from(i) + 1]
}

#[test]
fn records_arrive_whole_and_in_order_while_space_is_reused() {
    loom::model(|| {
        // 8 bytes hold one record of these sizes at a time, so every write after the first
        // reuses space the consumer has just released, across the 2^32 wrap.
        let (mut producer, mut consumer) = heap_pair(8, u32::MAX - 5);
        let writer = thread::spawn(move || {
            for i in 0..3 {
                loop {
                    match producer.try_write(&message(i)) {
                        Ok(()) => break,
                        Err(TryWriteError::Full) => thread::yield_now(),
                        Err(e) => panic!("write {i}: {e}"),
                    }
                }
            }
        });
        for i in 0..3 {
            let got = loop {
                match consumer.try_read().expect("no corruption") {
                    Some(msg) => break msg,
                    None => thread::yield_now(),
                }
            };
            assert_eq!(got, message(i));
        }
        writer.join().unwrap();
    });
}

#[test]
fn a_batch_becomes_visible_all_at_once() {
    loom::model(|| {
        let (mut producer, mut consumer) = heap_pair(16, 0);
        let writer = thread::spawn(move || {
            producer.stage(&message(0)).unwrap();
            producer.stage(&message(1)).unwrap();
            let _ = producer.publish();
        });
        let first = loop {
            match consumer.try_read().expect("no corruption") {
                Some(msg) => break msg,
                None => thread::yield_now(),
            }
        };
        assert_eq!(first, message(0));
        // Published with the same store as the first, so it must be there already.
        assert_eq!(
            consumer.try_read().expect("no corruption"),
            Some(message(1))
        );
        writer.join().unwrap();
    });
}
