//! A peer that breaks the protocol: garbage in the header words and length prefixes, written
//! straight into the segment. Our ends must answer with the documented errors (or treat a bad
//! index as "full"/"empty"), never panic, never read or write outside the mapping, never hand
//! out a message that was not published whole.

use std::time::Duration;

use proptest::prelude::*;
use shm_ring::{
    Corruption, OpenError, ProducerOptions, ReadGrant, ReadTimeoutError, ShmConsumer, TryReadError,
    TryWriteError, WriteTimeoutError,
};
use support::raw::Raw;
use support::segment::{object_size, unique_name};
use support::try_take;

const CAPACITY: u32 = 64;

/// A hand-made ring (head = tail = `start`), removed when the `Raw` is dropped, and a
/// consumer of it.
fn hand_made(tag: &str, start: u32) -> (Raw, ShmConsumer) {
    let name = unique_name(tag);
    let raw = Raw::create_ring(&name, CAPACITY, start);
    let consumer = ShmConsumer::open(&name).expect("open hand-made ring");
    (raw, consumer)
}

#[test]
fn a_head_more_than_capacity_ahead_reads_as_empty_until_it_is_sane() {
    let (raw, mut c) = hand_made("tornhead", 1000);
    raw.put(CAPACITY, 1000, &[3, 0, 0, 0, b'a', b'b', b'c']);
    for torn in [0, 999, 1000 + CAPACITY + 1, u32::MAX] {
        raw.set_word(0, torn);
        assert_eq!(try_take(&mut c), None, "head {torn}");
        assert_eq!(
            c.read(Duration::from_millis(2)).map(ReadGrant::into_vec),
            Err(ReadTimeoutError::Timeout)
        );
    }
    raw.set_word(0, 1007);
    assert_eq!(try_take(&mut c), Some(b"abc".to_vec()));
}

#[test]
fn a_head_moved_back_behind_what_was_read_is_ignored() {
    let (raw, mut c) = hand_made("rewind", 0);
    let head = raw.push_record(CAPACITY, 0, b"one");
    raw.push_record(CAPACITY, head, b"two");
    assert_eq!(try_take(&mut c), Some(b"one".to_vec()));
    raw.set_word(0, 3); // behind our tail (7)
    assert_eq!(try_take(&mut c), Some(b"two".to_vec()));
    assert_eq!(try_take(&mut c), None);
}

#[test]
fn a_length_prefix_larger_than_the_ring_is_corruption() {
    let (raw, mut c) = hand_made("biglen", 500);
    raw.put(CAPACITY, 500, &61u32.to_le_bytes());
    raw.set_word(0, 500 + 64);
    let corruption = Corruption::LengthTooLarge {
        tail: 500,
        length: 61,
        max: 60,
    };
    let expected = TryReadError::Corrupted(corruption);
    // Every form reports it, and keeps reporting it: nothing is consumed.
    for _ in 0..2 {
        assert_eq!(c.try_read().map(ReadGrant::into_vec), Err(expected));
        assert_eq!(c.try_read_batch(8, |_| ()), Err(expected));
        assert_eq!(
            c.read(Duration::from_secs(1)).map(ReadGrant::into_vec),
            Err(ReadTimeoutError::Corrupted(corruption))
        );
        assert_eq!(
            c.read_batch(8, Duration::from_secs(1), |_| ()),
            Err(ReadTimeoutError::Corrupted(corruption))
        );
    }
    assert_eq!(raw.word(4), 500, "tail unchanged");
    assert_eq!(
        expected.to_string(),
        "corrupted ring: the record at index 500 claims 61 payload bytes, more than the 60 this ring can hold"
    );
    for huge in [u32::MAX, 0x8000_0000, 65] {
        raw.put(CAPACITY, 500, &huge.to_le_bytes());
        assert!(matches!(
            c.try_read(),
            Err(TryReadError::Corrupted(Corruption::LengthTooLarge { length, .. })) if length == huge
        ));
    }
}

