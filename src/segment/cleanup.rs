//! Removing this crate's segments whose owner is provably gone, and nothing else.
//!
//! A segment is an orphan when the process that owns it announced a liveness lock in the
//! segment and no longer holds it, and no other process holds one of its locks either. The
//! removal itself follows the rule every removal in this crate follows: only a process holding
//! the owner's lock of the object a name refers to removes that name (see [`super::create`]).

use std::fmt;
use std::io;

use super::inspect::SegmentKind;
#[cfg(unix)]
use super::{
    inspect::{inspect_object, list, SegmentInfo},
    names, names_object, os, os_error,
};
#[cfg(unix)]
use crate::end::PeerState;
use crate::error::OpenError;
#[cfg(unix)]
use crate::layout::PRODUCER_LOCK_BYTE;

/// What [`cleanup`] looks at and whether it removes what it finds.
///
/// ```ignore-windows
/// let options = shm_ring::CleanupOptions::new().dry_run(true).prefix("render-");
/// let report = shm_ring::cleanup(&options)?;
/// assert!(report.orphans.iter().all(|o| o.name.starts_with("render-")));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupOptions {
    dry_run: bool,
    prefix: String,
}

impl CleanupOptions {
    /// Removal on, every segment looked at.
    ///
    /// ```
    /// assert_eq!(shm_ring::CleanupOptions::new(), Default::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// With `true`, [`cleanup`] lists the orphans and removes nothing.
    ///
    /// ```
    /// let options = shm_ring::CleanupOptions::new().dry_run(true);
    /// # let _ = options;
    /// ```
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Looks only at segments whose name (without its leading `/`) starts with `prefix`.
    ///
    /// ```
    /// let options = shm_ring::CleanupOptions::new().prefix("frames-");
    /// # let _ = options;
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
}

/// Why a segment is an orphan.
///
/// Its `Display` is one phrase, e.g. `its producer and consumer are gone`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OrphanReason {
    /// A ring whose producer announced its liveness lock and let go of it (its process
    /// ended), and whose consumer holds none.
    RingEndsGone,
    /// A shared buffer whose creating process and last writer are gone.
    BufferOwnerGone,
    /// A buffer pool whose creating process is gone and of whose slots no live process holds
    /// one.
    PoolOwnerGone,
}

impl fmt::Display for OrphanReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OrphanReason::RingEndsGone => "its producer and consumer are gone",
            OrphanReason::BufferOwnerGone => "its owner and writer are gone",
            OrphanReason::PoolOwnerGone => "its owner and every slot holder are gone",
        })
    }
}

/// A segment [`cleanup`] removed (or, in a dry run, would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Orphan {
    /// The segment name, without a leading `/`.
    pub name: String,
    /// What it held.
    pub kind: SegmentKind,
    /// Why it was an orphan.
    pub reason: OrphanReason,
}

/// What [`cleanup`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct CleanupReport {
    /// The orphans removed (in a dry run: found, and left in place), sorted by name.
    pub orphans: Vec<Orphan>,
    /// Orphans that could not be removed, each with the error (typically
    /// [`OpenError::PermissionDenied`]: another user's segment).
    pub failures: Vec<(String, OpenError)>,
}

/// Why `info` is an orphan, or `None` if it is not provably one.
///
/// Only this crate's kinds, only with a liveness lock announced in the segment, and only when
/// that lock is free: an original-layout ring (or an extended ring whose producer announced no
/// lock) is never an orphan, since nothing tells whether its producer lives.
#[cfg(unix)]
fn orphan_reason(info: &SegmentInfo) -> Option<OrphanReason> {
    match info.kind {
        SegmentKind::ExtendedRing
            if info.producer == PeerState::Gone && info.consumer != PeerState::Alive =>
        {
            Some(OrphanReason::RingEndsGone)
        }
        SegmentKind::SharedBuffer
            if info.producer == PeerState::Gone
                && info.buffer.is_some_and(|b| b.writer != PeerState::Alive) =>
        {
            Some(OrphanReason::BufferOwnerGone)
        }
        SegmentKind::BufferPool
            if info.producer == PeerState::Gone
                && info.pool.is_some_and(|p| p.holders_alive == Some(false)) =>
        {
            Some(OrphanReason::PoolOwnerGone)
        }
        _ => None,
    }
}

