//! Large messages through a ring: [`LargeSender`] and [`LargeReceiver`] over a ring and a
//! buffer pool. Every size class (empty, around the inline threshold, exactly a slot, past a
//! slot), order and wholeness of a mixed stream sent from another process, guards held several
//! at a time and dropped out of order, pool exhaustion and its timeout, the opt-in (a plain
//! consumer, of this crate or the original library's layout, never gets an envelope, also
//! after a receiver was killed), and hostile envelopes.
//!
//! Other processes are this test binary started again in a child role (an ignored test named
//! by `--exact`); the parent synchronises on the lines they print and on `waitpid`, never on
//! sleeps.
#![cfg_attr(not(target_os = "linux"), allow(unused_imports, dead_code))]

use std::process::Command;
use std::time::Duration;

use shm_ring::{
    BufferPool, EnvelopeError, LargeReceiver, LargeSender, LargeSetupError, PoolOpenError, PoolRef,
    PoolRefError, RecvTimeoutError, ResolveError, SendTimeoutError, ShmConsumer, ShmProducer,
    TryReadError, TryRecvError, TrySendError,
};
use support::child::{say, wait_for_parent, ChildRole};
use support::raw::Raw;
use support::segment::{unique_name, Removes};
use support::stream::{stream_len, stream_message};
use support::tools::{example, python3, root};

const CHILD_RING: &str = "SHM_LARGE_CHILD_RING";
const LONG: Duration = Duration::from_secs(60);

/// Slot size of the pools these tests make.
const SLOT: usize = 64 * 1024;
/// The inline threshold these tests set.
const THRESHOLD: usize = 256;

/// A ring `name` of `ring` bytes and a pool of `slots` slots of [`SLOT`] bytes, as a sender
/// with the inline threshold [`THRESHOLD`] (or what the ring carries, if less).
fn sender(name: &str, ring: usize, slots: u32) -> LargeSender {
    let producer = ShmProducer::create(name, ring).unwrap();
    let pool = BufferPool::create_unique(slots, SLOT as u64).unwrap();
    let mut sender = LargeSender::new(producer, pool).unwrap();
    sender.set_inline_threshold(THRESHOLD);
    sender
}

fn receiver(name: &str) -> LargeReceiver {
    LargeReceiver::new(ShmConsumer::open(name).unwrap()).unwrap()
}

// --- one process ------------------------------------------------------------------------------

#[test]
fn every_size_class_arrives_whole_inline_or_by_reference() {
    let name = &unique_name("large-sizes");
    let _removes = Removes(name.clone());
    let mut sender = sender(name, 4096, 2);
    assert_eq!(sender.inline_threshold(), THRESHOLD);
    let receiver = receiver(name);
    let cases = [
        (0, false),
        (1, false),
        (THRESHOLD - 1, false),
        (THRESHOLD, false),
        (THRESHOLD + 1, true),
        (SLOT, true),
    ];
    for (i, &(len, by_reference)) in cases.iter().enumerate() {
        let message = stream_message(i as u64, len);
        if i % 2 == 0 {
            sender.try_send(&message).unwrap();
        } else {
            sender.send(&message, LONG).unwrap();
        }
        let got = receiver.recv(LONG).unwrap();
        assert_eq!(got.is_by_reference(), by_reference, "{len} bytes");
        assert!(*got == *message, "{len} bytes arrived changed");
    }
    let too_large = vec![0u8; SLOT + 1];
    assert!(matches!(
        sender.try_send(&too_large),
        Err(TrySendError::TooLarge { len, max: SLOT }) if len == SLOT + 1
    ));
    assert!(matches!(
        sender.send(&too_large, LONG),
        Err(SendTimeoutError::TooLarge { len, max: SLOT }) if len == SLOT + 1
    ));
    assert!(sender.producer().is_empty(), "a refused message left bytes");
    assert_eq!(sender.pool().available(), 2);
}

