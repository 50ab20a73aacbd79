//! Waiting for the other side: the one place that decides how a blocking call waits.
//!
//! A blocking call retries its non-blocking twin, first spinning, then yielding, and then
//! sleeping in the kernel until the other side publishes.
//!
//! # Sleeping without a fence on the fast path
//! A sleeper and a publisher must not miss each other: the sleeper flags itself and then checks
//! the index; the publisher stores the index and then checks the flag. Each needs a full
//! barrier between its store and its load, or both may read stale values and the sleeper
//! sleeps through the publish. A barrier on every publish costs the publisher a third of its
//! small-message throughput, so the sleeper pays instead:
//!
//! 1. The sleeper's last attempt loaded the other side's index word and saw `V`.
//! 2. It sets [`FLAG_SLEEPING`] in its own flag byte.
//! 3. It runs `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`, which executes a full barrier on
//!    every CPU running a process registered for it (each of our processes registers; the
//!    other side advertises it with [`FLAG_BARRIER`]). After it, either the publisher's store
//!    is visible, or the publisher has not yet loaded the flag and will see it set.
//! 4. It calls `FUTEX_WAIT` on the index word with expected value `V`: the kernel returns at
//!    once if the word has changed, and otherwise sleeps until a `FUTEX_WAKE`.
//!
//! The publisher keeps a plain release store of its index and a relaxed load of the other
//! side's flag byte; only when the flag is set does it make the `FUTEX_WAKE` system call.
//!
//! Against a peer that cannot be fenced or never wakes anyone (the original library, or a
//! system without `membarrier`), sleeps are short slices (at most 1 ms), so nothing waits long
//! for a wake that never comes. Against one of ours, a slice lasts up to the end's peer-check
//! interval ([`PEER_CHECK_INTERVAL`] unless set): the peer wakes the sleeper, and the slice only
//! bounds how late a dead peer is noticed.

use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use crossbeam_utils::Backoff;

use crate::end::PeerState;
use crate::layout::{FLAG_BARRIER, FLAG_LOCKED};

/// The first sleep slice against a peer that does not wake us.
const FIRST_POLL: Duration = Duration::from_micros(10);
/// The longest sleep slice against a peer that does not wake us.
const LONGEST_POLL: Duration = Duration::from_millis(1);
/// How often, by default, a sleeping call checks that a peer which wakes us is still alive.
pub(crate) const PEER_CHECK_INTERVAL: Duration = Duration::from_millis(20);

/// How an end of a ring has slept in blocking calls so far.
///
/// A blocking call sleeps in the kernel only after spinning briefly found nothing. Against a
/// peer of this crate (or the repository's Python and C++ peers) nearly every sleep is ended
/// early by the peer's wake-up; against a program of the original library, which never wakes
/// anyone, every sleep lasts its whole slice, which is at most 1 ms.
///
/// ```
/// # let name = &format!("doc-wait-stats-{}", std::process::id());
/// let producer = shm_ring::ShmProducer::create(name, 4096)?;
/// let mut consumer = shm_ring::ShmConsumer::open(name)?;
/// let _ = consumer.read(std::time::Duration::from_millis(5)); // nothing comes
/// let stats = consumer.wait_stats();
/// assert!(stats.full_slices <= stats.sleeps);
/// # producer.unlink()?;
/// # Ok::<(), shm_ring::OpenError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitStats {
    /// Times the end went to sleep in the kernel.
    pub sleeps: u64,
    /// Of those, the sleeps that lasted their whole slice: no wake-up and no publish ended
    /// them early.
    pub full_slices: u64,
}

/// One end of a ring, as a blocking call sees it.
pub(crate) trait Blocking {
    /// The other side's flag byte.
    fn peer_flags(&self) -> u8;
    /// Whether the other side is alive.
    fn peer_state(&self) -> PeerState;
    /// The other side's index word, and its value when the last attempt loaded it.
    // Only Linux sleeps in a futex; elsewhere blocking calls poll without flagging it.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn sleep_target(&self) -> (&AtomicU32, u32);
    /// Sets or clears this side's sleeping flag.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn set_sleeping(&self, sleeping: bool);
    /// The end's sleep counters.
    fn stats(&mut self) -> &mut WaitStats;
    /// How long a sleep may last before checking that the peer is alive.
    fn peer_check_interval(&self) -> Duration;
}

