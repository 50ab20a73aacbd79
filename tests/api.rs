//! The public API on real shared-memory segments: every read and write form, the options, and
//! every error a caller can get when creating or opening a segment.

// Some cases need Linux and say so with a cfg; what only they use is unused elsewhere.
#![cfg_attr(not(target_os = "linux"), allow(unused_imports, dead_code))]

use std::time::Duration;

use shm_ring::{
    BufferTooSmall, NameError, OpenError, PeerState, ProducerOptions, ReadGrant, ReadTimeoutError,
    Role, ShmConsumer, ShmProducer, TryReadError, TryWriteError, TypeMismatch, WaitTimeoutError,
    WriteTimeoutError,
};
#[cfg(unix)]
use support::peers::run_as_nobody;
use support::raw::Raw;
use support::segment::{exists, object_size, remove, unique_name};
use support::try_take;
use support::wire::{
    extension_offset, segment_len, CONSUMER_FLAGS, EXTENSION_LEN, EXTENSION_MARKER, FLAG_BARRIER,
    FLAG_LOCKED, PRODUCER_FLAGS,
};

const SECOND: Duration = Duration::from_secs(1);

/// A producer that removes its segment when dropped, and a consumer of it.
fn pair(tag: &str, capacity: usize) -> (ShmProducer, ShmConsumer) {
    let name = unique_name(tag);
    let producer = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, capacity)
        .expect("create");
    let consumer = ShmConsumer::open(&name).expect("open");
    (producer, consumer)
}

#[test]
fn both_ends_can_move_to_another_thread() {
    fn is_send<T: Send>() {}
    is_send::<ShmProducer>();
    is_send::<ShmConsumer>();
}

#[test]
fn every_read_form_returns_the_messages_in_order() {
    let (mut p, mut c) = pair("forms", 4096);
    for i in 0..6u8 {
        p.try_write(&[i; 10]).unwrap();
    }
    assert_eq!(c.try_read().unwrap().into_vec(), vec![0; 10]);
    assert_eq!(c.read(SECOND).unwrap().into_vec(), vec![1; 10]);
    let mut buf = vec![0; 10];
    assert_eq!(c.try_read().unwrap().into_slice(&mut buf).unwrap(), 10);
    assert_eq!(buf, [2; 10]);
    let mut slice = [0u8; 32];
    assert_eq!(c.read(SECOND).unwrap().into_slice(&mut slice).unwrap(), 10);
    assert_eq!(slice[..10], [3; 10]);
    let message = c.try_read().unwrap();
    let (a, b) = message.as_slices();
    assert_eq!([a, b].concat(), vec![4; 10]);
    message.commit();
    let message = c.read(SECOND).unwrap();
    assert_eq!(message.as_slices().0, [5; 10]);
    message.commit();
    assert_eq!(c.try_read().unwrap_err(), TryReadError::Empty);
    assert_eq!(
        c.read(Duration::from_millis(1)).unwrap_err(),
        ReadTimeoutError::Timeout
    );
}

#[test]
fn a_read_grant_dropped_without_commit_leaves_the_message() {
    let (mut p, mut c) = pair("peek", 4096);
    p.try_write(b"first").unwrap();
    p.try_write(b"second").unwrap();
    for _ in 0..3 {
        let peeked = c.try_read().unwrap();
        assert_eq!(peeked.len(), 5);
        assert_eq!(peeked.as_slices().0, b"first");
    }
    assert_eq!(c.read(SECOND).unwrap().len(), 5);
    assert_eq!(c.readable_bytes(), 9 + 10, "nothing was consumed");
    c.try_read().unwrap().commit();
    assert_eq!(try_take(&mut c), Some(b"second".to_vec()));
    assert_eq!(try_take(&mut c), None);
}

#[test]
fn read_into_reuses_the_callers_allocation() {
    let (mut p, mut c) = pair("reuse", 4096);
    let mut buf = Vec::with_capacity(1000);
    let before = buf.as_ptr();
    for len in [100, 900, 50, 1000] {
        p.try_write(&vec![7; len]).unwrap();
        let message = c.try_read().unwrap();
        buf.resize(message.len(), 0);
        assert_eq!(message.into_slice(&mut buf).unwrap(), len);
        assert_eq!(buf, vec![7; len]);
    }
    assert_eq!(
        buf.as_ptr(),
        before,
        "no reallocation for messages that fit"
    );
}

#[test]
fn a_message_larger_than_the_slice_stays_in_the_ring() {
    let (mut p, mut c) = pair("toosmall", 4096);
    p.try_write(b"0123456789").unwrap();
    let mut small = [0u8; 9];
    for _ in 0..3 {
        assert_eq!(
            c.try_read().unwrap().into_slice(&mut small),
            Err(BufferTooSmall {
                needed: 10,
                available: 9
            })
        );
    }
    assert_eq!(
        c.read(SECOND).unwrap().into_slice(&mut small),
        Err(BufferTooSmall {
            needed: 10,
            available: 9
        })
    );
    let mut exact = [0u8; 10];
    assert_eq!(c.try_read().unwrap().into_slice(&mut exact).unwrap(), 10);
    assert_eq!(&exact, b"0123456789");
}

/// Writes and reads filler so that the next record's payload starts `before_end` bytes
/// before the end of a 64-byte ring.
fn move_to_wrap(p: &mut ShmProducer, c: &mut ShmConsumer, before_end: usize) {
    // The filler record takes 4 + n bytes and the next prefix 4 more.
    let n = 64 - before_end - 8;
    p.try_write(&vec![0xEE; n]).unwrap();
    assert_eq!(try_take(c), Some(vec![0xEE; n]));
}

#[test]
fn zero_copy_reads_see_a_wrapped_message_as_two_slices() {
    let (mut p, mut c) = pair("zcwrap", 64);
    move_to_wrap(&mut p, &mut c, 5);
    let message: Vec<u8> = (0..20).collect();
    p.try_write(&message).unwrap();
    let grant = c.try_read().unwrap();
    let (first, second) = grant.as_slices();
    assert_eq!((first.len(), second.len()), (5, 15));
    assert_eq!([first, second].concat(), message);
    grant.commit();
}