#[test]
fn a_length_prefix_past_the_published_bytes_is_corruption() {
    let (raw, mut c) = hand_made("pastlen", 0);
    raw.put(CAPACITY, 0, &20u32.to_le_bytes());
    raw.set_word(0, 10); // only 6 payload bytes published
    assert_eq!(
        c.try_read().map(ReadGrant::into_vec),
        Err(TryReadError::Corrupted(
            Corruption::LengthExceedsPublished {
                tail: 0,
                length: 20,
                readable: 10
            }
        ))
    );
    // Once the rest is published the record is fine: nothing was consumed meanwhile.
    raw.put(CAPACITY, 4, &[7; 20]);
    raw.set_word(0, 24);
    assert_eq!(try_take(&mut c), Some(vec![7; 20]));
}

#[test]
fn fewer_published_bytes_than_a_prefix_is_corruption() {
    for published in 1..4 {
        let (raw, mut c) = hand_made("shortpre", 90);
        raw.set_word(0, 90 + published);
        assert_eq!(
            c.try_read().map(ReadGrant::into_vec),
            Err(TryReadError::Corrupted(Corruption::TruncatedPrefix {
                tail: 90,
                readable: published
            }))
        );
    }
}

#[test]
fn a_zero_length_record_is_delivered_as_an_empty_message_by_every_form() {
    let (raw, mut c) = hand_made("zero", u32::MAX - 2);
    let mut head = u32::MAX - 2;
    for _ in 0..6 {
        head = raw.push_record(CAPACITY, head, b"");
    }
    head = raw.push_record(CAPACITY, head, b"after");
    assert_eq!(try_take(&mut c), Some(Vec::new()));
    let grant = c.try_read().unwrap();
    assert!(grant.is_empty());
    assert_eq!(grant.into_slice(&mut []).unwrap(), 0);
    let grant = c.read(Duration::from_secs(1)).unwrap();
    assert_eq!(grant.as_slices(), (&[][..], &[][..]));
    grant.commit();
    assert_eq!(
        c.try_read().unwrap().into_values::<u64>().unwrap(),
        Vec::<u64>::new()
    );
    assert!(c.try_read().unwrap().into_value::<()>().is_ok());
    let mut lens = Vec::new();
    assert_eq!(c.try_read_batch(10, |m| lens.push(m.len())).unwrap(), 2);
    assert_eq!(lens, [0, 5]);
    assert_eq!(raw.word(4), head);
}

#[test]
fn a_capacity_word_rewritten_after_open_changes_nothing() {
    let (raw, mut c) = hand_made("recap", 0);
    let mut head = 0;
    for round in 0..40u8 {
        raw.set_word(8, [1 << 31, 3, 0, u32::MAX][usize::from(round % 4)]);
        let message = vec![round; usize::from(round % 50) + 1];
        head = raw.push_record(CAPACITY, head, &message);
        assert_eq!(try_take(&mut c), Some(message));
    }
}

#[test]
fn a_tail_that_cannot_be_right_reads_as_full() {
    let name = unique_name("torntail");
    let mut p = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, CAPACITY as usize)
        .unwrap();
    let raw = Raw::open(&name);
    p.try_write(&[1; 20]).unwrap(); // head = 24
    let data_before = raw.bytes(16, CAPACITY as usize);
    // Ahead of head, absurdly far behind, or torn to zero while head is past 2^32 - capacity:
    // none is believed.
    for tail in [25, 24 + 1000, u32::MAX, 0x8000_0000] {
        raw.set_word(4, tail);
        assert_eq!(
            p.try_write(&[2; 40]),
            Err(TryWriteError::Full),
            "tail {tail}"
        );
        assert_eq!(
            p.write(&[2; 40], Duration::from_millis(2)),
            Err(WriteTimeoutError::Timeout)
        );
    }
    assert_eq!(
        raw.bytes(16, CAPACITY as usize),
        data_before,
        "refused writes wrote nothing"
    );
    assert_eq!(raw.word(0), 24, "head unchanged");
    // A sane tail again: the space is free.
    raw.set_word(4, 24);
    p.try_write(&[2; 40]).unwrap();
}

