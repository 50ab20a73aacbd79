//! Creating, opening and removing the shared-memory object of a ring.
//!
//! The portable flow lives here: name and size validation, header checks, cleaning up after a
//! failed create, and turning OS errors into [`OpenError`]s. The OS calls themselves are in one
//! file per OS, picked at compile time (`unix.rs` for Linux and macOS).

use std::io;
use std::sync::atomic::Ordering::Acquire;

use crate::error::{OpenError, Role};
use crate::layout::{
    self, CAPACITY, CONSUMER_LOCK_BYTE, FLAG_BARRIER, FLAG_LOCKED, HEADER_LEN, PRODUCER_LOCK_BYTE,
};
use crate::region::Region;
use crate::wait;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use self::unix as os;

#[cfg(not(unix))]
compile_error!(
    "shm_ring supports POSIX shared memory (Linux, macOS) only; a Windows backend is designed \
     (pagefile-backed named mappings, see docs/DESIGN.md) but not implemented"
);

/// A shared-memory object this process has open, and the name it was found under.
pub(crate) struct Segment {
    /// The name without its leading `/`.
    name: String,
    /// Kept open for the life of the producer or consumer: it holds the liveness lock.
    object: os::Object,
    identity: os::Identity,
}

/// A freshly created or opened segment: the object, its mapping, the capacity, and the flag
/// byte this side is to write (which locks it holds, whether its process can be fenced).
pub(crate) struct Mapped {
    pub(crate) segment: Segment,
    pub(crate) region: Region,
    pub(crate) capacity: u32,
    pub(crate) flags: u8,
}

/// The flag byte for a side that did (or did not) get its liveness lock.
fn own_flags(locked: bool) -> u8 {
    let locked = if locked { FLAG_LOCKED } else { 0 };
    let barrier = if wait::barrier_registered() {
        FLAG_BARRIER
    } else {
        0
    };
    locked | barrier
}

/// Validates `name` and returns the bare name and the name the OS sees.
fn names(name: &str) -> Result<(String, String), OpenError> {
    let bare = layout::bare_name(name).map_err(|reason| OpenError::InvalidName {
        name: name.to_owned(),
        reason,
    })?;
    Ok((bare.to_owned(), format!("/{bare}")))
}