#[test]
fn a_write_grant_publishes_on_commit_only() {
    let (mut p, mut c) = pair("grant", 64);
    move_to_wrap(&mut p, &mut c, 3);
    {
        let mut grant = p.try_reserve(10).unwrap();
        assert_eq!(grant.len(), 10);
        let (a, b) = grant.as_mut_slices();
        assert_eq!((a.len(), b.len()), (3, 7));
        grant.copy_from_slice(b"discarded!");
        // dropped without commit
    }
    assert_eq!(try_take(&mut c), None);
    assert!(p.is_empty());
    let mut grant = p.reserve(10, SECOND).unwrap();
    grant.copy_from_slice(b"committed!");
    grant.commit();
    assert_eq!(try_take(&mut c), Some(b"committed!".to_vec()));
}

#[test]
fn reserve_refuses_what_write_refuses() {
    let (mut p, _c) = pair("reserve", 16);
    assert_eq!(p.try_reserve(0).unwrap_err(), TryWriteError::Empty);
    assert_eq!(
        p.try_reserve(13).unwrap_err(),
        TryWriteError::TooLarge {
            len: 13,
            max: 12,
            needed_capacity: Some(32)
        }
    );
    assert_eq!(p.reserve(0, SECOND).unwrap_err(), WriteTimeoutError::Empty);
    assert_eq!(
        p.reserve(13, SECOND).unwrap_err(),
        WriteTimeoutError::TooLarge {
            len: 13,
            max: 12,
            needed_capacity: Some(32)
        }
    );
    let grant = p.try_reserve(12).unwrap();
    grant.commit();
    assert_eq!(p.try_reserve(1).unwrap_err(), TryWriteError::Full);
    assert_eq!(
        p.reserve(1, Duration::from_millis(1)).unwrap_err(),
        WriteTimeoutError::Timeout
    );
}

#[test]
fn write_refuses_empty_and_oversized_messages_and_times_out_when_full() {
    let (mut p, mut c) = pair("refuse", 16);
    assert_eq!(p.try_write(b""), Err(TryWriteError::Empty));
    assert_eq!(p.write(b"", SECOND), Err(WriteTimeoutError::Empty));
    assert_eq!(
        p.write(&[0; 13], SECOND),
        Err(WriteTimeoutError::TooLarge {
            len: 13,
            max: 12,
            needed_capacity: Some(32)
        })
    );
    p.try_write(&[1; 12]).unwrap();
    assert_eq!(p.try_write(&[2]), Err(TryWriteError::Full));
    assert_eq!(
        p.write(&[2], Duration::from_millis(1)),
        Err(WriteTimeoutError::Timeout)
    );
    // Nothing of the refused writes reached the ring.
    assert_eq!(try_take(&mut c), Some(vec![1; 12]));
    assert_eq!(try_take(&mut c), None);
}

#[test]
fn a_batch_writes_what_fits_and_says_how_many() {
    let (mut p, mut c) = pair("wbatch", 32);
    let messages = [vec![1u8; 8], vec![2; 8], vec![3; 8]];
    assert_eq!(p.try_write_batch(&messages).unwrap(), 2);
    assert_eq!(p.try_write_batch(&messages[2..]), Err(TryWriteError::Full));
    assert_eq!(
        p.write_batch(&messages[2..], Duration::from_millis(1)),
        Err(WriteTimeoutError::Timeout)
    );
    assert_eq!(try_take(&mut c), Some(vec![1; 8]));
    assert_eq!(try_take(&mut c), Some(vec![2; 8]));
    assert_eq!(p.write_batch(&messages[2..], SECOND).unwrap(), 1);
    assert_eq!(try_take(&mut c), Some(vec![3; 8]));
    let none: [&[u8]; 0] = [];
    assert_eq!(p.try_write_batch(&none).unwrap(), 0);
}

#[test]
fn a_bad_message_ends_a_batch_and_is_reported_by_the_next_call() {
    let (mut p, mut c) = pair("wbatchbad", 4096);
    let messages: [&[u8]; 3] = [b"good", b"", b"after"];
    assert_eq!(p.try_write_batch(&messages).unwrap(), 1);
    assert_eq!(p.try_write_batch(&messages[1..]), Err(TryWriteError::Empty));
    assert_eq!(p.try_write_batch(&messages[2..]).unwrap(), 1);
    assert_eq!(try_take(&mut c), Some(b"good".to_vec()));
    assert_eq!(try_take(&mut c), Some(b"after".to_vec()));
}

#[test]
fn a_batch_read_publishes_the_tail_once_after_the_last_message() {
    let name = unique_name("rbatch");
    let mut p = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, 4096)
        .unwrap();
    let mut c = ShmConsumer::open(&name).unwrap();
    let raw = Raw::open(&name);
    for i in 0..5u8 {
        p.try_write(&[i; 3]).unwrap();
    }
    let mut seen = Vec::new();
    let count = c
        .try_read_batch(4, |msg| {
            assert_eq!(raw.word(4), 0, "tail must not move during the batch");
            seen.push(msg.to_vec());
        })
        .unwrap();
    assert_eq!(count, 4);
    assert_eq!(raw.word(4), 4 * 7);
    assert_eq!(seen, (0..4u8).map(|i| vec![i; 3]).collect::<Vec<_>>());
    assert_eq!(
        c.read_batch(10, SECOND, |msg| assert_eq!(msg, [4; 3]))
            .unwrap(),
        1
    );
    assert_eq!(
        c.try_read_batch(10, |_| panic!("nothing left")),
        Err(TryReadError::Empty)
    );
    assert_eq!(
        c.read_batch(10, Duration::from_millis(1), |_| ()),
        Err(ReadTimeoutError::Timeout)
    );
    assert_eq!(c.try_read_batch(0, |_| ()).unwrap(), 0);
}