/// What a read came to: a message, nothing (none waiting, or the grant refused to copy it
/// and left it), or an error of the read itself.
type Outcome = Result<Option<Vec<u8>>, ReadTimeoutError>;

/// Reads with `try_read` and takes the message out of its grant in one of four ways: a new
/// vector, a caller's slice, in place, or as plain-data values.
fn try_read_by(c: &mut ShmConsumer, form: u8, slice: &mut [u8]) -> Outcome {
    let grant = match c.try_read() {
        Ok(grant) => grant,
        Err(TryReadError::Empty) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(match form % 4 {
        0 => Some(grant.into_vec()),
        1 => grant.into_slice(slice).ok().map(|n| slice[..n].to_vec()),
        2 => {
            let (a, b) = grant.as_slices();
            let message = [a, b].concat();
            grant.commit();
            Some(message)
        }
        _ => grant
            .into_values::<u16>()
            .ok()
            .map(|values| bytemuck::cast_slice(&values).to_vec()),
    })
}

/// Everything a consumer may answer when the producer side is hostile.
fn acceptable_read(result: &Outcome, capacity: usize) -> bool {
    match result {
        Ok(Some(message)) => message.len() <= capacity - 4,
        Ok(None) | Err(ReadTimeoutError::Corrupted(_)) | Err(ReadTimeoutError::Timeout) => true,
        // A forged producer flag byte can claim a liveness lock nobody holds.
        Err(ReadTimeoutError::PeerGone) => true,
        Err(other) => panic!("undocumented error {other:?}"),
    }
}

/// One step of an adversary that keeps writing while we read.
#[derive(Debug, Clone)]
enum Attack {
    Head(u32),
    Tail(u32),
    Capacity(u32),
    Reserved(u32),
    Bytes(u16, Vec<u8>),
    Read(u8),
}

fn attack() -> impl Strategy<Value = Attack> {
    prop_oneof![
        1 => any::<u32>().prop_map(Attack::Head),
        1 => any::<u32>().prop_map(Attack::Tail),
        1 => any::<u32>().prop_map(Attack::Capacity),
        1 => any::<u32>().prop_map(Attack::Reserved),
        1 => (any::<u16>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, b)| Attack::Bytes(at, b)),
        3 => any::<u8>().prop_map(Attack::Read),
    ]
}