#[test]
fn guards_are_held_together_and_dropped_in_any_order() {
    let name = &unique_name("large-guards");
    let _removes = Removes(name.clone());
    let mut sender = sender(name, 4096, 3);
    let receiver = receiver(name);
    for i in 0..3u64 {
        sender.send(&stream_message(i, 10_000), LONG).unwrap();
    }
    let guards: Vec<_> = (0..3).map(|_| receiver.recv(LONG).unwrap()).collect();
    assert_eq!(sender.pool().available(), 0);
    let mut guards: Vec<_> = guards.into_iter().map(Some).collect();
    for i in [1usize, 2, 0] {
        let guard = guards[i].take().unwrap();
        assert!(*guard == *stream_message(i as u64, 10_000));
        drop(guard);
        // Every slot the dropped guards held is back, whatever order they went in.
        let freed = guards.iter().filter(|g| g.is_none()).count();
        assert_eq!(sender.pool().available() as usize, freed);
    }
}

#[test]
fn an_exhausted_pool_refuses_then_times_out_then_wakes_on_a_release() {
    let name = &unique_name("large-exhaust");
    let _removes = Removes(name.clone());
    let mut sender = sender(name, 4096, 2);
    let receiver = receiver(name);
    sender.send(&[1; 1000], LONG).unwrap();
    sender.send(&[2; 1000], LONG).unwrap();
    let first = receiver.recv(LONG).unwrap();
    let second = receiver.recv(LONG).unwrap();
    assert!(matches!(
        sender.try_send(&[3; 1000]),
        Err(TrySendError::PoolExhausted { slots: 2, .. })
    ));
    assert!(matches!(
        sender.send(&[3; 1000], Duration::from_millis(5)),
        Err(SendTimeoutError::PoolTimeout { slots: 2, .. })
    ));
    // Small messages still go: they need no slot.
    sender.try_send(b"inline").unwrap();
    assert_eq!(&*receiver.recv(LONG).unwrap(), b"inline");
    // Nothing of the refused messages reached the ring.
    assert!(matches!(receiver.try_recv(), Err(TryRecvError::Empty)));
    std::thread::scope(|s| {
        let blocked = s.spawn(|| sender.send(&[3; 1000], LONG));
        drop(second); // the release wakes the blocked send, whenever it went to sleep
        blocked.join().unwrap().unwrap();
    });
    assert!(first.iter().all(|&b| b == 1));
    drop(first);
    assert!(receiver.recv(LONG).unwrap().iter().all(|&b| b == 3));
}

#[test]
fn a_full_ring_refuses_and_gives_the_slot_back() {
    let name = &unique_name("large-full");
    let _removes = Removes(name.clone());
    let mut sender = sender(name, 128, 4); // room for one reference message (76 bytes)
    let receiver = receiver(name);
    sender.try_send(&[1; 1000]).unwrap();
    assert!(matches!(
        sender.try_send(&[2; 1000]),
        Err(TrySendError::Full)
    ));
    assert!(matches!(
        sender.send(&[2; 1000], Duration::from_millis(5)),
        Err(SendTimeoutError::Timeout { .. })
    ));
    assert_eq!(sender.pool().available(), 3, "a refused send kept its slot");
    drop(receiver.recv(LONG).unwrap());
    sender.try_send(&[2; 1000]).unwrap();
    assert!(receiver.recv(LONG).unwrap().iter().all(|&b| b == 2));
}

#[test]
fn the_zero_copy_loan_sends_on_commit_and_nothing_when_dropped() {
    let name = &unique_name("large-loan");
    let _removes = Removes(name.clone());
    let mut sender = sender(name, 4096, 1);
    let receiver = receiver(name);
    drop(sender.try_loan().unwrap());
    assert!(matches!(receiver.try_recv(), Err(TryRecvError::Empty)));
    let mut loan = sender.loan(LONG).unwrap();
    assert_eq!(loan.len(), SLOT);
    loan.copy_from_slice(&stream_message(5, SLOT));
    loan.commit(SLOT).unwrap();
    let got = receiver.recv(LONG).unwrap();
    assert!(got.is_by_reference() && *got == *stream_message(5, SLOT));
}

// --- the opt-in -------------------------------------------------------------------------------