/// A message that records the shared `head` each time the producer takes its bytes.
struct Probe<'a> {
    raw: &'a Raw,
    heads: &'a std::cell::RefCell<Vec<u32>>,
    bytes: [u8; 12],
}

impl AsRef<[u8]> for Probe<'_> {
    fn as_ref(&self) -> &[u8] {
        self.heads.borrow_mut().push(self.raw.word(0));
        &self.bytes
    }
}

#[test]
fn a_long_batch_is_published_every_quarter_of_the_ring() {
    let name = unique_name("wbatchq");
    let mut p = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, 128)
        .unwrap();
    let raw = Raw::open(&name);
    let heads = std::cell::RefCell::new(Vec::new());
    // Records of 16 bytes: a quarter of 128 is two of them.
    let messages: Vec<Probe> = (0..8u8)
        .map(|i| Probe {
            raw: &raw,
            heads: &heads,
            bytes: [i; 12],
        })
        .collect();
    assert_eq!(p.try_write_batch(&messages).unwrap(), 8);
    assert_eq!(*heads.borrow(), [0, 0, 32, 32, 64, 64, 96, 96]);
    assert_eq!(raw.word(0), 128);
}

#[test]
fn a_long_batch_read_is_released_every_quarter_of_the_ring() {
    let name = unique_name("rbatchq");
    let mut p = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, 128)
        .unwrap();
    let mut c = ShmConsumer::open(&name).unwrap();
    let raw = Raw::open(&name);
    for i in 0..8u8 {
        p.try_write(&[i; 12]).unwrap();
    }
    let mut tails = Vec::new();
    assert_eq!(c.try_read_batch(8, |_| tails.push(raw.word(4))).unwrap(), 8);
    assert_eq!(tails, [0, 0, 32, 32, 64, 64, 96, 96]);
    assert_eq!(raw.word(4), 128);
}

#[test]
fn a_batch_read_lends_a_wrapped_message_as_one_slice() {
    let (mut p, mut c) = pair("rbatchwrap", 64);
    move_to_wrap(&mut p, &mut c, 6);
    let message: Vec<u8> = (100..120).collect();
    p.try_write(&message).unwrap();
    p.try_write(b"next").unwrap();
    let mut seen = Vec::new();
    assert_eq!(
        c.try_read_batch(8, |msg| seen.push(msg.to_vec())).unwrap(),
        2
    );
    assert_eq!(seen, [message, b"next".to_vec()]);
}

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Sample {
    at: u64,
    value: f32,
    channel: u16,
    flags: u16,
}

#[test]
fn plain_data_values_round_trip() {
    let (mut p, mut c) = pair("pod", 4096);
    let sample = Sample {
        at: 1_700_000_000,
        value: -3.25,
        channel: 7,
        flags: 0b101,
    };
    p.try_write(bytemuck::bytes_of(&sample)).unwrap();
    p.write(bytemuck::bytes_of(&sample), SECOND).unwrap();
    assert_eq!(
        c.try_read().unwrap().into_value::<Sample>().unwrap(),
        sample
    );
    assert_eq!(
        c.read(SECOND).unwrap().into_value::<Sample>().unwrap(),
        sample
    );
    let samples = [sample; 5];
    p.try_write(bytemuck::cast_slice(&samples)).unwrap();
    p.write(bytemuck::cast_slice(&samples[..2]), SECOND)
        .unwrap();
    let out = c.try_read().unwrap().into_values::<Sample>().unwrap();
    assert_eq!(out, samples);
    let out = c.read(SECOND).unwrap().into_values::<Sample>().unwrap();
    assert_eq!(out, samples[..2]);
    assert_eq!(c.try_read().unwrap_err(), TryReadError::Empty);
}

#[test]
fn a_message_of_the_wrong_size_for_a_type_stays_in_the_ring() {
    let (mut p, mut c) = pair("podsize", 4096);
    p.try_write(&[1, 2, 3, 4, 5, 6]).unwrap();
    assert_eq!(
        c.try_read().unwrap().into_value::<u32>(),
        Err(TypeMismatch::NotOneValue { len: 6, size: 4 })
    );
    assert_eq!(
        c.try_read().unwrap().into_values::<u32>(),
        Err(TypeMismatch::NotWholeValues { len: 6, size: 4 })
    );
    let halves = c.try_read().unwrap().into_values::<u16>().unwrap();
    assert_eq!(halves, [0x0201, 0x0403, 0x0605]);
}

#[test]
fn introspection_reports_sizes_and_names() {
    let name = unique_name("intro");
    let mut p = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&format!("/{name}"), 100)
        .unwrap();
    let mut c = ShmConsumer::open(&name).unwrap();
    assert_eq!((p.name(), c.name()), (name.as_str(), name.as_str()));
    assert_eq!((p.capacity(), c.capacity()), (128, 128));
    assert_eq!((p.max_message_len(), c.max_message_len()), (124, 124));
    assert!(p.is_empty() && c.is_empty());
    p.try_write(&[0; 10]).unwrap();
    assert_eq!((p.readable_bytes(), c.readable_bytes()), (14, 14));
    assert_eq!(
        (p.writable_bytes(), c.capacity() - c.readable_bytes()),
        (114, 114)
    );
    assert!(!p.is_empty() && !c.is_empty());
    // The segment holds the header, the 128-byte data area and the extension block on the
    // next 64-byte boundary.
    assert_eq!(Raw::open(&name).size(), object_size(256));
    try_take(&mut c);
    assert!(p.is_empty() && c.is_empty());
}