/// Header words that are often almost right: a valid capacity, a head a little ahead of the
/// tail. Fully random words would nearly always stop at `open`.
fn header() -> impl Strategy<Value = [u32; 4]> {
    let capacity = prop_oneof![3 => (3u32..=9).prop_map(|shift| 1 << shift), 1 => any::<u32>()];
    (any::<u32>(), capacity, any::<u32>()).prop_flat_map(|(tail, capacity, reserved)| {
        let head = prop_oneof![
            3 => (0u32..=600).prop_map(move |ahead| tail.wrapping_add(ahead)),
            1 => any::<u32>(),
        ];
        head.prop_map(move |head| [head, tail, capacity, reserved])
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Arbitrary header words, data and segment size, then an adversary interleaving writes
    /// with our reads: only documented outcomes, never a panic or an access outside the
    /// mapping (every access is bounds-checked, so one would panic here).
    #[test]
    fn a_hostile_segment_gives_only_documented_outcomes(
        size in prop_oneof![1 => 0u64..16, 6 => 16u64..600],
        words in header(),
        data in prop::collection::vec(any::<u8>(), 0..600),
        attacks in prop::collection::vec(attack(), 0..40),
    ) {
        let name = unique_name("hostile");
        // Windows has no empty mapping and keeps mappings in whole pages.
        let size = if cfg!(windows) { object_size(size.max(1)) } else { size };
        let raw = Raw::create(&name, size);
        let header: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let len = size as usize;
        let image: Vec<u8> = header.iter().chain(&data).copied().take(len).collect();
        raw.set_bytes(0, &image);
        let opened = ShmConsumer::open(&name);
        let mut c = match opened {
            Ok(c) => c,
            Err(e) => {
                prop_assert!(
                    matches!(e, OpenError::NotReady { .. } | OpenError::TooSmall { .. }
                        | OpenError::InvalidCapacity { .. } | OpenError::CapacityExceedsSize { .. }),
                    "undocumented open error {e:?}"
                );
                return Ok(());
            }
        };
        let capacity = c.capacity();
        prop_assert!(16 + capacity as u64 <= size);
        let mut slice = [0u8; 32];
        for attack in attacks {
            match attack {
                Attack::Head(v) => raw.set_word(0, v),
                Attack::Tail(v) => raw.set_word(4, v),
                Attack::Capacity(v) => raw.set_word(8, v),
                Attack::Reserved(v) => raw.set_word(12, v),
                Attack::Bytes(at, bytes) => {
                    let at = 16 + u64::from(at) % (size - 16).max(1);
                    let room = (size - at) as usize;
                    raw.set_bytes(at, &bytes[..bytes.len().min(room)]);
                }
                Attack::Read(form) => {
                    let result = match form % 6 {
                        0..=3 => try_read_by(&mut c, form, &mut slice),
                        4 => {
                            let mut all = Vec::new();
                            let read = c.try_read_batch(8, |m| all.push(m.len()));
                            assert!(all.iter().all(|&l| l <= capacity - 4));
                            match read {
                                Ok(_) | Err(TryReadError::Empty) => Ok(None),
                                Err(e) => Err(e.into()),
                            }
                        }
                        _ => match c.read(Duration::ZERO) {
                            Ok(grant) => Ok(Some(grant.into_vec())),
                            Err(ReadTimeoutError::Timeout) => Ok(None),
                            Err(e) => Err(e),
                        },
                    };
                    prop_assert!(acceptable_read(&result, capacity), "{result:?}");
                }
            }
            let readable = c.readable_bytes();
            prop_assert!(readable <= capacity, "readable {readable} > capacity {capacity}");
        }
    }

    /// A consumer that writes arbitrary tails: the producer only ever writes, or says full.
    #[test]
    fn a_hostile_tail_never_breaks_the_producer(
        start in any::<u32>(),
        steps in prop::collection::vec((any::<bool>(), any::<u32>(), 1usize..40), 1..60),
    ) {
        let name = unique_name("hostiletail");
        let mut p = ProducerOptions::new()
            .start_index(start)
            .unlink_on_drop(true)
            .create(&name, 64)
            .unwrap();
        let raw = Raw::open(&name);
        let mut head = start;
        for (set_tail, tail, len) in steps {
            if set_tail {
                raw.set_word(4, tail);
            }
            match p.try_write(&vec![0xAB; len]) {
                Ok(()) => head = head.wrapping_add(4 + len as u32),
                Err(TryWriteError::Full) => {}
                Err(e) => prop_assert!(false, "unexpected {e:?}"),
            }
            prop_assert_eq!(raw.word(0), head);
            prop_assert!(p.writable_bytes() <= 64);
            prop_assert!(p.readable_bytes() <= 64);
        }
    }
}

/// Runs `adversary` on another thread, over and over until `ours` returns.
fn against<T>(adversary: impl Fn(u64) + Send + 'static, ours: impl FnOnce() -> T) -> T {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut step = 0u64;
        while !flag.load(Ordering::Relaxed) {
            adversary(step);
            step += 1;
        }
    });
    let result = ours();
    stop.store(true, Ordering::Relaxed);
    thread.join().expect("the adversary thread");
    result
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// An adversary thread rewrites header words and data bytes while our consumer reads,
    /// at the same time rather than in turns: still only documented outcomes.
    #[test]
    fn a_consumer_reading_while_an_adversary_writes_gives_only_documented_outcomes(
        seed in any::<u64>(),
        reads in 200usize..2000,
    ) {
        let name = unique_name("racing");
        let raw = Raw::create_ring(&name, 256, seed as u32);
        let writer = Raw::open(&name);
        let mut consumer = ShmConsumer::open(&name).unwrap();
        let outcomes = against(
            move |step| {
                // A cheap deterministic stream of "random" values from the seed.
                let x = seed.wrapping_add(step).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let value = (x >> 32) as u32;
                match x % 5 {
                    0 => writer.set_word(0, value),
                    1 => writer.set_word(0, (seed as u32).wrapping_add(value % 300)),
                    2 => writer.set_word(4, value),
                    3 => writer.set_word(8, value),
                    _ => writer.set_bytes(16 + u64::from(value % 252), &value.to_le_bytes()),
                }
            },
            || {
                let mut slice = [0u8; 64];
                (0..reads)
                    .map(|i| match i % 5 {
                        4 => {
                            let mut lens = Vec::new();
                            let read = consumer.try_read_batch(4, |m| lens.push(m.len()));
                            assert!(lens.iter().all(|&l| l <= 252), "oversized message {lens:?}");
                            match read {
                                Ok(_) | Err(TryReadError::Empty) => Ok(None),
                                Err(e) => Err(e.into()),
                            }
                        }
                        form => try_read_by(&mut consumer, form as u8, &mut slice),
                    })
                    .collect::<Vec<_>>()
            },
        );
        for outcome in &outcomes {
            prop_assert!(acceptable_read(outcome, 256), "{outcome:?}");
        }
        prop_assert!(consumer.readable_bytes() <= 256);
        drop(raw);
    }

    /// An adversary thread rewrites the tail while our producer writes: it only ever writes
    /// whole records or says full, and keeps its own head.
    #[test]
    fn a_producer_writing_while_an_adversary_moves_the_tail_stays_sane(
        seed in any::<u64>(),
        writes in 200usize..2000,
    ) {
        let name = unique_name("racingtail");
        let mut producer = ProducerOptions::new()
            .start_index(seed as u32)
            .unlink_on_drop(true)
            .create(&name, 256)
            .unwrap();
        let adversary = Raw::open(&name);
        let results = against(
            move |step| {
                let x = seed.wrapping_add(step).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                adversary.set_word(4, (x >> 32) as u32);
            },
            || {
                (0..writes)
                    .map(|i| producer.try_write(&vec![0x5A; i % 60 + 1]))
                    .collect::<Vec<_>>()
            },
        );
        for result in &results {
            prop_assert!(matches!(result, Ok(()) | Err(TryWriteError::Full)), "{result:?}");
        }
        prop_assert!(producer.writable_bytes() <= 256);
    }
}