#[test]
fn a_plain_consumer_never_gets_an_envelope() {
    let name = &unique_name("large-plain");
    let _removes = Removes(name.clone());
    let mut sender = sender(name, 4096, 2);
    // Nobody attached yet.
    assert!(matches!(
        sender.try_send(b"x"),
        Err(TrySendError::NoReceiver { announced: 0, .. })
    ));
    let mut plain = ShmConsumer::open(name).unwrap();
    for message in [&b"small"[..], &[7u8; 10_000][..]] {
        assert!(matches!(
            sender.try_send(message),
            Err(TrySendError::NoReceiver { announced: 0, .. })
        ));
        assert!(matches!(
            sender.send(message, Duration::from_millis(5)),
            Err(SendTimeoutError::NoReceiver { announced: 0, .. })
        ));
        assert!(matches!(
            sender.try_loan(),
            Err(TrySendError::NoReceiver { .. })
        ));
    }
    assert!(matches!(plain.try_read(), Err(TryReadError::Empty)));
    assert_eq!(sender.pool().available(), 2);

    // The same consumer, once it opts in, gets messages; once the receiver is dropped, the
    // next plain consumer gets nothing again.
    let receiver = LargeReceiver::new(plain).unwrap();
    sender.try_send(b"for the receiver").unwrap();
    assert_eq!(&*receiver.try_recv().unwrap(), b"for the receiver");
    drop(receiver);
    let mut plain = ShmConsumer::open(name).unwrap();
    assert!(matches!(
        sender.try_send(b"x"),
        Err(TrySendError::NoReceiver { .. })
    ));
    assert!(matches!(plain.try_read(), Err(TryReadError::Empty)));
}

#[cfg(any(target_os = "linux", windows))]
#[test]
fn after_a_receiver_is_killed_a_plain_consumer_gets_no_envelope() {
    let name = &unique_name("large-killed");
    let _removes = Removes(name.clone());
    let mut sender = sender(name, 4096, 2);
    let mut child = start_child("child_attaches_a_receiver_and_waits", name);
    child.line("attached");
    assert!(sender.has_receiver());
    child.kill();
    // Its announcement is still in the ring; the lock that vouched for it died with it.
    assert!(matches!(
        sender.try_send(b"x"),
        Err(TrySendError::NoReceiver { announced: 0, .. })
    ));
    let mut plain = ShmConsumer::open(name).unwrap();
    assert!(matches!(
        sender.send(&[1; 10_000], Duration::from_millis(5)),
        Err(SendTimeoutError::NoReceiver { .. })
    ));
    assert!(matches!(plain.try_read(), Err(TryReadError::Empty)));
}

#[test]
fn a_receiver_of_another_envelope_version_gets_nothing() {
    let name = &unique_name("large-version");
    let _removes = Removes(name.clone());
    let mut sender = sender(name, 4096, 2);
    let receiver = receiver(name);
    // A live receiver that announces version 2 (byte 2 of the extension block, which starts
    // at the first 64-byte boundary past the 4096-byte data area).
    let extension = (16 + 4096u64).next_multiple_of(64);
    Raw::open(name).set_bytes(extension + 2, &[2]);
    for message in [&b"small"[..], &[7u8; 10_000][..]] {
        assert!(matches!(
            sender.try_send(message),
            Err(TrySendError::NoReceiver { announced: 2, .. })
        ));
    }
    assert!(matches!(receiver.try_recv(), Err(TryRecvError::Empty)));
    assert_eq!(sender.pool().available(), 2);
}

#[test]
fn a_ring_of_the_original_layout_cannot_have_a_receiver() {
    let name = &unique_name("large-original");
    let _raw = Raw::create_ring(name, 4096, 0); // no extension block, as the original makes
    let refused = LargeReceiver::new(ShmConsumer::open(name).unwrap()).unwrap_err();
    assert!(
        matches!(refused, LargeSetupError::NoExtension { .. }),
        "{refused:?}"
    );
}

// --- hostile envelopes ------------------------------------------------------------------------

/// The envelope of the documented format, with the given version and kind.
fn envelope(version: u8, kind: u8) -> Vec<u8> {
    let mut out = b"SRLM".to_vec();
    out.extend([version, kind, 0, 0]);
    out
}

fn reference_message(reference: &PoolRef) -> Vec<u8> {
    let mut out = envelope(1, 1);
    out.extend(reference.to_bytes());
    out
}