// The flag says the producer holds its liveness lock: an open-file-description lock on
// Linux, a named mutex on Windows; macOS has neither.
#[cfg(any(target_os = "linux", windows))]
#[test]
fn the_header_is_written_as_the_protocol_says() {
    let name = unique_name("header");
    let _p = ProducerOptions::new()
        .start_index(4_294_967_000)
        .unlink_on_drop(true)
        .create(&name, 4096)
        .unwrap();
    let raw = Raw::open(&name);
    assert_eq!(raw.word(0), 4_294_967_000);
    assert_eq!(raw.word(4), 4_294_967_000);
    assert_eq!(raw.word(8), 4096);
    // reserved: the marker of the extension block, which holds the producer's flag byte
    // (its liveness lock; whether its process can be fenced depends on the kernel), then the
    // consumer's, on a cache line of their own past the data area.
    assert_eq!(raw.word(12), EXTENSION_MARKER);
    let block = extension_offset(4096) as u64;
    assert_eq!(block % 64, 0);
    let flags = raw.bytes(block, EXTENSION_LEN);
    assert_eq!(
        flags[PRODUCER_FLAGS] & !FLAG_BARRIER,
        FLAG_LOCKED,
        "{flags:?}"
    );
    assert!(flags[1..].iter().all(|&b| b == 0), "{flags:?}");
    let _c = ShmConsumer::open(&name).unwrap();
    let flags = raw.bytes(block, EXTENSION_LEN);
    assert_eq!(
        flags[CONSUMER_FLAGS] & !FLAG_BARRIER,
        FLAG_LOCKED,
        "{flags:?}"
    );
    assert!(flags[2..].iter().all(|&b| b == 0), "{flags:?}");
    assert_eq!(raw.size(), object_size(segment_len(4096) as u64));
}

// Backing with memory at creation is fallocate, which only Linux does.
#[cfg(target_os = "linux")]
#[test]
fn a_new_segment_is_backed_by_memory_from_the_start() {
    // Allocated by `create`, not on first touch: a full /dev/shm is an error from `create`
    // rather than a SIGBUS in the middle of a write.
    let name = unique_name("backed");
    let producer = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, 1 << 20)
        .unwrap();
    let raw = Raw::open(&name);
    assert!(
        raw.allocated() >= raw.size(),
        "{} of {} bytes allocated",
        raw.allocated(),
        raw.size()
    );
    drop(producer);
}

// Windows has access control lists, not modes.
#[cfg(unix)]
#[test]
fn segments_are_private_to_their_owner_by_default() {
    let name = unique_name("mode");
    let _p = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, 4096)
        .unwrap();
    assert_eq!(Raw::open(&name).mode(), 0o600);
}

// macOS cannot change a shared-memory object's mode after shm_open; Windows has access
// control lists, not modes.
#[cfg(not(any(target_os = "macos", windows)))]
#[test]
fn the_requested_mode_is_applied_exactly_whatever_the_umask() {
    let name = unique_name("mode644");
    // A umask that would strip group and other bits from shm_open's mode.
    let old = rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o077));
    let created = ProducerOptions::new()
        .mode(0o644)
        .unlink_on_drop(true)
        .create(&name, 4096);
    rustix::process::umask(old);
    let _p = created.unwrap();
    assert_eq!(Raw::open(&name).mode(), 0o644);
}

#[test]
fn exclusive_create_refuses_an_existing_name() {
    let name = unique_name("excl");
    let _first = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, 4096)
        .unwrap();
    let second = ProducerOptions::new().exclusive(true).create(&name, 4096);
    assert!(
        matches!(&second, Err(OpenError::AlreadyExists { name: n }) if *n == name),
        "{second:?}"
    );
}

// Liveness is told by locks the kernel drops when a process dies: open-file-description
// locks on Linux, named mutexes on Windows; macOS has neither.
#[cfg(any(target_os = "linux", windows))]
#[test]
fn a_live_producers_segment_is_never_replaced() {
    let name = unique_name("live");
    let mut live = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, 4096)
        .unwrap();
    let mut consumer = ShmConsumer::open(&name).unwrap();
    let err = ShmProducer::create(&name, 4096).unwrap_err();
    assert!(
        matches!(&err, OpenError::InUse { name: n, by: Role::Producer } if *n == name),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("shared-memory segment {name:?} is in use by a live producer")
    );
    // The live ring is untouched.
    live.try_write(b"still mine").unwrap();
    assert_eq!(try_take(&mut consumer), Some(b"still mine".to_vec()));
}

// Windows cannot replace a mapping that is still open: see the Windows tests below.
#[cfg(unix)]
#[test]
fn a_stale_segment_is_replaced_and_old_consumers_keep_the_old_one() {
    let name = unique_name("stale");
    let mut old = ShmProducer::create(&name, 4096).unwrap();
    old.try_write(b"old").unwrap();
    let mut old_consumer = ShmConsumer::open(&name).unwrap();
    drop(old); // the producer is gone; its segment stays, stale
    let mut new = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, 4096)
        .unwrap();
    new.try_write(b"new").unwrap();
    assert_eq!(try_take(&mut old_consumer), Some(b"old".to_vec()));
    assert_eq!(try_take(&mut old_consumer), None);
    assert_eq!(
        try_take(&mut ShmConsumer::open(&name).unwrap()),
        Some(b"new".to_vec())
    );
}

// Windows has no names to remove or give to another segment: see the Windows tests below.
#[cfg(unix)]
#[test]
fn a_producer_leaves_a_name_that_was_given_to_another_segment() {
    let name = unique_name("renamed");
    let first = ShmProducer::create(&name, 4096).unwrap();
    first.unlink().unwrap();
    let _second = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, 4096)
        .unwrap();
    // The name now belongs to the second segment: the first producer does not remove it.
    assert!(!first.unlink().unwrap());
    assert!(exists(&name));
}

// Liveness is told by locks the kernel drops when a process dies: open-file-description
// locks on Linux, named mutexes on Windows; macOS has neither.
#[cfg(any(target_os = "linux", windows))]
#[test]
fn a_ring_has_one_consumer_at_a_time() {
    let (_p, first) = pair("oneconsumer", 4096);
    let name = first.name().to_owned();
    let err = ShmConsumer::open(&name).unwrap_err();
    assert!(
        matches!(
            &err,
            OpenError::InUse {
                by: Role::Consumer,
                ..
            }
        ),
        "{err:?}"
    );
    drop(first);
    ShmConsumer::open(&name).expect("the consumer role is free again");
}

