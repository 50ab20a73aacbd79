//! The cross-process buffer pool: references that outlive their slot, a blocked acquire woken
//! by a release in another process, writers and readers killed while they hold a slot, and
//! hostile headers and references.
//!
//! The other processes are this test binary started again in a child role (an ignored test
//! named by `--exact`), which prints a line when it has done its part; the parent synchronises
//! on those lines, on its own blocked thread sleeping in the kernel, and on `waitpid`, never on
//! sleeps.

// The cases that reclaim dead holders need liveness locks (Linux's open-file-description
// locks, Windows's named mutexes), and the ones that sleep in the kernel or count system calls
// need Linux (futexes, /proc, strace); elsewhere what only they use is unused.
#![cfg_attr(not(target_os = "linux"), allow(unused_imports, dead_code))]

use std::process::{Command, Stdio};

use proptest::prelude::*;
use shm_ring::{
    BufferPool, PoolOpenError, PoolRef, PoolRefError, ResolveError, TryAcquireError,
    MAX_POOL_BYTES, MAX_POOL_SLOTS, POOL_HOLDERS,
};
use support::child::{say, wait_for_parent, ChildRole};
use support::process::HANG_GUARD;
use support::raw::Raw;
use support::segment::unique_name;

const CHILD_POOL: &str = "SHM_POOL_CHILD_NAME";
const CHILD_REF: &str = "SHM_POOL_CHILD_REF";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The bytes written into slots by these tests: `len` bytes that depend on `seed`.
fn payload(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

/// Fills a slot of `pool` with `payload(seed, len)` and publishes it.
fn publish(pool: &BufferPool, seed: u8, len: usize) -> PoolRef {
    let mut loan = pool.try_acquire().expect("a free slot");
    loan[..len].copy_from_slice(&payload(seed, len));
    loan.publish(len as u64).expect("publish")
}

// --- child processes --------------------------------------------------------------------------

/// This test binary started again in `role`, on `pool` (and `reference`, if any).
fn start_child(role: &str, pool: &str, reference: Option<&PoolRef>) -> ChildRole {
    let reference = reference.map(|r| hex(&r.to_bytes())).unwrap_or_default();
    ChildRole::of_this_test(role, &[(CHILD_POOL, pool), (CHILD_REF, &reference)])
}

fn child_pool() -> BufferPool {
    let name = std::env::var(CHILD_POOL).expect("started by a pool test");
    BufferPool::open(&name).unwrap()
}

fn child_ref() -> PoolRef {
    PoolRef::from_bytes(&unhex(&std::env::var(CHILD_REF).unwrap())).unwrap()
}

/// Waits to be killed.
fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}

#[test]
#[ignore = "a child process of the pool tests; run by them"]
fn child_reads_then_releases_when_told() {
    let pool = child_pool();
    let view = pool.resolve(&child_ref()).unwrap();
    say(&format!("resolved {}", hex(&view)));
    wait_for_parent();
    drop(view);
    say("released 1");
}

#[test]
#[ignore = "a child process of the pool tests; run by them"]
fn child_reads_and_dies_holding() {
    let pool = child_pool();
    let view = pool.resolve(&child_ref()).unwrap();
    say(&format!("resolved {}", view.len()));
    park_forever();
}

#[test]
#[ignore = "a child process of the pool tests; run by them"]
fn child_dies_mid_fill() {
    let pool = child_pool();
    let mut loan = pool.try_acquire().unwrap();
    let half = loan.len() / 2;
    loan[..half].copy_from_slice(&payload(0xee, half));
    say(&format!(
        "filling {} {} {half}",
        loan.slot(),
        loan.generation()
    ));
    park_forever();
}

/// The paths the round-trip child looks up (a `stat` that fails) to mark, in a system-call
/// trace, where its measured round trips begin and end.
const ROUND_TRIPS_BEGIN: &str = "/shm-ring-round-trips-begin";
const ROUND_TRIPS_END: &str = "/shm-ring-round-trips-end";
/// How many round trips the child makes between the marks.
const ROUND_TRIPS: usize = 1000;