/// Finds this crate's segments whose owner is provably gone and removes them (with
/// [`CleanupOptions::dry_run`], only lists them). Never removes a segment whose owner lives,
/// nor one it does not recognise.
///
/// A segment is an orphan ([`OrphanReason`]) when
/// - it is an extended ring whose producer announced its liveness lock and no longer holds it,
///   and whose consumer holds none (what `shm-ring gc` has always removed);
/// - it is a [`SharedBuffer`](crate::SharedBuffer) whose creator's lock and writer lock are
///   both free;
/// - it is a [`BufferPool`](crate::BufferPool) whose creator's lock is free and no slot's
///   liveness lock is held.
///
/// Rings of the original layout are never removed: their producers announce no lock, so a
/// live one cannot be told from a dead one ([`crate::remove`] removes one by name). Objects
/// with any other header, damaged or not ready are left alone, as are those this user cannot
/// read.
///
/// Each removal takes the owner's liveness lock first, looks at the segment again while
/// holding it, and removes the name only if it still refers to the object looked at: an owner
/// that starts (or a segment that is re-created under the same name) meanwhile is never
/// removed, since only the holder of that lock may remove or replace the name. A process that
/// has the segment mapped keeps it; only the name goes.
///
/// Fails only when the segments cannot be listed (see [`list`](crate::list): Linux only);
/// segments that were orphans but could not be removed are in
/// [`CleanupReport::failures`].
///
/// ```ignore-windows
/// use shm_ring::{CleanupOptions, OrphanReason, SegmentKind, ShmProducer};
/// let name = &format!("doc-cleanup-{}", std::process::id());
/// # let _ = shm_ring::remove(name);
/// drop(ShmProducer::create(name, 4096)?); // ends like a crash: the segment stays
/// # // In one process the lock goes with the handle; in real use, with the process.
/// let report = shm_ring::cleanup(&CleanupOptions::new().prefix(name.as_str()))?;
/// assert_eq!(report.orphans.len(), 1);
/// assert_eq!(report.orphans[0].kind, SegmentKind::ExtendedRing);
/// assert_eq!(report.orphans[0].reason, OrphanReason::RingEndsGone);
/// assert!(shm_ring::inspect(name).is_err()); // removed
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Windows
/// Always fails with [`io::ErrorKind::Unsupported`]: Windows offers no documented way to list
/// named mappings, and a mapping has no name to remove. The kernel removes one when the last
/// process that has it open closes it or dies, so there is nothing left to clean up.
pub fn cleanup(options: &CleanupOptions) -> io::Result<CleanupReport> {
    #[cfg(windows)]
    return {
        let _ = options;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "Windows removes a named mapping when the last process holding it closes it or \
             dies, and has no documented way to list them: there is nothing to clean up",
        ))
    };
    #[cfg(unix)]
    remove_orphans(options)
}

/// [`cleanup`] where segments can be listed and removed.
#[cfg(unix)]
fn remove_orphans(options: &CleanupOptions) -> io::Result<CleanupReport> {
    let mut report = CleanupReport::default();
    for (name, info) in list()? {
        if !name.starts_with(&options.prefix) {
            continue;
        }
        // A segment that cannot be looked at is not one we can judge.
        let Some(reason) = info.ok().as_ref().and_then(orphan_reason) else {
            continue;
        };
        if options.dry_run {
            report.orphans.push(Orphan {
                name,
                kind: kind_of(reason),
                reason,
            });
            continue;
        }
        match remove_orphan(&name) {
            Ok(Some(orphan)) => report.orphans.push(orphan),
            // Taken over, re-created or removed by someone else meanwhile.
            Ok(None) => {}
            Err(e) => report.failures.push((name, e)),
        }
    }
    Ok(report)
}