// Liveness is told by locks the kernel drops when a process dies: open-file-description
// locks on Linux, named mutexes on Windows; macOS has neither.
#[cfg(any(target_os = "linux", windows))]
#[test]
fn each_end_knows_whether_the_other_is_alive() {
    let name = unique_name("alive");
    let producer = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, 4096)
        .unwrap();
    assert_eq!(
        producer.peer_state(),
        PeerState::Unknown,
        "no consumer has attached"
    );
    let consumer = ShmConsumer::open(&name).unwrap();
    assert_eq!(producer.peer_state(), PeerState::Alive);
    assert_eq!(consumer.peer_state(), PeerState::Alive);
    drop(consumer);
    assert_eq!(producer.peer_state(), PeerState::Gone);
    let consumer = ShmConsumer::open(&name).unwrap();
    assert_eq!(
        producer.peer_state(),
        PeerState::Alive,
        "a new consumer attached"
    );
    drop(producer);
    assert_eq!(consumer.peer_state(), PeerState::Gone);
}

#[test]
fn a_producer_of_the_original_library_is_of_unknown_liveness() {
    // The original library's producer writes reserved = 0 and holds no lock.
    let name = unique_name("original");
    let raw = Raw::create_ring(&name, 64, 0);
    let mut consumer = ShmConsumer::open(&name).unwrap();
    assert_eq!(consumer.peer_state(), PeerState::Unknown);
    // A blocking read waits out its timeout rather than calling the producer gone.
    assert_eq!(
        consumer
            .read(Duration::from_millis(20))
            .map(ReadGrant::into_vec),
        Err(ReadTimeoutError::Timeout)
    );
    raw.push_record(64, 0, b"late");
    assert_eq!(consumer.read(SECOND).unwrap().into_vec(), b"late");
}

#[test]
fn a_ring_of_the_original_layout_is_written_on_by_a_producer_of_ours() {
    // Made by another program, without the extension block, holding one unread message.
    let name = unique_name("takeorig");
    let raw = Raw::create_ring(&name, 64, 1000);
    let head = raw.push_record(64, 1000, b"left");
    let mut producer = ShmProducer::open(&name).unwrap();
    assert_eq!(producer.capacity(), 64);
    assert_eq!(producer.readable_bytes(), 8);
    assert_eq!(producer.peer_state(), PeerState::Unknown);
    producer.try_write(b"ours").unwrap();
    assert_eq!(
        raw.word(0),
        head.wrapping_add(8),
        "the head moves on from where it was"
    );
    assert_eq!(
        raw.word(12),
        0,
        "the header is left as the original library wrote it"
    );
    let mut consumer = ShmConsumer::open(&name).unwrap();
    assert_eq!(consumer.try_read().unwrap().into_vec(), b"left");
    assert_eq!(consumer.try_read().unwrap().into_vec(), b"ours");
    // A tail that cannot be right reads as a full ring, never as room to overwrite.
    raw.set_word(4, head.wrapping_add(8).wrapping_sub(65));
    let mut producer = {
        drop(producer);
        ShmProducer::open(&name).unwrap()
    };
    assert_eq!(producer.try_write(b"x"), Err(TryWriteError::Full));
}

// A Windows mapping goes with its last handle: see the Windows tests below.
#[cfg(unix)]
#[test]
fn the_name_stays_unless_removal_is_asked_for() {
    let kept = unique_name("kept");
    drop(ShmProducer::create(&kept, 4096).unwrap());
    assert!(exists(&kept));
    remove(&kept);

    let dropped = unique_name("dropped");
    drop(
        ProducerOptions::new()
            .unlink_on_drop(true)
            .create(&dropped, 4096)
            .unwrap(),
    );
    assert!(!exists(&dropped));

    let unlinked = unique_name("unlinked");
    let mut p = ShmProducer::create(&unlinked, 4096).unwrap();
    let mut c = ShmConsumer::open(&unlinked).unwrap();
    assert!(p.unlink().unwrap());
    assert!(!exists(&unlinked));
    // Both ends keep working on the unnamed segment.
    p.try_write(b"still here").unwrap();
    assert_eq!(try_take(&mut c), Some(b"still here".to_vec()));
}

#[test]
fn a_consumer_never_removes_the_segment() {
    let name = unique_name("consumerdrop");
    let mut p = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, 4096)
        .unwrap();
    for _ in 0..3 {
        let mut c = ShmConsumer::open(&name).unwrap();
        p.try_write(b"x").unwrap();
        assert_eq!(try_take(&mut c), Some(b"x".to_vec()));
        drop(c);
        assert!(exists(&name));
    }
}

#[test]
fn a_new_consumer_resumes_where_the_last_one_stopped() {
    let (mut p, mut c) = pair("resume", 4096);
    for i in 0..3u8 {
        p.try_write(&[i]).unwrap();
    }
    assert_eq!(try_take(&mut c), Some(vec![0]));
    let name = c.name().to_owned();
    drop(c);
    let mut again = ShmConsumer::open(&name).unwrap();
    assert_eq!(try_take(&mut again), Some(vec![1]));
    assert_eq!(try_take(&mut again), Some(vec![2]));
    assert_eq!(try_take(&mut again), None);
}

#[test]
fn bad_names_are_refused_with_the_rule_they_break() {
    let cases: [(&str, NameError); 5] = [
        ("", NameError::Empty),
        ("/", NameError::Empty),
        (&"n".repeat(31), NameError::TooLong { len: 31 }),
        (
            "a/b",
            NameError::BadCharacter {
                ch: '/',
                position: 1,
            },
        ),
        ("..", NameError::Dots),
    ];
    for (name, reason) in cases {
        match ShmProducer::create(name, 4096) {
            Err(OpenError::InvalidName { name: n, reason: r }) => {
                assert_eq!((n.as_str(), &r), (name, &reason))
            }
            other => panic!("create({name:?}) gave {other:?}"),
        }
        match ShmConsumer::open(name) {
            Err(OpenError::InvalidName { reason: r, .. }) => assert_eq!(r, reason),
            other => panic!("open({name:?}) gave {other:?}"),
        }
    }
    let message = ShmConsumer::open("no spaces").unwrap_err().to_string();
    assert_eq!(
        message,
        "invalid segment name \"no spaces\": character ' ' at position 2 is not allowed (use A-Z a-z 0-9 . _ -)"
    );
}