/// Calls `attempt` until it returns `Some`, an error, `timeout` has passed (then
/// `on_timeout`), or the other side is gone (then one last attempt, so that what it published
/// before it went is still delivered, and `on_gone`). `attempt` always runs at least once,
/// even with a zero timeout. A timeout too large to represent as a deadline waits forever.
#[inline]
pub(crate) fn retry<S: Blocking, T, E>(
    side: &mut S,
    timeout: Duration,
    on_timeout: E,
    on_gone: E,
    mut attempt: impl FnMut(&mut S) -> Result<Option<T>, E>,
) -> Result<T, E> {
    // The first attempt, inlined into the caller: when there is room or a message already,
    // a blocking call costs no more than its non-blocking twin.
    if let Some(done) = attempt(side)? {
        return Ok(done);
    }
    wait_and_retry(side, timeout, on_timeout, on_gone, attempt)
}

/// The waiting part of [`retry`], after a first attempt found nothing.
#[inline(never)]
fn wait_and_retry<S: Blocking, T, E>(
    side: &mut S,
    timeout: Duration,
    on_timeout: E,
    on_gone: E,
    mut attempt: impl FnMut(&mut S) -> Result<Option<T>, E>,
) -> Result<T, E> {
    let deadline = Instant::now().checked_add(timeout);
    let backoff = Backoff::new();
    let mut poll = FIRST_POLL;
    loop {
        let left = match deadline {
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => left,
                _ => return Err(on_timeout),
            },
            None => Duration::MAX,
        };
        if backoff.is_completed() {
            if side.peer_state() == PeerState::Gone {
                return match attempt(side)? {
                    Some(done) => Ok(done),
                    None => Err(on_gone),
                };
            }
            let flags = side.peer_flags();
            let woken_by_peer = flags & (FLAG_LOCKED | FLAG_BARRIER) == FLAG_LOCKED | FLAG_BARRIER;
            let slice = if woken_by_peer {
                side.peer_check_interval()
            } else {
                let slice = poll;
                poll = (poll * 2).min(LONGEST_POLL);
                slice
            };
            let full_slice = park(side, slice.min(left), woken_by_peer);
            let stats = side.stats();
            stats.sleeps += 1;
            stats.full_slices += u64::from(full_slice);
            if !full_slice && woken_by_peer {
                // The peer is at work: while it keeps publishing, spin and yield before the
                // next sleep, so that waiting for a condition its publishes approach (room
                // for a large message, an empty ring) does not trade a wake-up call and a
                // sleep per publish.
                backoff.reset();
            }
        } else {
            backoff.snooze();
        }
        if let Some(done) = attempt(side)? {
            return Ok(done);
        }
    }
}

/// Sleeps for at most `max`, or until the other side's index word changes from the value the
/// last attempt saw. With `fence_peer`, the peer's process is fenced first so that it cannot
/// miss the sleeping flag (see the module docs); otherwise a wake may be missed and `max`
/// bounds the cost. Returns whether the sleep lasted all of `max`.
#[cfg(target_os = "linux")]
fn park<S: Blocking>(side: &S, max: Duration, fence_peer: bool) -> bool {
    use rustix::thread::{futex, membarrier, MembarrierCommand};
    let (word, seen) = side.sleep_target();
    side.set_sleeping(true);
    if !(fence_peer && membarrier(MembarrierCommand::GlobalExpedited).is_ok()) {
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    }
    let timeout = futex::Timespec {
        tv_sec: max.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(max.subsec_nanos()),
    };
    // Returns on a wake, a change of the word, a signal or the timeout; all mean "look again".
    let slept = futex::wait(word, futex::Flags::empty(), seen, Some(&timeout));
    side.set_sleeping(false);
    slept == Err(rustix::io::Errno::TIMEDOUT)
}