#[cfg(unix)]
fn kind_of(reason: OrphanReason) -> SegmentKind {
    match reason {
        OrphanReason::RingEndsGone => SegmentKind::ExtendedRing,
        OrphanReason::BufferOwnerGone => SegmentKind::SharedBuffer,
        OrphanReason::PoolOwnerGone => SegmentKind::BufferPool,
    }
}

/// Removes the segment `name` if it is an orphan, judged while holding its owner's liveness
/// lock. `Ok(None)`: not (or no longer) an orphan, or no longer there.
#[cfg(unix)]
fn remove_orphan(name: &str) -> Result<Option<Orphan>, OpenError> {
    let (bare, os_name) = names(name)?;
    let object = match os::Object::open(&os_name) {
        Ok(object) => object,
        Err((_, e)) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(os_error(&bare, e)),
    };
    // Without the owner's lock, nothing proves the owner gone: leave it. (`None`, an OS
    // without such locks, never gets here: nothing is judged an orphan there.)
    if object
        .try_lock(PRODUCER_LOCK_BYTE)
        .map_err(|e| os_error(&bare, e))?
        != Some(true)
    {
        return Ok(None);
    }
    // Holding it, no owner can start on this object; look again at everything else.
    let info = inspect_object(bare.clone(), &object)?;
    let Some(reason) = orphan_reason(&info) else {
        return Ok(None);
    };
    let (_, identity) = object.stat().map_err(|e| os_error(&bare, e))?;
    if !names_object(&os_name, identity).map_err(|e| os_error(&bare, e))? {
        return Ok(None);
    }
    match os::unlink(&os_name) {
        Ok(()) => Ok(Some(Orphan {
            name: bare,
            kind: info.kind,
            reason,
        })),
        Err((_, e)) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(os_error(&bare, e)),
    }
    // `object` closes here, releasing the lock of an object that no longer has a name.
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::layout::{CAPACITY, HEADER_LEN};
    use std::sync::atomic::Ordering::Release;

    /// Makes an original-layout ring (no extension block, no lock announced) named `name`, as
    /// the original library's producer does, and lets go of it.
    fn original_ring(name: &str) {
        let (bare, _) = names(name).unwrap();
        let (segment, _) = super::super::create_object(&bare, 0o600, true).unwrap();
        let len = HEADER_LEN as u64 + 256;
        segment.object.set_len(len, len).unwrap();
        let region = segment.object.map(HEADER_LEN + 256).unwrap();
        region.word(CAPACITY).store(256, Release);
    }

    /// The name of an orphan judged dead comes to refer to another segment before the removal:
    /// that segment is left alone, whether it is a ring of the original layout (whose owner no
    /// lock tells about) or a live producer's ring.
    /// Removes the name when dropped, so a failing test leaves nothing behind.
    struct Removes<'a>(&'a str);

    impl Drop for Removes<'_> {
        fn drop(&mut self) {
            let _ = crate::remove_forced(self.0);
        }
    }

    #[test]
    fn a_name_replaced_after_the_check_is_left_alone() {
        let name = &format!("cleanup-race-{}", std::process::id());
        let _removes = Removes(name);
        drop(crate::ShmProducer::create(name, 4096).unwrap());
        let checked = crate::inspect(name).unwrap();
        assert_eq!(orphan_reason(&checked), Some(OrphanReason::RingEndsGone));

        crate::remove_forced(name).unwrap();
        original_ring(name);
        assert_eq!(remove_orphan(name).unwrap(), None);
        assert_eq!(
            crate::inspect(name).unwrap().kind,
            SegmentKind::OriginalRing
        );

        crate::remove_forced(name).unwrap();
        let live = crate::ShmProducer::create(name, 4096).unwrap();
        assert_eq!(remove_orphan(name).unwrap(), None);
        assert_eq!(crate::inspect(name).unwrap().producer, PeerState::Alive);
        drop(live);
    }
}