#[test]
fn capacities_outside_the_range_are_refused() {
    let name = unique_name("caprange");
    for requested in [0, (1 << 31) + 1, u32::MAX as usize, u32::MAX as usize + 1] {
        match ShmProducer::create(&name, requested) {
            Err(OpenError::CapacityOutOfRange { requested: r }) => assert_eq!(r, requested),
            other => panic!("capacity {requested} gave {other:?}"),
        }
    }
    assert!(!exists(&name), "nothing is created for a refused capacity");
}

#[test]
fn a_missing_segment_is_not_found() {
    let name = unique_name("missing");
    let err = ShmConsumer::open(&name).unwrap_err();
    assert!(
        matches!(&err, OpenError::NotFound { name: n } if *n == name),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(
        err.to_string(),
        format!("shared-memory segment {name:?} does not exist")
    );
}

#[test]
fn a_segment_without_size_or_capacity_is_not_ready() {
    // Windows makes a mapping and sizes it in one call: none is ever without a size.
    #[cfg(unix)]
    {
        let unsized_name = unique_name("unsized");
        let _raw = Raw::create(&unsized_name, 0);
        let err = ShmConsumer::open(&unsized_name).unwrap_err();
        assert!(matches!(err, OpenError::NotReady { .. }), "{err:?}");
    }

    let name = unique_name("notready");
    let raw = Raw::create(&name, 16 + 64); // capacity word still 0
    let err = ShmConsumer::open(&name).unwrap_err();
    assert!(matches!(err, OpenError::NotReady { .. }), "{err:?}");
    assert!(err.is_transient());
    let err = ShmConsumer::open_timeout(&name, Duration::from_millis(20)).unwrap_err();
    match err {
        OpenError::Timeout { waited, last, .. } => {
            assert!(waited >= Duration::from_millis(20));
            assert!(matches!(*last, OpenError::NotReady { .. }), "{last:?}");
        }
        other => panic!("{other:?}"),
    }
    // Once the producer's side is complete, the same segment opens.
    raw.set_word(8, 64);
    let c = ShmConsumer::open_timeout(&name, SECOND).unwrap();
    assert_eq!(c.capacity(), 64);
}

#[test]
fn a_consumer_waiting_for_a_segment_opens_it_when_it_appears() {
    let name = unique_name("appears");
    let waiter = {
        let name = name.clone();
        std::thread::spawn(move || ShmConsumer::open_timeout(&name, Duration::from_secs(60)))
    };
    let mut p = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, 4096)
        .unwrap();
    let mut c = waiter.join().unwrap().unwrap();
    p.try_write(b"hi").unwrap();
    assert_eq!(c.read(SECOND).unwrap().into_vec(), b"hi");
}

