//! `shm_ring::cleanup`: of segments whose owners are alive in other processes and segments
//! whose owners were killed (SIGKILL, so nothing of theirs ran on the way out), only the dead
//! owners' segments are listed and removed; a dry run removes nothing; a segment with a live
//! user besides its dead owner, a ring of the original layout and an object of another program
//! are never touched.
//!
//! The owners are this test binary started again in a child role (an ignored test named by
//! `--exact`), which prints `ready` once its segment is set up and then waits to be killed. The
//! parent synchronises on that line and on `waitpid`, never on sleeps. Every case works under
//! a name prefix of its own, so no other test's segments are looked at.
// Liveness is told by open-file-description locks and segments are listed from /dev/shm: Linux.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};

use shm_ring::{
    BufferPool, CleanupOptions, OrphanReason, PeerState, SegmentKind, SharedBuffer, ShmConsumer,
    ShmProducer, POOL_HOLDERS,
};
use support::raw::Raw;
use support::segment::{exists, unique_name, Removes};

const CHILD_NAME: &str = "SHM_CLEANUP_CHILD_NAME";

/// A child process of this test binary that set up a segment (or joined one) and waits to be
/// killed; killed when dropped.
struct Owner {
    child: Child,
    _stdout: BufReader<ChildStdout>,
}