#[test]
fn hostile_envelopes_are_typed_errors_and_the_stream_goes_on() {
    let name = &unique_name("large-hostile");
    let _removes = Removes(name.clone());
    // A plain producer plays a sender that writes whatever it likes.
    let mut producer = ShmProducer::create(name, 1 << 16).unwrap();
    let receiver = receiver(name);
    let pool = BufferPool::create_unique(2, 1024).unwrap();

    // A reference that was resolved and released: stale.
    let mut loan = pool.try_acquire().unwrap();
    loan[..3].copy_from_slice(b"old");
    let stale = loan.publish(3).unwrap();
    drop(pool.resolve(&stale).unwrap());
    // A reference to a slot the pool does not have, and to a pool that does not exist.
    let out_of_range = PoolRef::new(pool.name(), 9, 1, 3).unwrap();
    let missing = PoolRef::new(&unique_name("large-nopool"), 0, 1, 3).unwrap();
    let mut bad_reference = reference_message(&stale);
    bad_reference[8..12].copy_from_slice(b"XXXX"); // the reference's own magic

    let mut padded = envelope(1, 0);
    padded[7] = 1;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"abc".to_vec(), "truncated"),
        (b"plain payload".to_vec(), "wrong magic"),
        (envelope(2, 0), "unsupported version"),
        (envelope(1, 7), "unknown kind"),
        (padded, "padding"),
        (envelope(1, 1), "reference too short"),
        (bad_reference, "bad reference"),
        (reference_message(&missing), "missing pool"),
        (reference_message(&stale), "stale"),
        (reference_message(&out_of_range), "slot out of range"),
    ];
    for (message, _) in &cases {
        producer.try_write(message).unwrap();
        // Each hostile message is followed by a good one, which must still arrive.
        let mut good = envelope(1, 0);
        good.extend(b"good");
        producer.try_write(&good).unwrap();
    }
    for (_, what) in &cases {
        let error = receiver.try_recv().unwrap_err();
        let expected = match *what {
            "truncated" => matches!(
                error,
                TryRecvError::Envelope(EnvelopeError::Truncated { len: 3 })
            ),
            "wrong magic" => matches!(
                error,
                TryRecvError::Envelope(EnvelopeError::WrongMagic { .. })
            ),
            "unsupported version" => matches!(
                error,
                TryRecvError::Envelope(EnvelopeError::UnsupportedVersion {
                    found: 2,
                    supported: 1
                })
            ),
            "unknown kind" => matches!(
                error,
                TryRecvError::Envelope(EnvelopeError::UnknownKind { kind: 7 })
            ),
            "padding" => matches!(
                error,
                TryRecvError::Envelope(EnvelopeError::NonZeroPadding { found: [0, 1] })
            ),
            "reference too short" => matches!(
                error,
                TryRecvError::Envelope(EnvelopeError::WrongReferenceLength {
                    len: 8,
                    expected: 72
                })
            ),
            "bad reference" => matches!(
                error,
                TryRecvError::Envelope(EnvelopeError::BadReference(
                    PoolRefError::WrongMagic { .. }
                ))
            ),
            "missing pool" => matches!(
                error,
                TryRecvError::PoolOpen(PoolOpenError::NotFound { .. })
            ),
            "stale" => matches!(error, TryRecvError::Resolve(ResolveError::Stale { .. })),
            "slot out of range" => matches!(
                error,
                TryRecvError::Resolve(ResolveError::SlotOutOfRange { slot: 9, .. })
            ),
            _ => unreachable!(),
        };
        assert!(expected, "{what}: got {error:?}");
        assert_eq!(&*receiver.try_recv().unwrap(), b"good", "after {what}");
    }
    assert!(matches!(receiver.try_recv(), Err(TryRecvError::Empty)));
}

#[test]
fn a_reference_to_another_pool_than_the_first_is_refused() {
    let name = &unique_name("large-twopools");
    let _removes = Removes(name.clone());
    let mut producer = ShmProducer::create(name, 1 << 16).unwrap();
    let receiver = receiver(name);
    let first = BufferPool::create_unique(1, 64).unwrap();
    let second = BufferPool::create_unique(1, 64).unwrap();
    let one = first.try_acquire().unwrap().publish(1).unwrap();
    let other = second.try_acquire().unwrap().publish(1).unwrap();
    producer.try_write(&reference_message(&one)).unwrap();
    producer.try_write(&reference_message(&other)).unwrap();
    drop(receiver.try_recv().unwrap());
    assert!(matches!(
        receiver.try_recv(),
        Err(TryRecvError::Resolve(ResolveError::WrongPool { .. }))
    ));
    // Nothing of the other pool's slot was touched: it is still published, unread.
    assert_eq!(second.available(), 0);
    drop(second.resolve(&other).unwrap());
}