// A Windows mapping is at least one page, never smaller than the header.
#[cfg(unix)]
#[test]
fn a_segment_smaller_than_the_header_is_too_small() {
    let name = unique_name("tiny");
    let _raw = Raw::create(&name, 10);
    let err = ShmConsumer::open(&name).unwrap_err();
    assert!(
        matches!(err, OpenError::TooSmall { size: 10, .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
}

#[test]
fn a_capacity_word_that_is_not_a_power_of_two_from_8_is_refused() {
    for capacity in [100u32, 4, 1, 0x8000_0001, u32::MAX] {
        let name = unique_name("badcap");
        let raw = Raw::create(&name, 16 + 128);
        raw.set_word(8, capacity);
        let err = ShmConsumer::open(&name).unwrap_err();
        assert!(
            matches!(err, OpenError::InvalidCapacity { capacity: c, .. } if c == capacity),
            "{capacity}: {err:?}"
        );
    }
}

#[test]
fn a_capacity_larger_than_the_segment_is_refused() {
    let name = unique_name("bigcap");
    let raw = Raw::create(&name, 16 + 512);
    // The smallest capacity the object cannot hold: 1024 for 528 bytes, 8192 for a page.
    let size = object_size(16 + 512);
    let too_large = (size - 16 + 1).next_power_of_two() as u32;
    raw.set_word(8, too_large);
    let err = ShmConsumer::open(&name).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::CapacityExceedsSize { capacity, size: s, .. }
                if capacity == too_large && s == size
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("hold at most {}", size - 16)),
        "{err}"
    );
}

// A process of another user: `nobody` on Unix. Under Wine every process is the same user.
#[cfg(unix)]
#[test]
fn another_users_segment_cannot_be_opened() {
    let name = unique_name("perm");
    let _p = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, 4096)
        .unwrap();
    if rustix::process::geteuid().is_root() {
        // Root passes every permission check, so ask a process running as `nobody`.
        let output = run_as_nobody(&[
            "consumer",
            "--name",
            &name,
            "--count",
            "1",
            "--size",
            "1",
            "--timeout-ms",
            "0",
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
        assert!(
            stderr.contains(&format!(
                "permission denied for shared-memory segment {name:?}"
            )),
            "stderr: {stderr}"
        );
    } else {
        // Not root: a segment nobody may open stands in for another user's.
        let closed = unique_name("perm000");
        let _p = ProducerOptions::new()
            .mode(0o000)
            .unlink_on_drop(true)
            .create(&closed, 4096)
            .unwrap();
        let err = ShmConsumer::open(&closed).unwrap_err();
        assert!(matches!(err, OpenError::PermissionDenied { .. }), "{err:?}");
    }
}

#[test]
fn capacity_rounds_up_so_a_ring_holds_what_was_asked_for() {
    for (requested, capacity) in [(1, 8), (7, 8), (8, 8), (100, 128), (4096, 4096)] {
        let (p, c) = pair("capup", requested);
        assert_eq!(
            (p.capacity(), c.capacity()),
            (capacity, capacity),
            "{requested}"
        );
        assert!(p.capacity() >= requested);
    }
    // The first hour's frame: a ring asked for one frame's worth of bytes is at least that
    // large, and the capacity for the frame as a message carries it.
    const FRAME: usize = 1920 * 1080 * 3;
    let (p, _c) = pair("capframe", FRAME);
    assert_eq!(p.capacity(), 8 << 20);
    let (mut p, mut c) = pair("capmsg", shm_ring::capacity_for_message(FRAME).unwrap());
    let frame: Vec<u8> = (0..FRAME).map(|i| (i % 251) as u8).collect();
    p.try_write(&frame).unwrap();
    assert_eq!(try_take(&mut c), Some(frame));
}

#[test]
fn too_large_names_the_capacity_that_carries_the_message() {
    let (mut p, _c) = pair("toolarge", 4096);
    let err = p.try_write(&[0; 4093]).unwrap_err();
    let TryWriteError::TooLarge {
        len,
        max,
        needed_capacity: Some(needed),
    } = err.clone()
    else {
        panic!("{err:?}");
    };
    assert_eq!((len, max, needed), (4093, 4092, 8192));
    assert!(err.to_string().contains("capacity 8192"), "{err}");
    // That capacity carries it, and half of it would not.
    let (mut bigger, mut c) = pair("toolarge2", needed);
    bigger.try_write(&[7; 4093]).unwrap();
    assert_eq!(try_take(&mut c), Some(vec![7; 4093]));
    assert!(needed / 2 - 4 < 4093);
    // A message no ring carries says so.
    assert_eq!(shm_ring::capacity_for_message(1 << 31), None);
    assert_eq!(
        p.write(&[0; 4096], SECOND).unwrap_err(),
        WriteTimeoutError::TooLarge {
            len: 4096,
            max: 4092,
            needed_capacity: Some(8192)
        }
    );
}

#[test]
fn a_write_grant_copies_a_payload_across_the_wrap() {
    for before_end in 1..=9 {
        let (mut p, mut c) = pair("grantcopy", 64);
        move_to_wrap(&mut p, &mut c, before_end);
        let message: Vec<u8> = (0..10).collect();
        let mut grant = p.try_reserve(10).unwrap();
        assert_eq!(grant.as_mut_slices().0.len(), before_end.min(10));
        grant.copy_from_slice(&message);
        grant.commit();
        assert_eq!(try_take(&mut c), Some(message), "{before_end}");
    }
}

#[test]
#[should_panic(expected = "exactly as long as the grant")]
fn a_write_grant_refuses_a_payload_of_another_length() {
    let (mut p, _c) = pair("grantlen", 64);
    p.try_reserve(4).unwrap().copy_from_slice(b"five!");
}

// Liveness is told by locks the kernel drops when a process dies: open-file-description
// locks on Linux, named mutexes on Windows; macOS has neither.
#[cfg(any(target_os = "linux", windows))]
#[test]
fn wait_until_empty_reports_a_timeout_and_a_gone_consumer() {
    let (mut p, c) = pair("drain", 4096);
    p.try_write(b"unread").unwrap();
    assert_eq!(
        p.wait_until_empty(Duration::from_millis(1)),
        Err(WaitTimeoutError::Timeout)
    );
    drop(c);
    assert_eq!(
        p.wait_until_empty(Duration::from_secs(600)),
        Err(WaitTimeoutError::PeerGone)
    );
}

// Liveness is told by open-file-description locks, which only Linux has; Windows has no names
// to remove (see the Windows tests below).
#[cfg(target_os = "linux")]
#[test]
fn remove_refuses_a_live_producers_segment_unless_forced() {
    let name = unique_name("remove");
    let producer = ShmProducer::create(&name, 4096).unwrap();
    let err = shm_ring::remove(&format!("/{name}")).unwrap_err();
    assert!(
        matches!(&err, OpenError::InUse { name: n, by: Role::Producer } if *n == name),
        "{err:?}"
    );
    assert!(exists(&name), "refused means nothing removed");
    // The lock the removal took to look is let go: the producer is still the owner.
    assert_eq!(
        ProducerOptions::new()
            .create(&name, 4096)
            .unwrap_err()
            .to_string(),
        OpenError::InUse {
            name: name.clone(),
            by: Role::Producer
        }
        .to_string()
    );
    shm_ring::remove_forced(&name).unwrap();
    assert!(!exists(&name));
    assert!(!producer.unlink().unwrap(), "nothing left to unlink");
    assert!(matches!(
        shm_ring::remove_forced(&name),
        Err(OpenError::NotFound { .. })
    ));
}

// Windows has no names to remove: see the Windows tests below.
#[cfg(unix)]
#[test]
fn remove_takes_the_segment_of_a_producer_that_is_gone() {
    let name = unique_name("removegone");
    let mut producer = ShmProducer::create(&name, 4096).unwrap();
    producer.try_write(b"left behind").unwrap();
    let mut consumer = ShmConsumer::open(&name).unwrap();
    drop(producer);
    assert!(exists(&name));
    shm_ring::remove(&name).unwrap();
    assert!(!exists(&name));
    // An attached consumer keeps its mapping and reads what was left.
    assert_eq!(try_take(&mut consumer), Some(b"left behind".to_vec()));
    assert!(matches!(
        shm_ring::remove(&name),
        Err(OpenError::NotFound { .. })
    ));
    assert!(matches!(
        shm_ring::remove("bad name"),
        Err(OpenError::InvalidName { .. })
    ));
    // A segment of the original library, whose producer announces nothing, is removed too.
    let original = unique_name("removeorig");
    let _raw = Raw::create_ring(&original, 64, 0);
    shm_ring::remove(&original).unwrap();
    assert!(!exists(&original));
}

/// Windows: a mapping lives while any process holds it and has no name to remove, so
/// creating over a held name and removing are refused with reasons, and a name is free again
/// once its last handle is closed.
#[cfg(windows)]
mod windows_names {
    use super::*;

    #[test]
    fn a_held_segment_is_not_replaced_but_its_producer_role_is_taken_over() {
        let name = unique_name("held");
        let mut old = ShmProducer::create(&name, 4096).unwrap();
        old.try_write(b"old").unwrap();
        let mut consumer = ShmConsumer::open(&name).unwrap();
        drop(old); // the producer is gone; the consumer keeps the mapping open
        let err = ShmProducer::create(&name, 4096).unwrap_err();
        assert!(
            matches!(&err, OpenError::Unsupported { name: n, .. } if *n == name),
            "{err:?}"
        );
        assert!(err.to_string().contains("ShmProducer::open"), "{err}");
        let err = ProducerOptions::new()
            .exclusive(true)
            .create(&name, 4096)
            .unwrap_err();
        assert!(matches!(err, OpenError::AlreadyExists { .. }), "{err:?}");
        // Nothing was disturbed, and the producer role can be taken over.
        assert_eq!(try_take(&mut consumer), Some(b"old".to_vec()));
        let mut new = ShmProducer::open(&name).unwrap();
        new.try_write(b"new").unwrap();
        assert_eq!(try_take(&mut consumer), Some(b"new".to_vec()));
    }

    #[test]
    fn a_name_is_free_once_its_last_handle_is_closed() {
        let name = unique_name("lasthandle");
        let producer = ProducerOptions::new()
            .unlink_on_drop(true)
            .create(&name, 4096)
            .unwrap();
        let consumer = ShmConsumer::open(&name).unwrap();
        assert!(!producer.unlink().unwrap(), "there is no name to remove");
        drop(producer);
        assert!(exists(&name), "the consumer still holds it");
        drop(consumer);
        assert!(!exists(&name));
        let mut again = ShmProducer::create(&name, 64).unwrap();
        again.try_write(b"fresh").unwrap();
        assert_eq!(again.capacity(), 64);
    }

    #[test]
    fn remove_says_why_it_cannot() {
        let name = unique_name("winremove");
        let producer = ShmProducer::create(&name, 4096).unwrap();
        let err = shm_ring::remove(&format!("/{name}")).unwrap_err();
        assert!(
            matches!(&err, OpenError::InUse { name: n, by: Role::Producer } if *n == name),
            "{err:?}"
        );
        // Forced or not, a mapping whose producer is gone, or that a live producer holds,
        // has no name to remove.
        let err = shm_ring::remove_forced(&name).unwrap_err();
        assert!(
            matches!(&err, OpenError::Unsupported { operation, .. } if operation.contains("remov")),
            "{err:?}"
        );
        assert!(exists(&name), "refused means nothing removed");
        drop(producer);
        assert!(matches!(
            shm_ring::remove(&name),
            Err(OpenError::NotFound { .. })
        ));
        let original = unique_name("winremoveorig");
        let _raw = Raw::create_ring(&original, 64, 0);
        let err = shm_ring::remove(&original).unwrap_err();
        assert!(matches!(err, OpenError::Unsupported { .. }), "{err:?}");
    }

    /// The child process of `a_killed_producer_ends_a_blocked_read`: a producer that writes one
    /// message, prints `ready` and waits to be killed (or for its stdin to close).
    #[test]
    #[ignore = "the child process of a_killed_producer_ends_a_blocked_read"]
    fn producer_to_kill() {
        use std::io::{BufRead, Write};
        let name = std::env::var("SHM_RING_PRODUCER_TO_KILL").expect("started by its parent");
        let mut producer = ShmProducer::create(&name, 4096).unwrap();
        producer.try_write(b"before").unwrap();
        println!("ready");
        std::io::stdout().flush().unwrap();
        let _ = std::io::stdin().lock().read_line(&mut String::new());
    }

    /// A producer process killed (TerminateProcess, as `taskkill /F` does) while its consumer
    /// waits in a read: the kernel abandons the producer's mutex, and the read ends with
    /// `PeerGone` instead of waiting out its ten minutes.
    #[test]
    fn a_killed_producer_ends_a_blocked_read() {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let name = unique_name("killed");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "windows_names::producer_to_kill", "--ignored"])
            .args(["--nocapture", "--test-threads=1"])
            .env("SHM_RING_PRODUCER_TO_KILL", &name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // libtest may print the test's name on the same line first.
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        assert!(
            lines.any(|line| line.unwrap().ends_with("ready")),
            "the child ended without saying ready"
        );
        let mut consumer = ShmConsumer::open(&name).unwrap();
        assert_eq!(consumer.read(SECOND).unwrap().into_vec(), b"before");
        assert_eq!(consumer.peer_state(), PeerState::Alive);
        // While the producer lives, waiting ends by timing out.
        assert!(
            matches!(
                consumer.read(Duration::from_millis(50)),
                Err(ReadTimeoutError::Timeout)
            ),
            "a live producer's silence is a timeout"
        );
        let (started, reading) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            started.send(()).unwrap();
            let read = consumer
                .read(Duration::from_secs(600))
                .map(|m| m.into_vec());
            (read, consumer.peer_state())
        });
        reading.recv().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        let (read, state) = reader.join().unwrap();
        assert!(matches!(read, Err(ReadTimeoutError::PeerGone)), "{read:?}");
        assert_eq!(state, PeerState::Gone);
    }

    #[test]
    fn a_namespace_prefix_is_part_of_the_name() {
        let name = format!("Local\\{}", unique_name("local"));
        let mut producer = ShmProducer::create(&name, 4096).unwrap();
        assert_eq!(producer.name(), name);
        let mut consumer = ShmConsumer::open(&name).unwrap();
        producer.try_write(b"local").unwrap();
        assert_eq!(try_take(&mut consumer), Some(b"local".to_vec()));
        let err = ShmConsumer::open("Session\\x").unwrap_err();
        assert!(matches!(err, OpenError::InvalidName { .. }), "{err:?}");
    }
}