impl Owner {
    /// Starts the child `role` on segment `name` and waits until it says `ready`.
    fn start(role: &str, name: &str) -> Owner {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                role,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_NAME, name)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the child");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        loop {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("read the child");
            if line.is_empty() {
                let status = child.wait().expect("wait for the child");
                panic!("the {role} child ended ({status}) before it was ready");
            }
            // The harness may have begun the line ("test NAME ... ") without ending it.
            if line.contains("ready ") {
                break;
            }
        }
        Owner {
            child,
            _stdout: stdout,
        }
    }

    /// SIGKILLs the child and reaps it: once this returns, the kernel has dropped its locks.
    fn kill(mut self) {
        self.child.kill().expect("kill the child");
        self.child.wait().expect("reap the child");
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn child_name() -> String {
    std::env::var(CHILD_NAME).expect("started by a cleanup test")
}

/// Says `ready` and waits to be killed, keeping whatever it was given alive.
fn ready_and_park<T>(keep: T) -> ! {
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready ").unwrap();
    out.flush().unwrap();
    drop(out);
    loop {
        std::thread::park();
        let _ = &keep;
    }
}

#[test]
#[ignore = "a child process of the cleanup tests; run by them"]
fn child_ring_producer() {
    ready_and_park(ShmProducer::create(&child_name(), 4096).unwrap());
}

#[test]
#[ignore = "a child process of the cleanup tests; run by them"]
fn child_ring_consumer() {
    ready_and_park(ShmConsumer::open(&child_name()).unwrap());
}

#[test]
#[ignore = "a child process of the cleanup tests; run by them"]
fn child_buffer_owner() {
    let mut buffer = SharedBuffer::create(&child_name(), 4096).unwrap();
    buffer.write(b"payload").unwrap();
    ready_and_park(buffer);
}

#[test]
#[ignore = "a child process of the cleanup tests; run by them"]
fn child_buffer_writer() {
    let mut buffer = SharedBuffer::open(&child_name()).unwrap();
    buffer.write(b"another payload").unwrap();
    ready_and_park(buffer);
}

#[test]
#[ignore = "a child process of the cleanup tests; run by them"]
fn child_pool_owner() {
    ready_and_park(BufferPool::create(&child_name(), 2, 4096).unwrap());
}

#[test]
#[ignore = "a child process of the cleanup tests; run by them"]
fn child_pool_holder() {
    let pool = Box::leak(Box::new(BufferPool::open(&child_name()).unwrap()));
    ready_and_park(pool.try_acquire().unwrap());
}

/// Runs [`shm_ring::cleanup`] on the segments named `prefix...` and returns what it reported
/// as (name, kind, reason), with no failures.
fn cleanup(prefix: &str, dry_run: bool) -> Vec<(String, SegmentKind, OrphanReason)> {
    let options = CleanupOptions::new().dry_run(dry_run).prefix(prefix);
    let report = shm_ring::cleanup(&options).expect("list /dev/shm");
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    report
        .orphans
        .into_iter()
        .map(|o| (o.name, o.kind, o.reason))
        .collect()
}

#[test]
fn only_the_segments_of_killed_owners_are_listed_and_removed() {
    let prefix = unique_name("gc");
    let name = |what: &str| format!("{prefix}-{what}");
    let all = [
        "ring-dead",
        "ring-live",
        "buf-dead",
        "buf-live",
        "pool-dead",
        "pool-live",
    ];
    let _removes: Vec<Removes> = all.iter().map(|what| Removes(name(what))).collect();

    let ring_dead = Owner::start("child_ring_producer", &name("ring-dead"));
    let _ring_live = Owner::start("child_ring_producer", &name("ring-live"));
    let buffer_dead = Owner::start("child_buffer_owner", &name("buf-dead"));
    let _buffer_live = Owner::start("child_buffer_owner", &name("buf-live"));
    let pool_dead = Owner::start("child_pool_owner", &name("pool-dead"));
    let _pool_live = Owner::start("child_pool_owner", &name("pool-live"));
    // Under the same prefix: a ring of the original layout (its producer, if any, announces no
    // lock) and an object of another program.
    let _original = Raw::create_ring(&name("orig"), 256, 0);
    let foreign = Raw::create(&name("foreign"), 4096);
    foreign.set_bytes(0, b"not one of ours");

    // Nothing is dead yet: nothing is an orphan.
    assert_eq!(cleanup(&prefix, true), []);

    ring_dead.kill();
    buffer_dead.kill();
    pool_dead.kill();
    let expected = vec![
        (
            name("buf-dead"),
            SegmentKind::SharedBuffer,
            OrphanReason::BufferOwnerGone,
        ),
        (
            name("pool-dead"),
            SegmentKind::BufferPool,
            OrphanReason::PoolOwnerGone,
        ),
        (
            name("ring-dead"),
            SegmentKind::ExtendedRing,
            OrphanReason::RingEndsGone,
        ),
    ];
    assert_eq!(cleanup(&prefix, true), expected);
    for what in all.iter().chain(&["orig", "foreign"]) {
        assert!(exists(&name(what)), "the dry run removed {}", name(what));
    }

    assert_eq!(cleanup(&prefix, false), expected);
    for what in ["ring-dead", "buf-dead", "pool-dead"] {
        assert!(!exists(&name(what)), "{} was not removed", name(what));
    }
    for what in ["ring-live", "buf-live", "pool-live", "orig", "foreign"] {
        assert!(exists(&name(what)), "{} was removed", name(what));
    }
    for what in ["ring-live", "buf-live", "pool-live"] {
        let info = shm_ring::inspect(&name(what)).unwrap();
        assert_eq!(info.producer, PeerState::Alive, "{what}");
    }
    // Nothing left to do.
    assert_eq!(cleanup(&prefix, false), []);
}

/// A segment whose owner was killed but which another live process still uses (a ring's
/// consumer, a buffer's writer, a pool's slot holder) is kept until that one is gone too.
#[test]
fn a_segment_with_a_live_user_besides_its_dead_owner_is_kept() {
    let prefix = unique_name("gcu");
    let name = |what: &str| format!("{prefix}-{what}");
    let _removes: Vec<Removes> = ["ring", "buf", "pool"]
        .iter()
        .map(|what| Removes(name(what)))
        .collect();
    let ring_owner = Owner::start("child_ring_producer", &name("ring"));
    let ring_user = Owner::start("child_ring_consumer", &name("ring"));
    let buffer_owner = Owner::start("child_buffer_owner", &name("buf"));
    let pool_owner = Owner::start("child_pool_owner", &name("pool"));
    let pool_user = Owner::start("child_pool_holder", &name("pool"));
    ring_owner.kill();
    buffer_owner.kill();
    pool_owner.kill();
    // The owner held the writer lock; once it is gone, another process writes.
    let buffer_user = Owner::start("child_buffer_writer", &name("buf"));
    for what in ["ring", "buf", "pool"] {
        assert_eq!(
            shm_ring::inspect(&name(what)).unwrap().producer,
            PeerState::Gone,
            "{what}"
        );
    }
    assert_eq!(cleanup(&prefix, false), []);
    for what in ["ring", "buf", "pool"] {
        assert!(exists(&name(what)), "{} was removed", name(what));
    }

    ring_user.kill();
    buffer_user.kill();
    pool_user.kill();
    let removed: Vec<String> = cleanup(&prefix, false)
        .into_iter()
        .map(|(name, _, _)| name)
        .collect();
    assert_eq!(removed, [name("buf"), name("pool"), name("ring")]);
}

/// `inspect` tells shared buffers and pools apart from rings, with their sizes, fill and the
/// liveness of their owners.
#[test]
fn inspect_reports_shared_buffers_and_pools() {
    let prefix = unique_name("insp");
    let (buffer_name, pool_name) = (format!("{prefix}-buf"), format!("{prefix}-pool"));
    let _removes = (Removes(buffer_name.clone()), Removes(pool_name.clone()));
    let buffer_owner = Owner::start("child_buffer_owner", &buffer_name);
    let info = shm_ring::inspect(&buffer_name).unwrap();
    assert_eq!(info.kind, SegmentKind::SharedBuffer);
    assert_eq!(info.verdict, shm_ring::Verdict::Valid);
    assert_eq!((info.size, info.mode), (64 + 4096, 0o600));
    let buffer = info.buffer.expect("buffer details");
    assert_eq!((buffer.capacity, buffer.data_len), (4096, 7));
    assert_eq!(
        (info.producer, buffer.writer),
        (PeerState::Alive, PeerState::Alive)
    );
    assert_eq!(buffer.sequence % 2, 0);
    buffer_owner.kill();
    let info = shm_ring::inspect(&buffer_name).unwrap();
    assert_eq!(
        (info.producer, info.buffer.unwrap().writer),
        (PeerState::Gone, PeerState::Gone)
    );

    let pool = BufferPool::create(&pool_name, 3, 1000).unwrap();
    let holder = Owner::start("child_pool_holder", &pool_name);
    let mut loan = pool.try_acquire().unwrap();
    loan[..2].copy_from_slice(b"hi");
    let _reference = loan.publish(2).unwrap();
    let info = shm_ring::inspect(&pool_name).unwrap();
    assert_eq!(info.kind, SegmentKind::BufferPool);
    assert_eq!(info.verdict, shm_ring::Verdict::Valid);
    assert_eq!(info.producer, PeerState::Alive);
    let found = info.pool.expect("pool details");
    assert_eq!((found.slot_count, found.slot_size), (3, 1000));
    assert_eq!(
        (found.free, found.filling, found.published, found.reading),
        (1, 1, 1, 0)
    );
    // Two handles have it open: this process's and the child's.
    assert_eq!(found.holders_alive, Some(true));
    assert_eq!((found.holders, found.live_holders), (POOL_HOLDERS, Some(2)));
    holder.kill();
    let found = shm_ring::inspect(&pool_name).unwrap().pool.unwrap();
    assert_eq!(
        (found.filling, found.holders_alive, found.live_holders),
        (1, Some(true), Some(1))
    );

    // Listed with the same findings.
    let listed = shm_ring::list().unwrap();
    let kinds: Vec<SegmentKind> = listed
        .iter()
        .filter(|(name, _)| name.starts_with(&prefix))
        .map(|(_, info)| info.as_ref().unwrap().kind)
        .collect();
    assert_eq!(kinds, [SegmentKind::SharedBuffer, SegmentKind::BufferPool]);
    drop(pool);
}

/// Damaged headers of either kind are reported by their verdict, never believed.
#[test]
fn inspect_reports_damaged_buffer_and_pool_headers() {
    use shm_ring::Verdict;
    let name = unique_name("insp-bad");
    let raw = Raw::create(&name, 128);
    raw.set_bytes(0, b"SRBF");
    raw.set_word(4, 7);
    let info = shm_ring::inspect(&name).unwrap();
    assert_eq!(info.kind, SegmentKind::SharedBuffer);
    assert_eq!(
        info.verdict,
        Verdict::UnsupportedVersion {
            found: 7,
            supported: 1
        }
    );
    assert_eq!(info.buffer, None);
    raw.set_word(4, 1);
    raw.set_bytes(8, &(1u64 << 40).to_le_bytes());
    assert_eq!(
        shm_ring::inspect(&name).unwrap().verdict,
        Verdict::LayoutExceedsSize {
            needed: 64 + (1 << 40),
            size: 128
        }
    );
    raw.set_bytes(8, &0u64.to_le_bytes());
    assert_eq!(
        shm_ring::inspect(&name).unwrap().verdict,
        Verdict::InvalidBufferCapacity { capacity: 0 }
    );
    raw.set_bytes(8, &64u64.to_le_bytes());
    raw.set_bytes(24, &65u64.to_le_bytes());
    assert_eq!(
        shm_ring::inspect(&name).unwrap().verdict,
        Verdict::LengthExceedsCapacity {
            length: 65,
            capacity: 64
        }
    );

    raw.set_bytes(0, b"SRPL");
    raw.set_word(4, 1); // layout version 1: per-slot locks, refused
    assert_eq!(
        shm_ring::inspect(&name).unwrap().verdict,
        Verdict::UnsupportedVersion {
            found: 1,
            supported: 2
        }
    );
    raw.set_word(4, 2);
    raw.set_word(32, 8); // holder entries
    raw.set_word(8, u32::MAX); // slot count
    raw.set_bytes(16, &64u64.to_le_bytes());
    let info = shm_ring::inspect(&name).unwrap();
    assert_eq!(info.kind, SegmentKind::BufferPool);
    assert_eq!(
        info.verdict,
        Verdict::InvalidPoolGeometry {
            slot_count: u32::MAX,
            slot_size: 64
        }
    );
    raw.set_word(8, 1000);
    assert_eq!(
        shm_ring::inspect(&name).unwrap().verdict,
        Verdict::LayoutExceedsSize {
            needed: 64 + 16 * 1000 + 8 * 8 + 64 * 1000,
            size: 128
        }
    );
    raw.set_word(32, 257);
    assert_eq!(
        shm_ring::inspect(&name).unwrap().verdict,
        Verdict::InvalidPoolHolders {
            found: 257,
            max: 256
        }
    );
    let small = unique_name("insp-small");
    let raw = Raw::create(&small, 20);
    raw.set_bytes(0, b"SRPL");
    assert_eq!(
        shm_ring::inspect(&small).unwrap().verdict,
        Verdict::LayoutExceedsSize {
            needed: 64,
            size: 20
        }
    );
    // None of them is ever an orphan.
    assert_eq!(cleanup(&name, true), []);
}

/// Python's `shm_ring.cleanup` judges this crate's rings, shared buffers and pools as the
/// crate does: it removes the killed owners' segments and leaves the live ones.
#[test]
fn python_cleanup_removes_the_crates_dead_segments_and_leaves_live_ones() {
    let prefix = unique_name("gcpy");
    let name = |what: &str| format!("{prefix}-{what}");
    let all = [
        "ring-dead",
        "ring-live",
        "buf-dead",
        "buf-live",
        "pool-dead",
        "pool-live",
    ];
    let _removes: Vec<Removes> = all.iter().map(|what| Removes(name(what))).collect();
    let dead = [
        Owner::start("child_ring_producer", &name("ring-dead")),
        Owner::start("child_buffer_owner", &name("buf-dead")),
        Owner::start("child_pool_owner", &name("pool-dead")),
    ];
    let _live = [
        Owner::start("child_ring_producer", &name("ring-live")),
        Owner::start("child_buffer_owner", &name("buf-live")),
        Owner::start("child_pool_owner", &name("pool-live")),
    ];
    for owner in dead {
        owner.kill();
    }
    let output = support::tools::python3()
        .args([
            "-c",
            "import sys, shm_ring\n\
             report = shm_ring.cleanup(prefix=sys.argv[1])\n\
             assert not report.failures, report.failures\n\
             for orphan in report.orphans: print(orphan.name, orphan.kind, sep=',')",
            &prefix,
        ])
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    let expected = format!(
        "{},shared buffer\n{},buffer pool\n{},extended ring\n",
        name("buf-dead"),
        name("pool-dead"),
        name("ring-dead")
    );
    assert_eq!(printed, expected);
    for what in all {
        assert_eq!(exists(&name(what)), what.ends_with("-live"), "{what}");
    }
}
