//! What the two ends of a ring share: the segment they hold, how they wait for each other,
//! and what they can tell about the other side ([`PeerState`]).
//!
//! [`End`] is generic over the ring side, so the waiting code that both
//! [`ShmProducer`](crate::ShmProducer) and [`ShmConsumer`](crate::ShmConsumer) use exists once.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use crate::error::Role;
use crate::segment::Segment;
use crate::wait::{self, Blocking, WaitStats};

/// Whether the process at the other end of a ring is alive.
///
/// A peer of this crate, or of the Python module and C++ header in this repository, holds a
/// lock on the segment for as long as its process lives, so its state is known. A program
/// written against the original library announces nothing, and neither does a peer that has
/// not attached yet: their state is [`Unknown`](PeerState::Unknown).
///
/// The answer can be out of date as soon as it is given: a peer that is
/// [`Alive`](PeerState::Alive) may exit right after, and a [`Gone`](PeerState::Gone) consumer
/// may be replaced by a new one attaching. Blocking calls therefore check it again while they
/// wait, and report a peer that goes away as their `PeerGone` error.
///
/// ```
/// use shm_ring::{PeerState, ShmConsumer, ShmProducer};
/// # let name = &format!("doc-peer-state-{}", std::process::id());
/// let producer = ShmProducer::create(name, 4096)?;
/// assert_eq!(producer.peer_state(), PeerState::Unknown); // nobody attached yet
/// let consumer = ShmConsumer::open(name)?;
/// assert_eq!(producer.peer_state(), PeerState::Alive);
/// assert_eq!(consumer.peer_state(), PeerState::Alive);
/// drop(consumer);
/// assert_eq!(producer.peer_state(), PeerState::Gone);
/// # producer.unlink()?;
/// # Ok::<(), shm_ring::OpenError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerState {
    /// The peer's process holds its lock on the segment.
    Alive,
    /// The peer held its lock and has let go: its process exited, was killed, or dropped its
    /// end.
    Gone,
    /// The peer announces nothing: it has not attached yet, is a program of the original
    /// library, or the OS offers no locks to tell by.
    Unknown,
}

/// A ring side as an [`End`] needs it: what to wait on, what to announce, whom to wake.
pub(crate) trait Side {
    /// The role of the other side.
    const PEER: Role;
    /// The other side's flag byte (0 when it has none).
    fn peer_flags(&self) -> u8;
    /// The other side's index word, and its value when the last attempt loaded it.
    // Only Linux sleeps in a futex; elsewhere blocking calls poll without flagging it.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn sleep_target(&self) -> (&AtomicU32, u32);
    /// Sets or clears this side's sleeping flag.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn set_sleeping(&self, sleeping: bool);
}

/// One end of a ring: its side of the ring, the segment it holds, and its waiting state.
pub(crate) struct End<R> {
    pub(crate) ring: R,
    pub(crate) segment: Segment,
    stats: WaitStats,
    /// How long a sleep lasts at most before checking that the peer is alive.
    peer_check: Duration,
}

impl<R: Side> End<R> {
    pub(crate) fn new(ring: R, segment: Segment) -> End<R> {
        End {
            ring,
            segment,
            stats: WaitStats::default(),
            peer_check: wait::PEER_CHECK_INTERVAL,
        }
    }

    /// Whether the other side's process is alive.
    pub(crate) fn peer_state(&self) -> PeerState {
        match self.segment.peer_alive(R::PEER, self.ring.peer_flags()) {
            Some(true) => PeerState::Alive,
            Some(false) => PeerState::Gone,
            None => PeerState::Unknown,
        }
    }

    pub(crate) fn set_peer_check_interval(&mut self, interval: Duration) {
        self.peer_check = interval;
    }

    pub(crate) fn wait_stats(&self) -> WaitStats {
        self.stats
    }
}

impl<R: Side> Blocking for End<R> {
    fn peer_flags(&self) -> u8 {
        self.ring.peer_flags()
    }

    fn peer_state(&self) -> PeerState {
        End::peer_state(self)
    }

    fn sleep_target(&self) -> (&AtomicU32, u32) {
        self.ring.sleep_target()
    }

    fn set_sleeping(&self, sleeping: bool) {
        self.ring.set_sleeping(sleeping);
    }

    fn stats(&mut self) -> &mut WaitStats {
        &mut self.stats
    }

    fn peer_check_interval(&self) -> Duration {
        self.peer_check
    }
}

impl Side for crate::ring::RingProducer {
    const PEER: Role = Role::Consumer;

    fn peer_flags(&self) -> u8 {
        crate::ring::RingProducer::peer_flags(self)
    }

    fn sleep_target(&self) -> (&AtomicU32, u32) {
        crate::ring::RingProducer::sleep_target(self)
    }

    fn set_sleeping(&self, sleeping: bool) {
        crate::ring::RingProducer::set_sleeping(self, sleeping);
    }
}

impl Side for crate::ring::RingConsumer {
    const PEER: Role = Role::Producer;

    fn peer_flags(&self) -> u8 {
        crate::ring::RingConsumer::peer_flags(self)
    }

    fn sleep_target(&self) -> (&AtomicU32, u32) {
        crate::ring::RingConsumer::sleep_target(self)
    }

    fn set_sleeping(&self, sleeping: bool) {
        crate::ring::RingConsumer::set_sleeping(self, sleeping);
    }
}