/// An object far larger than its header's capacity: the consumer maps and pre-faults only the
/// header, the data area and the extension block, never the rest of what the object claims.
// Sparse objects and their allocated blocks are a file system's notion: Windows commits a
// pagefile-backed mapping whole when it is created.
#[cfg(unix)]
#[test]
fn a_huge_sparse_object_costs_only_what_its_capacity_needs() {
    const HUGE: u64 = 1 << 30;
    let name = unique_name("hugesparse");
    let raw = Raw::create(&name, HUGE);
    raw.set_word(8, CAPACITY);
    raw.set_word(12, u32::from_le_bytes(*b"SRX1"));
    let before = raw.allocated();
    let mut consumer = ShmConsumer::open(&name).expect("open a sparse 1 GiB object");
    assert_eq!(consumer.capacity(), CAPACITY as usize);
    assert_eq!(try_take(&mut consumer), None);
    let grown = raw.allocated() - before;
    // One page for the header, data area and extension block; a few pages of slack for the
    // file system's own granularity.
    assert!(
        grown <= 64 * 1024,
        "opening a 1 GiB object with a {CAPACITY}-byte ring allocated {grown} bytes"
    );
    // What the consumer maps ends with the ring: writing the rest of the object from outside
    // is invisible to it, and the ring still works.
    raw.set_bytes(HUGE - 1, &[0xff]);
    let head = raw.push_record(CAPACITY, 0, b"in range");
    assert_eq!(head, 12);
    assert_eq!(try_take(&mut consumer), Some(b"in range".to_vec()));
}