#[test]
#[ignore = "a child process of the pool tests; run by them"]
fn child_round_trips() {
    let writer = BufferPool::create_unique(4, 4096).unwrap();
    let reader = BufferPool::open(writer.name()).unwrap();
    let round_trip = |i: usize| {
        let mut loan = writer.try_acquire().unwrap();
        loan[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let reference = loan.publish(8).unwrap();
        let view = reader.resolve(&reference).unwrap();
        assert_eq!(view[..8], (i as u64).to_le_bytes());
    };
    // Warm up: the allocator's first requests for the references' names may map memory.
    for i in 0..ROUND_TRIPS {
        round_trip(i);
    }
    let _ = std::fs::metadata(ROUND_TRIPS_BEGIN);
    for i in 0..ROUND_TRIPS {
        round_trip(i);
    }
    let _ = std::fs::metadata(ROUND_TRIPS_END);
    assert_eq!(writer.available(), 4);
}

/// Acquire, publish, resolve and release between two handles make no system call: the
/// child's thread, traced by `strace`, makes none between the two marks around 1000 round
/// trips (layout version 1 made four `fcntl` calls per round trip).
#[cfg(target_os = "linux")]
#[test]
fn a_round_trip_makes_no_system_call() {
    let trace = std::env::temp_dir().join(format!("shm-ring-pool-trace-{}", std::process::id()));
    let status = Command::new("strace")
        .arg("-f")
        .arg("-o")
        .arg(&trace)
        .arg(std::env::current_exe().unwrap())
        .args([
            "child_round_trips",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .stdout(Stdio::null())
        .status()
        .expect("strace is needed by this test (apt-get install strace)");
    let text = std::fs::read_to_string(&trace).expect("the trace");
    let _ = std::fs::remove_file(&trace);
    assert!(status.success(), "the traced child failed: {status}");
    let lines: Vec<&str> = text.lines().collect();
    let mark = |path: &str| {
        lines
            .iter()
            .position(|l| l.contains(path))
            .unwrap_or_else(|| panic!("no mark {path:?} in the trace"))
    };
    let (begin, end) = (mark(ROUND_TRIPS_BEGIN), mark(ROUND_TRIPS_END));
    // `strace -f` starts each line with the thread's id.
    let thread = lines[begin].split_whitespace().next().unwrap();
    assert_eq!(lines[end].split_whitespace().next(), Some(thread));
    let calls: Vec<&str> = lines[begin + 1..end]
        .iter()
        .copied()
        .filter(|l| l.split_whitespace().next() == Some(thread))
        .collect();
    assert!(
        calls.is_empty(),
        "{} system calls in {ROUND_TRIPS} round trips, the first: {:?}",
        calls.len(),
        &calls[..calls.len().min(8)]
    );
}

/// A handle that opens the pool after a holder died takes the dead holder's entry, and frees
/// the slots the dead one left before it takes any itself: they are never taken for its own.
#[cfg(any(target_os = "linux", windows))]
#[test]
fn an_entry_reused_after_its_holder_died_does_not_adopt_its_slots() {
    let name = unique_name("pool-reuse");
    let pool = BufferPool::create(&name, 2, 1024).unwrap();
    let mut child = start_child("child_dies_mid_fill", &name, None);
    let line = child.line("filling");
    let fields: Vec<u64> = line.split(' ').map(|f| f.parse().unwrap()).collect();
    let (slot, generation, half) = (fields[0] as u32, fields[1], fields[2]);
    child.kill();
    assert_eq!(pool.available(), 1);
    // The only free entry is the dead child's.
    let reused = BufferPool::open(&name).unwrap();
    assert_eq!(
        pool.available(),
        2,
        "the new holder of the entry adopted the dead holder's slot"
    );
    let info = shm_ring::inspect(&name).unwrap().pool.unwrap();
    assert_eq!((info.holders, info.live_holders), (POOL_HOLDERS, Some(2)));
    // The half-filled generation stays unreadable for good.
    let forged = PoolRef::new(&name, slot, generation, half).unwrap();
    assert!(matches!(
        reused.resolve(&forged),
        Err(ResolveError::Stale { .. })
    ));
    // The new holder's own slots are live ones: never reclaimed.
    let first = reused.try_acquire().unwrap();
    let second = reused.try_acquire().unwrap();
    assert!(matches!(
        pool.try_acquire(),
        Err(TryAcquireError::Exhausted { .. })
    ));
    drop((first, second));
}

/// At most `POOL_HOLDERS` handles have a pool open at once: one more is a typed error naming
/// the count, and closing one (or the death of its process) makes room.
#[cfg(any(target_os = "linux", windows))]
#[test]
fn opening_more_handles_than_the_holder_table_has_is_a_typed_error() {
    let name = unique_name("pool-full");
    let owner = BufferPool::create(&name, 1, 64).unwrap();
    let mut handles: Vec<BufferPool> = (1..POOL_HOLDERS)
        .map(|_| BufferPool::open(&name).unwrap())
        .collect();
    match BufferPool::open(&name) {
        Err(e @ PoolOpenError::HoldersFull { holders, .. }) => {
            assert_eq!(holders, POOL_HOLDERS);
            assert!(e.to_string().contains(&POOL_HOLDERS.to_string()), "{e}");
        }
        other => panic!("expected HoldersFull, got {other:?}"),
    }
    handles.pop();
    let last = BufferPool::open(&name).expect("the entry a closed handle let go");
    drop((last, handles, owner));
}

// --- generations ------------------------------------------------------------------------------

#[test]
fn a_reference_to_a_recycled_slot_is_stale_never_the_new_payload() {
    let name = unique_name("pool-stale");
    let pool = BufferPool::create(&name, 1, 64).unwrap();
    let old = publish(&pool, 1, 10);
    assert_eq!(&*pool.resolve(&old).unwrap(), &payload(1, 10)[..]);
    // Released, not yet reused.
    match pool.resolve(&old) {
        Err(ResolveError::Stale {
            generation,
            current,
            state,
            ..
        }) => assert_eq!(
            (generation, current, state),
            (old.generation(), old.generation(), "free")
        ),
        other => panic!("expected Stale, got {other:?}"),
    }
    // Reused by a new payload of the same length in the same slot: the old reference must not
    // read it, whether the new one is being filled, published, or read.
    let mut loan = pool.try_acquire().unwrap();
    assert_eq!(loan.slot(), old.slot());
    loan[..10].copy_from_slice(&payload(2, 10));
    assert!(matches!(
        pool.resolve(&old),
        Err(ResolveError::Stale {
            state: "filling",
            ..
        })
    ));
    let new = loan.publish(10).unwrap();
    assert_eq!(new.generation(), old.generation() + 1);
    match pool.resolve(&old) {
        Err(e @ ResolveError::Stale { .. }) => {
            assert!(e.to_string().contains("stale"), "{e}");
        }
        other => panic!("expected Stale, got {other:?}"),
    }
    let reader = BufferPool::open(&name).unwrap();
    let view = reader.resolve(&new).unwrap();
    assert!(matches!(
        reader.resolve(&old),
        Err(ResolveError::Stale { .. })
    ));
    assert_eq!(&*view, &payload(2, 10)[..]);
}

#[test]
fn a_reference_resolved_in_another_process_is_released_there() {
    let name = unique_name("pool-xproc");
    let pool = BufferPool::create(&name, 2, 4096).unwrap();
    let reference = publish(&pool, 7, 4000);
    let mut child = start_child(
        "child_reads_then_releases_when_told",
        &name,
        Some(&reference),
    );
    assert_eq!(unhex(&child.line("resolved")), payload(7, 4000));
    assert_eq!(pool.available(), 1);
    assert!(matches!(
        pool.resolve(&reference),
        Err(ResolveError::AlreadyResolved { .. })
    ));
    child.go_on();
    child.line("released");
    child.finish();
    assert_eq!(pool.available(), 2);
    assert!(matches!(
        pool.resolve(&reference),
        Err(ResolveError::Stale { .. })
    ));
}

// --- exhaustion and blocking ------------------------------------------------------------------

#[cfg(target_os = "linux")]
#[test]
fn a_blocked_acquire_wakes_when_another_process_releases_a_slot() {
    use support::futex::{in_futex_wait, spawn_reporting_tid};
    use support::process::wait_until;

    let name = unique_name("pool-block");
    let pool = std::sync::Arc::new(BufferPool::create(&name, 2, 256).unwrap());
    let held_by_child = publish(&pool, 3, 100);
    let published = publish(&pool, 4, 100);
    let mut child = start_child(
        "child_reads_then_releases_when_told",
        &name,
        Some(&held_by_child),
    );
    child.line("resolved");
    // Every slot is taken: one read by the child, one published and not yet read.
    assert_eq!(pool.available(), 0);
    match pool.try_acquire() {
        Err(TryAcquireError::Exhausted { slots: 2, .. }) => {}
        other => panic!("expected Exhausted, got {other:?}"),
    }
    let waiting = pool.clone();
    let (tid, blocked) = spawn_reporting_tid(move || {
        waiting
            .acquire(HANG_GUARD)
            .map(|loan| (loan.slot(), loan.generation()))
            .map_err(|e| e.to_string())
    });
    wait_until("the acquire to sleep in FUTEX_WAIT", HANG_GUARD, || {
        in_futex_wait(tid)
    });
    child.go_on();
    child.line("released");
    let (slot, generation) = blocked.join().unwrap().expect("the blocked acquire");
    assert_eq!(
        (slot, generation),
        (held_by_child.slot(), held_by_child.generation() + 1)
    );
    child.finish();
    // The published slot is still the reader's to take.
    assert_eq!(&*pool.resolve(&published).unwrap(), &payload(4, 100)[..]);
}

// --- crashes ----------------------------------------------------------------------------------

#[cfg(any(target_os = "linux", windows))]
#[test]
fn a_writer_killed_mid_fill_never_makes_its_slot_readable() {
    let name = unique_name("pool-wkill");
    let pool = BufferPool::create(&name, 1, 1024).unwrap();
    let mut child = start_child("child_dies_mid_fill", &name, None);
    let line = child.line("filling");
    let fields: Vec<u64> = line.split(' ').map(|f| f.parse().unwrap()).collect();
    let (slot, generation, half) = (fields[0] as u32, fields[1], fields[2]);
    child.kill();
    // Whatever length a reference claims, the slot is not readable at that generation.
    for len in [0, half, 1024] {
        let forged = PoolRef::new(&name, slot, generation, len).unwrap();
        match pool.resolve(&forged) {
            Err(ResolveError::NotPublished { generation: g, .. }) => assert_eq!(g, generation),
            other => panic!("len {len}: expected NotPublished, got {other:?}"),
        }
    }
    assert_eq!(pool.available(), 0);
    // The dead writer's slot is reclaimed by the next acquire, under a new generation; the
    // half-filled generation stays unreadable for good.
    let loan = pool
        .try_acquire()
        .expect("the dead writer's slot, reclaimed");
    assert_eq!((loan.slot(), loan.generation()), (slot, generation + 1));
    drop(loan);
    let forged = PoolRef::new(&name, slot, generation, half).unwrap();
    assert!(matches!(
        pool.resolve(&forged),
        Err(ResolveError::Stale { .. })
    ));
}

#[cfg(any(target_os = "linux", windows))]
#[test]
fn a_slot_held_by_a_killed_reader_is_reclaimed() {
    let name = unique_name("pool-rkill");
    let pool = BufferPool::create(&name, 1, 64).unwrap();
    let reference = publish(&pool, 5, 64);
    let mut child = start_child("child_reads_and_dies_holding", &name, Some(&reference));
    child.line("resolved");
    assert!(matches!(
        pool.try_acquire(),
        Err(TryAcquireError::Exhausted { .. })
    ));
    assert_eq!(pool.available(), 0, "a live reader's slot was reclaimed");
    child.kill();
    let loan = pool.acquire(HANG_GUARD).expect("the dead reader's slot");
    assert_eq!(loan.generation(), reference.generation() + 1);
}

#[test]
fn a_live_holder_in_another_handle_is_never_reclaimed() {
    let name = unique_name("pool-live");
    let pool = BufferPool::create(&name, 1, 64).unwrap();
    let other = BufferPool::open(&name).unwrap();
    let loan = other.try_acquire().unwrap();
    assert!(matches!(
        pool.try_acquire(),
        Err(TryAcquireError::Exhausted { .. })
    ));
    assert_eq!(pool.available(), 0, "a live writer's slot was reclaimed");
    drop(loan);
    pool.try_acquire().unwrap();
}

// --- hostile headers --------------------------------------------------------------------------

/// A segment of `size` bytes whose header says what the arguments say, with a holder table of
/// 8 entries.
fn hostile(
    name: &str,
    size: u64,
    magic: &[u8; 4],
    version: u32,
    slots: u32,
    slot_size: u64,
) -> Raw {
    let raw = Raw::create(name, size);
    if size >= 64 {
        raw.set_bytes(0, magic);
        raw.set_bytes(4, &version.to_le_bytes());
        raw.set_bytes(8, &slots.to_le_bytes());
        raw.set_bytes(16, &slot_size.to_le_bytes());
        raw.set_bytes(32, &8u32.to_le_bytes());
    }
    raw
}

// Sizes below a page and a name made again while an earlier handle of it is open: Windows
// keeps a mapping's size in whole pages and a held name cannot be made again (the header
// checks themselves are the same code there, tested in tests/windows_shared.rs).
#[cfg(unix)]
#[test]
fn hostile_headers_are_typed_errors() {
    let n = unique_name("pool-hostile");
    let _raw = hostile(&n, 0, b"SRPL", 2, 1, 64);
    assert!(matches!(
        BufferPool::open(&n),
        Err(PoolOpenError::NotReady { .. })
    ));
    let _raw = hostile(&n, 40, b"SRPL", 2, 1, 64);
    assert!(matches!(
        BufferPool::open(&n),
        Err(PoolOpenError::TooSmall { size: 40, .. })
    ));
    let _raw = hostile(&n, 4096, &[0; 4], 2, 1, 64);
    assert!(matches!(
        BufferPool::open(&n),
        Err(PoolOpenError::NotReady { .. })
    ));
    let _raw = hostile(&n, 4096, b"SRBF", 2, 1, 64);
    match BufferPool::open(&n) {
        Err(e @ PoolOpenError::WrongMagic { found, .. }) => {
            assert_eq!(found, u32::from_le_bytes(*b"SRBF"));
            assert!(e.to_string().contains("is not a buffer pool"), "{e}");
        }
        other => panic!("expected WrongMagic, got {other:?}"),
    }
    // Layout version 1 (per-slot liveness locks) and anything later are refused.
    for version in [1, 3] {
        let _raw = hostile(&n, 4096, b"SRPL", version, 1, 64);
        match BufferPool::open(&n) {
            Err(PoolOpenError::UnsupportedVersion {
                found, supported, ..
            }) => assert_eq!((found, supported), (version, 2)),
            other => panic!("version {version}: expected UnsupportedVersion, got {other:?}"),
        }
    }
    for (slots, slot_size) in [
        (0, 64),
        (1, 0),
        (MAX_POOL_SLOTS + 1, 64),
        (u32::MAX, u64::MAX),
        (1, MAX_POOL_BYTES + 1),
        (2, MAX_POOL_BYTES),
    ] {
        let _raw = hostile(&n, 4096, b"SRPL", 2, slots, slot_size);
        match BufferPool::open(&n) {
            Err(PoolOpenError::InvalidGeometry {
                slot_count,
                slot_size: size,
                ..
            }) => assert_eq!((slot_count, size), (slots, slot_size)),
            other => panic!("{slots} x {slot_size}: expected InvalidGeometry, got {other:?}"),
        }
    }
    // A holder table of no entries, or of more than a slot word can name.
    for holders in [0u32, 257, u32::MAX] {
        let raw = hostile(&n, 4096, b"SRPL", 2, 1, 64);
        raw.set_bytes(32, &holders.to_le_bytes());
        match BufferPool::open(&n) {
            Err(e @ PoolOpenError::InvalidHolderCount { found, max, .. }) => {
                assert_eq!((found, max), (holders, 256));
                assert!(e.to_string().contains(&holders.to_string()), "{e}");
            }
            other => panic!("{holders} holders: expected InvalidHolderCount, got {other:?}"),
        }
    }
    // Valid limits, but more than the object holds: nothing past the header is mapped.
    let _raw = hostile(&n, 4096, b"SRPL", 2, 4, 1 << 40);
    match BufferPool::open(&n) {
        Err(PoolOpenError::GeometryExceedsSize { needed, size, .. }) => {
            assert_eq!(size, 4096);
            assert!(needed > 4 << 40);
        }
        other => panic!("expected GeometryExceedsSize, got {other:?}"),
    }
    // One byte short of its last slot: header 64, slot table 32, holder table 64, rounded up
    // to 192, then two slots of 64.
    let _raw = hostile(&n, 192 + 2 * 64 - 1, b"SRPL", 2, 2, 64);
    assert!(matches!(
        BufferPool::open(&n),
        Err(PoolOpenError::GeometryExceedsSize {
            needed: 320,
            size: 319,
            ..
        })
    ));
    let _raw = hostile(&n, 320, b"SRPL", 2, 2, 64);
    let pool = BufferPool::open(&n).expect("an exactly sized pool");
    assert_eq!(
        (pool.capacity(), pool.slot_size(), pool.available()),
        (2, 64, 2)
    );
}

#[test]
fn a_damaged_slot_table_is_a_typed_error() {
    let name = unique_name("pool-table");
    let pool = BufferPool::create(&name, 2, 64).unwrap();
    let reference = publish(&pool, 9, 20);
    let raw = Raw::open(&name);
    let entry = 64 + 16 * u64::from(reference.slot());
    // A length word that disagrees with the reference: refused, the slot left as it was.
    raw.set_bytes(entry + 8, &u64::MAX.to_le_bytes());
    match pool.resolve(&reference) {
        Err(ResolveError::LengthMismatch { len, stored, .. }) => {
            assert_eq!((len, stored), (20, u64::MAX))
        }
        other => panic!("expected LengthMismatch, got {other:?}"),
    }
    raw.set_bytes(entry + 8, &20u64.to_le_bytes());
    drop(pool.resolve(&reference).unwrap());
    // A slot word in no valid state: never read, never acquired.
    let other = 64 + 16 * u64::from(1 - reference.slot());
    for word in [0xffu64, u64::MAX, 7 | (5 << 8)] {
        raw.set_bytes(other, &word.to_le_bytes());
        let forged = PoolRef::new(&name, 1 - reference.slot(), word >> 8, 0)
            .unwrap_or_else(|_| PoolRef::new(&name, 1 - reference.slot(), 0, 0).unwrap());
        assert!(matches!(
            pool.resolve(&forged),
            Err(ResolveError::Stale {
                state: "invalid",
                ..
            })
        ));
        let loan = pool.try_acquire().unwrap();
        assert_eq!(
            loan.slot(),
            reference.slot(),
            "the damaged slot is never lent"
        );
    }
}

// --- hostile references -----------------------------------------------------------------------

#[test]
fn hostile_references_are_typed_errors() {
    let name = unique_name("pool-refs");
    let pool = BufferPool::create(&name, 2, 64).unwrap();
    let good = publish(&pool, 1, 8).to_bytes();
    let altered = |at: usize, bytes: &[u8]| {
        let mut b = good;
        b[at..at + bytes.len()].copy_from_slice(bytes);
        PoolRef::from_bytes(&b)
    };
    assert!(matches!(
        PoolRef::from_bytes(&good[..63]),
        Err(PoolRefError::WrongLength {
            found: 63,
            expected: 64
        })
    ));
    assert!(matches!(
        altered(0, b"SRPX"),
        Err(PoolRefError::WrongMagic { .. })
    ));
    assert!(matches!(
        altered(4, &[2]),
        Err(PoolRefError::UnsupportedVersion { found: 2, .. })
    ));
    assert!(matches!(
        altered(5, &[31]),
        Err(PoolRefError::Malformed { .. })
    ));
    assert!(matches!(
        altered(5, &[0]),
        Err(PoolRefError::Malformed { .. })
    ));
    assert!(matches!(
        altered(6, &[1]),
        Err(PoolRefError::Malformed { .. })
    ));
    assert!(matches!(
        altered(62, &[1]),
        Err(PoolRefError::Malformed { .. })
    ));
    assert!(matches!(
        altered(32, b"/"),
        Err(PoolRefError::Malformed { .. })
    ));
    assert!(matches!(
        altered(32, b"*"),
        Err(PoolRefError::InvalidName { .. })
    ));
    assert!(matches!(
        altered(32, &[0xff]),
        Err(PoolRefError::Malformed { .. })
    ));
    assert!(matches!(
        altered(16, &(1u64 << 56).to_le_bytes()),
        Err(PoolRefError::GenerationOutOfRange { .. })
    ));
    // Well-formed, but wrong for this pool.
    let slot_past = altered(8, &2u32.to_le_bytes()).unwrap();
    assert!(matches!(
        pool.resolve(&slot_past),
        Err(ResolveError::SlotOutOfRange {
            slot: 2,
            slots: 2,
            ..
        })
    ));
    let too_long = altered(24, &65u64.to_le_bytes()).unwrap();
    assert!(matches!(
        pool.resolve(&too_long),
        Err(ResolveError::LengthExceedsSlot {
            len: 65,
            slot_size: 64,
            ..
        })
    ));
    let other_pool = PoolRef::new("somewhere-else", 0, 1, 8).unwrap();
    assert!(matches!(
        pool.resolve(&other_pool),
        Err(ResolveError::WrongPool { .. })
    ));
    let wrong_len = altered(24, &9u64.to_le_bytes()).unwrap();
    assert!(matches!(
        pool.resolve(&wrong_len),
        Err(ResolveError::LengthMismatch { .. })
    ));
    // The good one still reads, once.
    let view = pool.resolve(&PoolRef::from_bytes(&good).unwrap()).unwrap();
    assert_eq!(&*view, &payload(1, 8)[..]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any 64 bytes, decoded and resolved: a value or a typed error, never a panic, and a
    /// resolve succeeds only for the published reference.
    #[test]
    fn any_reference_bytes_are_handled_without_panic(
        mut bytes in proptest::collection::vec(any::<u8>(), 64),
        keep_header in any::<bool>(),
    ) {
        let name = format!("pool-prop-{}", std::process::id());
        let pool = BufferPool::create(&name, 2, 64).unwrap();
        let published = publish(&pool, 3, 16);
        if keep_header {
            // Mostly valid: the real header and name, random slot, generation and length.
            let good = published.to_bytes();
            bytes[..8].copy_from_slice(&good[..8]);
            bytes[12..16].fill(0);
            bytes[32..].copy_from_slice(&good[32..]);
        }
        if let Ok(reference) = PoolRef::from_bytes(&bytes) {
            if let Ok(view) = pool.resolve(&reference) {
                prop_assert_eq!(&reference, &published);
                prop_assert_eq!(&*view, &payload(3, 16)[..]);
            }
        }
    }
}

#[cfg(feature = "json")]
#[test]
fn hostile_json_references_are_typed_errors_naming_the_member_or_value() {
    let good = PoolRef::new("frames", 1, 2, 3).unwrap().to_json();
    let altered = |from: &str, to: &str| {
        assert!(good.contains(from), "{from}");
        PoolRef::from_json(&good.replace(from, to))
    };
    let json_reason = |result: Result<PoolRef, PoolRefError>| match result {
        Err(PoolRefError::Json { reason }) => reason,
        other => panic!("expected Json, got {other:?}"),
    };
    assert!(json_reason(altered(r#","len":3"#, "")).contains("missing field `len`"));
    assert!(json_reason(altered(r#""len":3"#, r#""len":3,"x":1"#)).contains("unknown field `x`"));
    assert!(
        json_reason(altered(r#""len":3"#, r#""len":3,"len":3"#)).contains("duplicate field `len`")
    );
    assert!(json_reason(altered(r#""slot":1"#, r#""slot":1.5"#)).contains("1.5"));
    assert!(json_reason(altered(r#""slot":1"#, r#""slot":-1"#)).contains("-1"));
    assert!(json_reason(altered(r#""slot":1"#, r#""slot":4294967296"#)).contains("4294967296"));
    assert!(!json_reason(PoolRef::from_json("{")).is_empty());
    assert_eq!(
        altered(r#""format":"shm_ring.pool_ref""#, r#""format":"x""#),
        Err(PoolRefError::UnsupportedFormat {
            found: "x".to_owned()
        })
    );
    assert_eq!(
        altered(r#""version":1"#, r#""version":7"#),
        Err(PoolRefError::UnsupportedJsonVersion {
            found: 7,
            supported: 1
        })
    );
    assert!(matches!(
        altered(r#""pool":"frames""#, r#""pool":"/frames""#),
        Err(PoolRefError::Malformed { .. })
    ));
    assert!(matches!(
        altered(r#""pool":"frames""#, r#""pool":"a b""#),
        Err(PoolRefError::InvalidName { .. })
    ));
    assert_eq!(
        altered(r#""generation":2"#, r#""generation":72057594037927936"#),
        Err(PoolRefError::GenerationOutOfRange {
            generation: 1 << 56
        })
    );
    // Every message says what was wrong.
    let error = altered(r#""version":1"#, r#""version":7"#).unwrap_err();
    assert!(error.to_string().contains('7'), "{error}");
}