/// Turns a failed OS call into an [`OpenError`], naming the segment.
fn os_error(name: &str, (operation, source): (&'static str, io::Error)) -> OpenError {
    let name = name.to_owned();
    match source.kind() {
        io::ErrorKind::NotFound => OpenError::NotFound { name },
        io::ErrorKind::PermissionDenied => OpenError::PermissionDenied { name },
        io::ErrorKind::AlreadyExists => OpenError::AlreadyExists { name },
        _ => OpenError::Io {
            name,
            operation,
            source,
        },
    }
}

/// Creates the object for a ring of `requested` bytes (rounded down to a power of two), takes
/// the producer's liveness lock on it and maps it.
///
/// Unless `exclusive`, an object of the same name is replaced, as the original library does,
/// but only if no live producer holds its lock: a live one is [`OpenError::InUse`]. With
/// `exclusive`, an existing object is [`OpenError::AlreadyExists`].
///
/// The header is not written here: that is the ring's job.
pub(crate) fn create(
    name: &str,
    requested: usize,
    mode: u32,
    exclusive: bool,
) -> Result<Mapped, OpenError> {
    let (bare, os_name) = names(name)?;
    let capacity =
        layout::capacity_for(requested).ok_or(OpenError::CapacityOutOfRange { requested })?;
    let len = layout::segment_len(requested);
    if !exclusive {
        match os::Object::open(&os_name) {
            Ok(existing) => {
                if existing
                    .is_locked(PRODUCER_LOCK_BYTE)
                    .map_err(|e| os_error(&bare, e))?
                    == Some(true)
                {
                    return Err(OpenError::InUse {
                        name: bare,
                        by: Role::Producer,
                    });
                }
            }
            Err((_, e)) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(os_error(&bare, e)),
        }
        match os::unlink(&os_name) {
            Err((_, e)) if e.kind() == io::ErrorKind::NotFound => {}
            other => other.map_err(|e| os_error(&bare, e))?,
        }
    }
    let object = os::Object::create(&os_name, mode).map_err(|e| os_error(&bare, e))?;
    let prepare = || -> os::OsResult<(Region, os::Identity, Option<bool>)> {
        let locked = object.try_lock(PRODUCER_LOCK_BYTE)?;
        object.set_len(len as u64)?;
        let (_, identity) = object.stat()?;
        Ok((object.map(len)?, identity, locked))
    };
    let sized = prepare();
    match sized {
        Ok((region, identity, locked)) => Ok(Mapped {
            segment: Segment {
                name: bare,
                object,
                identity,
            },
            region,
            capacity,
            // A fresh object's lock cannot be held by anyone else; if it were, say nothing.
            flags: own_flags(locked == Some(true)),
        }),
        Err(e) => {
            // The object is ours and useless: do not leave it behind.
            let _ = os::unlink(&os_name);
            Err(os_error(&bare, e))
        }
    }
}

/// Opens and maps an existing segment, checking its size and capacity word.
pub(crate) fn open(name: &str) -> Result<Mapped, OpenError> {
    let (bare, os_name) = names(name)?;
    let object = os::Object::open(&os_name).map_err(|e| os_error(&bare, e))?;
    let (size, identity) = object.stat().map_err(|e| os_error(&bare, e))?;
    if size == 0 {
        // Created but not yet sized by its producer.
        return Err(OpenError::NotReady { name: bare });
    }
    if size < HEADER_LEN as u64 {
        return Err(OpenError::TooSmall { name: bare, size });
    }
    let len = usize::try_from(size).map_err(|_| OpenError::Io {
        name: bare.clone(),
        operation: "mmap",
        source: io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!("a {size}-byte segment does not fit the address space"),
        ),
    })?;
    let region = object.map(len).map_err(|e| os_error(&bare, e))?;
    let capacity = region.word(CAPACITY).load(Acquire);
    if capacity == 0 {
        return Err(OpenError::NotReady { name: bare });
    }
    if !layout::is_valid_capacity(capacity) {
        return Err(OpenError::InvalidCapacity {
            name: bare,
            capacity,
        });
    }
    if HEADER_LEN as u64 + u64::from(capacity) > size {
        return Err(OpenError::CapacityExceedsSize {
            name: bare,
            capacity,
            size,
        });
    }
    // One consumer at a time: a live consumer holds this lock.
    let locked = object
        .try_lock(CONSUMER_LOCK_BYTE)
        .map_err(|e| os_error(&bare, e))?;
    if locked == Some(false) {
        return Err(OpenError::InUse {
            name: bare,
            by: Role::Consumer,
        });
    }
    Ok(Mapped {
        segment: Segment {
            name: bare,
            object,
            identity,
        },
        region,
        capacity,
        flags: own_flags(locked == Some(true)),
    })
}

impl Segment {
    /// The name without its leading `/`.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Whether the other side is alive, judged by its flag byte and its lock: `None` if it
    /// holds no lock we can see (it is not one of ours, has not attached, or the OS has no such
    /// locks). `peer` says which side the other one is.
    pub(crate) fn peer_alive(&self, peer: Role, peer_flags: u8) -> Option<bool> {
        if peer_flags & FLAG_LOCKED == 0 {
            return None;
        }
        let byte = match peer {
            Role::Producer => PRODUCER_LOCK_BYTE,
            Role::Consumer => CONSUMER_LOCK_BYTE,
        };
        // An error asking the kernel tells nothing about the peer.
        self.object.is_locked(byte).ok().flatten()
    }

    /// Removes the name if it still refers to this object. Returns whether it did.
    ///
    /// Another producer may have replaced the object under the same name since; its segment
    /// is left alone. (A replacement in the instant between the check and the removal cannot
    /// be told apart; the OS offers no atomic compare-and-unlink.)
    pub(crate) fn unlink(&self) -> Result<bool, OpenError> {
        let os_name = format!("/{}", self.name);
        let current = match os::Object::open(&os_name) {
            Ok(object) => object,
            Err((_, e)) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(os_error(&self.name, e)),
        };
        let (_, identity) = current.stat().map_err(|e| os_error(&self.name, e))?;
        if identity != self.identity {
            return Ok(false);
        }
        match os::unlink(&os_name) {
            Ok(()) => Ok(true),
            Err((_, e)) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(os_error(&self.name, e)),
        }
    }
}