// --- across processes -------------------------------------------------------------------------

/// Messages in the cross-process stream, and the range of their sizes: inline and by
/// reference, from empty to exactly a slot.
const STREAM: u64 = 2000;

fn checksum(sum: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(sum, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[cfg(any(target_os = "linux", windows))]
#[test]
fn a_mixed_stream_from_another_process_arrives_whole_once_in_order() {
    let name = &unique_name("large-stream");
    let _removes = Removes(name.clone());
    let mut child = start_child("child_sends_the_stream", name);
    child.line("created");
    let receiver = LargeReceiver::new(ShmConsumer::open(name).unwrap()).unwrap();
    let mut sum = 0xcbf2_9ce4_8422_2325;
    let mut by_reference = 0;
    // Hold up to two guards at a time and drop the older one second.
    let mut held = Vec::new();
    for i in 0..STREAM {
        let message = receiver.recv(LONG).unwrap();
        let len = stream_len(i, 0, SLOT);
        assert_eq!(message.len(), len, "message {i}");
        assert!(
            *message == *stream_message(i, len),
            "message {i} arrived changed"
        );
        assert_eq!(message.is_by_reference(), len > THRESHOLD, "message {i}");
        by_reference += usize::from(message.is_by_reference());
        sum = checksum(sum, &message);
        held.push(message);
        if held.len() == 2 {
            let newer = held.pop();
            drop(newer);
            held.clear();
        }
    }
    drop(held);
    assert!(by_reference > 0 && by_reference < STREAM as usize);
    let sent: u64 = child.line("sent").parse().unwrap();
    assert_eq!(
        sum, sent,
        "the checksums of what was sent and what arrived differ"
    );
    child.go_on();
    assert!(matches!(
        receiver.recv(LONG),
        Err(RecvTimeoutError::PeerGone)
    ));
    child.finish();
}

#[test]
#[ignore = "a child process of the large-message tests; run by them"]
fn child_sends_the_stream() {
    let name = std::env::var(CHILD_RING).unwrap();
    let mut sender = sender(&name, 4096, 3);
    say("created");
    let mut sum = 0xcbf2_9ce4_8422_2325;
    for i in 0..STREAM {
        let message = stream_message(i, stream_len(i, 0, SLOT));
        sender.send(&message, LONG).unwrap();
        sum = checksum(sum, &message);
    }
    say(&format!("sent {sum}"));
    wait_for_parent();
}

#[cfg(any(target_os = "linux", windows))]
#[test]
fn a_slot_held_by_a_killed_receiver_is_reclaimed_for_the_next_send() {
    let name = &unique_name("large-reclaim");
    let _removes = Removes(name.clone());
    let mut sender = sender(name, 4096, 1);
    let mut child = start_child("child_receives_and_holds", name);
    sender.send(&[4; 10_000], LONG).unwrap();
    assert_eq!(child.line("holding"), "10000");
    assert_eq!(sender.pool().available(), 0);
    child.kill();
    // The next receiver, and a send that needs the only slot: the dead holder's is reclaimed.
    let receiver = receiver(name);
    sender.send(&[5; 10_000], LONG).unwrap();
    assert!(receiver.recv(LONG).unwrap().iter().all(|&b| b == 5));
}

#[test]
#[ignore = "a child process of the large-message tests; run by them"]
fn child_receives_and_holds() {
    let name = std::env::var(CHILD_RING).unwrap();
    let receiver = receiver(&name);
    let message = receiver.recv(LONG).unwrap();
    say(&format!("holding {}", message.len()));
    loop {
        std::thread::park();
    }
}

#[test]
#[ignore = "a child process of the large-message tests; run by them"]
fn child_attaches_a_receiver_and_waits() {
    let name = std::env::var(CHILD_RING).unwrap();
    let _receiver = receiver(&name);
    say("attached");
    loop {
        std::thread::park();
    }
}

// --- Rust and Python ---------------------------------------------------------------------------

/// Every size class, as lengths: empty, around the inline threshold, exactly a slot, and a
/// few between.
fn size_classes() -> Vec<usize> {
    vec![
        0,
        1,
        THRESHOLD - 1,
        THRESHOLD,
        THRESHOLD + 1,
        SLOT,
        SLOT - 1,
        7,
        40_000,
        THRESHOLD + 1,
    ]
}

// Needs python3, and under Wine there is no Windows Python to run (README, Limits).
#[cfg(unix)]
#[test]
fn rust_sends_python_receives_inline_and_by_reference() {
    let name = &unique_name("large-rs-py");
    let _removes = Removes(name.clone());
    let lengths = size_classes();
    let mut sender = sender(name, 1 << 16, 3);
    let mut args = vec!["recv".to_owned(), name.clone(), THRESHOLD.to_string()];
    args.extend(lengths.iter().map(usize::to_string));
    let mut python = start_python(&args);
    python.line("attached");
    for (i, &len) in lengths.iter().enumerate() {
        sender.send(&stream_message(i as u64, len), LONG).unwrap();
    }
    let by_reference = lengths.iter().filter(|&&n| n > THRESHOLD).count();
    assert_eq!(
        python.line("received"),
        format!("{} {by_reference}", lengths.len())
    );
    python.finish();
    // Every slot the Python receiver read went back to this process's pool.
    assert_eq!(sender.pool().available(), 3);
}

// Needs python3, and under Wine there is no Windows Python to run (README, Limits).
#[cfg(unix)]
#[test]
fn python_sends_rust_receives_inline_and_by_reference() {
    let name = &unique_name("large-py-rs");
    let _removes = Removes(name.clone());
    let lengths = size_classes();
    let mut args = vec![
        "send".to_owned(),
        name.clone(),
        "3".to_owned(),
        SLOT.to_string(),
        THRESHOLD.to_string(),
    ];
    args.extend(lengths.iter().map(usize::to_string));
    let mut python = start_python(&args);
    python.line("created");
    let receiver = receiver(name);
    for (i, &len) in lengths.iter().enumerate() {
        let message = receiver.recv(LONG).unwrap();
        assert_eq!(message.len(), len, "message {i}");
        assert!(
            *message == *stream_message(i as u64, len),
            "message {i} arrived changed"
        );
        assert_eq!(message.is_by_reference(), len > THRESHOLD, "message {i}");
    }
    python.line("sent");
    assert!(matches!(receiver.try_recv(), Err(TryRecvError::Empty)));
    python.go_on();
    python.finish();
}

// --- the 1080p example ------------------------------------------------------------------------

/// `cargo run --example frames`: 1080p RGBA frames from the Rust example to its Python
/// consumer, which views each as a NumPy array in place and checks every pixel. NumPy is
/// required where `SHM_RING_REQUIRE_NUMPY=1` (as CI sets it); elsewhere its absence skips this
/// test, saying so.
// Needs python3, and under Wine there is no Windows Python to run (README, Limits).
#[cfg(unix)]
#[test]
fn the_frames_example_moves_1080p_frames_into_numpy_arrays_in_place() {
    let numpy = python3()
        .args(["-c", "import numpy"])
        .output()
        .expect("run python3");
    if !numpy.status.success() {
        let message = "NumPy is not installed: pip install numpy (.ci/run installs it)";
        if std::env::var("SHM_RING_REQUIRE_NUMPY").as_deref() == Ok("1") {
            panic!("{message}");
        }
        eprintln!("{message}; the frames example did not run");
        return;
    }
    const FRAMES: usize = 4;
    let output = Command::new(example("frames"))
        .arg(FRAMES.to_string())
        .output()
        .expect("run the frames example");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the frames example failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    for index in 0..FRAMES {
        let line =
            format!("frame {index}: 1080x1920x4 uint8 array over the pool slot, in place: ok");
        assert!(stdout.contains(&line), "no {line:?} in:\n{stdout}");
    }
    let summary = format!("consumer: {FRAMES} frames received, {FRAMES} ok, 0 bad");
    assert!(stdout.contains(&summary), "no {summary:?} in:\n{stdout}");
}

// --- child processes --------------------------------------------------------------------------

/// This test binary started again in `role`, on the ring `ring`.
fn start_child(role: &str, ring: &str) -> ChildRole {
    ChildRole::of_this_test(role, &[(CHILD_RING, ring)])
}

/// The Python peer `interop/python/tests/large_peer.py` with `args`.
fn start_python(args: &[String]) -> ChildRole {
    let mut command = python3();
    command
        .arg(root().join("interop/python/tests/large_peer.py"))
        .args(args);
    ChildRole::spawn(command)
}
