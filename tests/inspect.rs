//! `shm_ring::inspect` and `shm_ring::list`: what they report about segments of every kind,
//! hostile ones included, and that looking changes nothing.

// Some cases need Linux and say so with a cfg; what only they use is unused elsewhere.
#![cfg_attr(not(target_os = "linux"), allow(unused_imports, dead_code))]

use std::time::Duration;

use shm_ring::{Corruption, PeerState, SegmentKind, ShmConsumer, ShmProducer, Verdict};
use support::raw::Raw;
use support::segment::{unique_name, Removes};

#[test]
fn a_hand_made_ring_of_the_original_layout_is_recognised_with_its_messages() {
    let name = unique_name("ins-orig");
    let raw = Raw::create_ring(&name, 64, 40);
    let mut head = 40;
    for payload in [&b"abc"[..], b"", b"0123456789"] {
        head = raw.push_record(64, head, payload);
    }
    let info = shm_ring::inspect(&name).unwrap();
    assert_eq!(info.kind, SegmentKind::OriginalRing);
    assert_eq!(info.verdict, Verdict::Valid);
    assert_eq!(info.extension, None);
    assert_eq!(
        (info.producer, info.consumer),
        (PeerState::Unknown, PeerState::Unknown)
    );
    assert_eq!(info.readable_bytes, Some(head - 40));
    assert_eq!(info.messages.unwrap().sizes, [3, 0, 10]);
    assert_eq!(raw.word(4), 40, "tail moved");
}

// Liveness is told by open-file-description locks, which only Linux has.
#[cfg(target_os = "linux")]
#[test]
fn inspecting_moves_no_index_and_takes_no_lock() {
    let name = unique_name("ins-still");
    let mut producer = ShmProducer::create(&name, 4096).unwrap();
    let _removes = Removes(name.clone());
    for size in [1usize, 100, 1000] {
        producer.try_write(&vec![7; size]).unwrap();
    }
    let info = shm_ring::inspect(&name).unwrap();
    assert_eq!(info.messages.unwrap().sizes, [1, 100, 1000]);
    assert_eq!(info.producer, PeerState::Alive);
    assert_eq!(info.consumer, PeerState::Unknown);
    // The consumer's lock was not taken and the messages are all still there.
    let mut consumer = ShmConsumer::open(&name).unwrap();
    for size in [1usize, 100, 1000] {
        let message = consumer.read(Duration::from_secs(10)).unwrap().into_vec();
        assert_eq!(message.len(), size);
    }
    let info = shm_ring::inspect(&name).unwrap();
    assert_eq!(info.consumer, PeerState::Alive);
    assert_eq!(info.readable_bytes, Some(0));
    drop(consumer);
    assert_eq!(shm_ring::inspect(&name).unwrap().consumer, PeerState::Gone);
    // The producer's lock is still its own: removal is still refused.
    assert!(shm_ring::remove(&name).is_err());
    drop(producer);
    assert_eq!(shm_ring::inspect(&name).unwrap().producer, PeerState::Gone);
}

/// Each hostile header or record gives its own verdict, never a panic.
// Objects of a few bytes: a Windows mapping is whole pages, so these sizes do not exist there
// (tests/hostile.rs checks the same refusals at open on Windows).
#[cfg(unix)]
#[test]
fn hostile_segments_give_a_verdict() {
    let name = unique_name("ins-hostile");
    let check = |raw: Raw, expected: Verdict| {
        let info = shm_ring::inspect(&name).unwrap();
        assert_eq!(info.verdict, expected, "{info:?}");
        assert!(!info.verdict.to_string().is_empty());
        drop(raw);
    };
    check(Raw::create(&name, 0), Verdict::NotReady);
    check(Raw::create(&name, 7), Verdict::TooSmall { size: 7 });
    check(Raw::create(&name, 64), Verdict::NotReady);
    let raw = Raw::create(&name, 64);
    raw.set_word(8, 100);
    check(raw, Verdict::InvalidCapacity { capacity: 100 });
    let raw = Raw::create(&name, 64);
    raw.set_word(8, 1 << 31);
    check(
        raw,
        Verdict::CapacityExceedsSize {
            capacity: 1 << 31,
            size: 64,
        },
    );
    let raw = Raw::create_ring(&name, 64, 0);
    raw.set_word(12, 0xdead_beef);
    check(
        raw,
        Verdict::UnknownReserved {
            reserved: 0xdead_beef,
        },
    );
    let raw = Raw::create_ring(&name, 64, 0);
    raw.set_word(12, u32::from_le_bytes(*b"SRX1"));
    check(
        raw,
        Verdict::ExtensionOutsideObject {
            size: 80,
            needed: 192,
        },
    );
    let raw = Raw::create_ring(&name, 64, 0);
    raw.set_word(0, 65);
    check(
        raw,
        Verdict::IndicesApart {
            head: 65,
            tail: 0,
            capacity: 64,
        },
    );
    let raw = Raw::create_ring(&name, 64, 0);
    raw.put(64, 0, &1000u32.to_le_bytes());
    raw.set_word(0, 8);
    check(
        raw,
        Verdict::Corrupted(Corruption::LengthTooLarge {
            tail: 0,
            length: 1000,
            max: 60,
        }),
    );
    let raw = Raw::create_ring(&name, 64, 0);
    let head = raw.push_record(64, 0, b"fine");
    raw.put(64, head, &20u32.to_le_bytes());
    raw.set_word(0, head + 10);
    check(
        raw,
        Verdict::Corrupted(Corruption::LengthExceedsPublished {
            tail: 8,
            length: 20,
            readable: 10,
        }),
    );
    let raw = Raw::create_ring(&name, 64, u32::MAX - 1);
    raw.set_word(0, 1); // 3 bytes published, across the wrap of the indices
    check(
        raw,
        Verdict::Corrupted(Corruption::TruncatedPrefix {
            tail: u32::MAX - 1,
            readable: 3,
        }),
    );
    let raw = Raw::create(&name, 1 << 40); // sparse: costs nothing unless mapped whole
    raw.set_word(8, 64);
    check(raw, Verdict::Valid);
}

#[test]
fn records_that_wrap_around_the_data_area_are_walked() {
    let name = unique_name("ins-wrap");
    let raw = Raw::create_ring(&name, 64, 50);
    let head = raw.push_record(64, 50, &[1; 20]); // crosses the end of the data area
    let head = raw.push_record(64, head, &[2; 10]);
    let info = shm_ring::inspect(&name).unwrap();
    assert_eq!(info.verdict, Verdict::Valid);
    assert_eq!(info.messages.unwrap().sizes, [20, 10]);
    assert_eq!(info.readable_bytes, Some(head - 50));
}

// Only Linux lists its shared memory, in /dev/shm.
#[cfg(target_os = "linux")]
#[test]
fn list_finds_segments_and_missing_names_are_not_found() {
    let name = unique_name("ins-list");
    let producer = ShmProducer::create(&name, 4096).unwrap();
    let _removes = Removes(name.clone());
    let all = shm_ring::list().unwrap();
    let (_, info) = all.iter().find(|(listed, _)| *listed == name).unwrap();
    assert_eq!(info.as_ref().unwrap().kind, SegmentKind::ExtendedRing);
    drop(producer);
    shm_ring::remove(&name).unwrap();
    assert!(matches!(
        shm_ring::inspect(&name),
        Err(shm_ring::OpenError::NotFound { .. })
    ));
}