/// Without futexes: sleep for the slice and look again. Nobody can wake this sleep, so the
/// sleeping flag stays clear and the publisher never tries.
#[cfg(not(target_os = "linux"))]
fn park<S: Blocking>(_side: &S, max: Duration, _fence_peer: bool) -> bool {
    std::thread::sleep(max);
    true
}

/// Wakes a sleeper waiting on `word` (called after publishing it, when the other side's flag
/// says it sleeps).
pub(crate) fn wake(word: &AtomicU32) {
    #[cfg(target_os = "linux")]
    {
        let _ = rustix::thread::futex::wake(word, rustix::thread::futex::Flags::empty(), 1);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = word;
}

/// Sleeps for at most `max`, or until `word` no longer holds `seen` or someone calls
/// [`wake_all`] on it. The caller looks again whatever the reason it returns.
#[cfg(target_os = "linux")]
pub(crate) fn sleep_on(word: &AtomicU32, seen: u32, max: Duration) {
    use rustix::thread::futex;
    let timeout = futex::Timespec {
        tv_sec: max.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(max.subsec_nanos()),
    };
    // Returns on a wake, a change of the word, a signal or the timeout; all mean "look again".
    let _ = futex::wait(word, futex::Flags::empty(), seen, Some(&timeout));
}

/// Without futexes nobody can wake a sleeper: sleep a short slice (at most [`LONGEST_POLL`])
/// and look again.
#[cfg(not(target_os = "linux"))]
// Only the buffer pool sleeps this way, and Windows has no buffer pools yet.
#[cfg_attr(windows, allow(dead_code))]
pub(crate) fn sleep_on(_word: &AtomicU32, _seen: u32, max: Duration) {
    std::thread::sleep(max.min(LONGEST_POLL));
}

/// Wakes every sleeper waiting on `word` in [`sleep_on`].
#[cfg_attr(windows, allow(dead_code))]
pub(crate) fn wake_all(word: &AtomicU32) {
    #[cfg(target_os = "linux")]
    {
        let _ = rustix::thread::futex::wake(
            word,
            rustix::thread::futex::Flags::empty(),
            i32::MAX as u32,
        );
    }
    #[cfg(not(target_os = "linux"))]
    let _ = word;
}

/// Registers this process, once, for `MEMBARRIER_CMD_GLOBAL_EXPEDITED`, so that a peer about
/// to sleep can fence it. Returns whether that worked (a kernel without `membarrier`, or a
/// sandbox that forbids it, says no; then peers fall back to short sleep slices).
pub(crate) fn barrier_registered() -> bool {
    #[cfg(target_os = "linux")]
    {
        use rustix::thread::{membarrier, MembarrierCommand};
        static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *REGISTERED.get_or_init(|| membarrier(MembarrierCommand::RegisterGlobalExpedited).is_ok())
    }
    #[cfg(not(target_os = "linux"))]
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A side whose peer never publishes, with a given flag byte and liveness.
    struct Idle {
        flags: u8,
        state: PeerState,
        #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
        word: AtomicU32,
        sleeping: Cell<bool>,
        /// Whether `peer_state` has been asked.
        asked: Cell<bool>,
        stats: WaitStats,
    }

    impl Idle {
        fn new(flags: u8, state: PeerState) -> Idle {
            Idle {
                flags,
                state,
                word: AtomicU32::new(7),
                sleeping: Cell::new(false),
                asked: Cell::new(false),
                stats: WaitStats::default(),
            }
        }
    }

    impl Blocking for Idle {
        fn peer_flags(&self) -> u8 {
            self.flags
        }
        fn peer_state(&self) -> PeerState {
            self.asked.set(true);
            self.state
        }
        fn sleep_target(&self) -> (&AtomicU32, u32) {
            (&self.word, 7)
        }
        fn set_sleeping(&self, sleeping: bool) {
            self.sleeping.set(sleeping);
        }
        fn stats(&mut self) -> &mut WaitStats {
            &mut self.stats
        }
        fn peer_check_interval(&self) -> Duration {
            Duration::from_millis(5)
        }
    }

    #[test]
    fn succeeds_as_soon_as_the_attempt_does() {
        let mut calls = 0;
        let result = retry(
            &mut Idle::new(0, PeerState::Unknown),
            Duration::from_secs(60),
            "timeout",
            "gone",
            |_| {
                calls += 1;
                Ok((calls == 5).then_some(calls))
            },
        );
        assert_eq!(result, Ok(5));
    }

    #[test]
    fn a_zero_timeout_tries_once() {
        let mut calls = 0;
        let result: Result<(), _> = retry(
            &mut Idle::new(0, PeerState::Unknown),
            Duration::ZERO,
            "timeout",
            "gone",
            |_| {
                calls += 1;
                Ok(None)
            },
        );
        assert_eq!(result, Err("timeout"));
        assert_eq!(calls, 1);
    }

    #[test]
    fn gives_up_after_the_timeout_and_leaves_no_flag_set() {
        let mut side = Idle::new(FLAG_LOCKED | FLAG_BARRIER, PeerState::Alive);
        let start = Instant::now();
        let result: Result<(), _> = retry(
            &mut side,
            Duration::from_millis(30),
            "timeout",
            "gone",
            |_| Ok(None),
        );
        assert_eq!(result, Err("timeout"));
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(!side.sleeping.get());
    }

    #[test]
    fn a_sleep_nobody_ends_runs_its_whole_slice() {
        // Spinning ends after a fixed number of rounds, whatever the machine's load, so the
        // end goes to sleep; the attempt succeeds once it has slept twice. Nobody ever wakes
        // it: every sleep runs its slice out, and no flag is left set.
        let mut side = Idle::new(FLAG_LOCKED | FLAG_BARRIER, PeerState::Alive);
        let result = retry(
            &mut side,
            Duration::from_secs(600),
            "timeout",
            "gone",
            |side| Ok((side.stats.sleeps >= 2).then_some(())),
        );
        assert_eq!(result, Ok(()));
        assert_eq!(side.stats.sleeps, 2, "{:?}", side.stats);
        assert_eq!(side.stats.full_slices, 2, "{:?}", side.stats);
        assert!(!side.sleeping.get());
    }

    #[test]
    fn errors_end_the_wait() {
        let result: Result<(), _> = retry(
            &mut Idle::new(0, PeerState::Unknown),
            Duration::from_secs(60),
            "timeout",
            "broken",
            |_| Err("broken"),
        );
        assert_eq!(result, Err("broken"));
    }

    #[test]
    fn a_gone_peer_ends_the_wait() {
        let result: Result<(), _> = retry(
            &mut Idle::new(FLAG_LOCKED, PeerState::Gone),
            Duration::from_secs(600),
            "timeout",
            "gone",
            |_| Ok(None),
        );
        assert_eq!(result, Err("gone"));
    }

    #[test]
    fn what_a_gone_peer_published_is_still_delivered() {
        // The message becomes visible only after the peer was found gone (it published just
        // before dying): the last attempt must still pick it up.
        let mut side = Idle::new(FLAG_LOCKED, PeerState::Gone);
        let result = retry(
            &mut side,
            Duration::from_secs(600),
            "timeout",
            "gone",
            |side| Ok(side.asked.get().then_some("last message")),
        );
        assert_eq!(result, Ok("last message"));
    }

    #[test]
    fn an_unknown_peer_never_counts_as_gone() {
        let result: Result<(), _> = retry(
            &mut Idle::new(0, PeerState::Unknown),
            Duration::from_millis(20),
            "timeout",
            "gone",
            |_| Ok(None),
        );
        assert_eq!(result, Err("timeout"));
    }
}
