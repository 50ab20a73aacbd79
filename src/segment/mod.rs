//! Creating, opening and removing the shared-memory object of a ring.
//!
//! The portable flow lives here: name and size validation, header checks, cleaning up after a
//! failed create, and turning OS errors into [`OpenError`]s. The OS calls themselves are in one
//! file per OS, picked at compile time (`unix.rs` for Linux and macOS, `windows.rs` for
//! Windows).

use std::io;
use std::sync::atomic::Ordering::Acquire;

use crate::error::{OpenError, Role};
use crate::layout::{
    self, CAPACITY, CONSUMER_LOCK_BYTE, EXTENSION_LEN, EXTENSION_MARKER, FLAG_BARRIER, FLAG_LOCKED,
    HEADER_LEN, PRODUCER_LOCK_BYTE, RESERVED,
};
use crate::region::Region;
use crate::wait;

pub(crate) mod buffer;
pub(crate) mod cleanup;
pub(crate) mod inspect;
pub(crate) mod pool;
#[cfg(unix)]
mod unix;
#[cfg(unix)]
use self::unix as os;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use self::windows as os;

#[cfg(not(any(unix, windows)))]
compile_error!("shm_ring supports POSIX shared memory (Linux, macOS) and Windows only");

/// A shared-memory object this process has open, and the name it was found under.
pub(crate) struct Segment {
    /// The name without its leading `/`.
    name: String,
    /// Kept open for the life of the producer or consumer: it holds the liveness lock.
    object: os::Object,
    // Windows needs no identity: a mapping's name cannot change hands while it is open.
    #[cfg_attr(windows, allow(dead_code))]
    identity: os::Identity,
    /// The process that created or opened the segment. A child made by `fork()` shares the
    /// handle but is another process, which must not remove the name when it ends.
    pid: u32,
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
///
/// On Windows the name may start with `Local\` or `Global\`, the kernel's namespaces; the
/// rest obeys the portable rules. The prefix stays part of both names (it is what a consumer
/// must name too), and there is no `/`: the mapping has the name the original library gives it.
fn names(name: &str) -> Result<(String, String), OpenError> {
    #[cfg(windows)]
    let (namespace, name_in_namespace) = ["Local\\", "Global\\"]
        .iter()
        .find_map(|prefix| Some((*prefix, name.strip_prefix(prefix)?)))
        .unwrap_or(("", name));
    #[cfg(not(windows))]
    let name_in_namespace = name;
    let bare = layout::bare_name(name_in_namespace).map_err(|reason| OpenError::InvalidName {
        name: name.to_owned(),
        reason,
    })?;
    #[cfg(windows)]
    return Ok((format!("{namespace}{bare}"), format!("{namespace}{bare}")));
    #[cfg(not(windows))]
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

/// The byte whose lock says that an end of `role` is alive.
fn lock_byte(role: Role) -> u64 {
    match role {
        Role::Producer => PRODUCER_LOCK_BYTE,
        Role::Consumer => CONSUMER_LOCK_BYTE,
    }
}

/// How many times `create` looks again after another creator changed the name under it
/// before it gives up with [`OpenError::InUse`]. Each round ends because some other process
/// created or replaced the object in between, so this bounds a storm of creators, never a
/// single contender.
#[cfg(unix)]
const CREATE_ROUNDS: usize = 64;

/// Creates the object for a ring of `requested` bytes (rounded up to a power of two), takes
/// the producer's liveness lock on it and maps it.
///
/// Unless `exclusive`, an object of the same name is replaced, as the original library does,
/// but only if no live producer holds its lock: a live one is [`OpenError::InUse`]. With
/// `exclusive`, an existing object is [`OpenError::AlreadyExists`].
///
/// # Who may replace a name
/// Only a process holding the producer lock of the object a name refers to removes that name.
/// A creator therefore takes the old object's lock (it does not merely test it), checks that
/// the name still refers to that object, and only then unlinks it; a fresh object is locked
/// right after `O_EXCL` creation, and a creator that finds its fresh object's lock taken knows
/// another creator is replacing it and reports [`OpenError::InUse`]. Two producers starting
/// together thus never both win, and neither removes the other's live segment (see
/// docs/DESIGN.md). Where the OS has no open-file-description locks there is nothing to
/// arbitrate with, and the old object is replaced unchecked.
///
/// The header is not written here: that is the ring's job.
pub(crate) fn create(
    name: &str,
    requested: usize,
    mode: u32,
    exclusive: bool,
) -> Result<Mapped, OpenError> {
    let (bare, _) = names(name)?;
    let capacity =
        layout::round_capacity(requested).ok_or(OpenError::CapacityOutOfRange { requested })?;
    let (segment, locked) = create_object(&bare, mode, exclusive)?;
    size_and_map(segment, capacity, locked)
}

/// Creates a new, empty object named `bare` (already validated) with `mode`, and takes its
/// owner's liveness lock (the producer lock byte) following the rule in [`create`]. Returns
/// the segment and whether the lock was taken (`None`: the OS has no such locks). Sizing,
/// mapping and the header are the caller's job; on failure it must call
/// [`Segment::unlink`], which is safe because it holds the lock.
#[cfg(unix)]
pub(crate) fn create_object(
    bare: &str,
    mode: u32,
    exclusive: bool,
) -> Result<(Segment, Option<bool>), OpenError> {
    let os_name = format!("/{bare}");
    let in_use = || OpenError::InUse {
        name: bare.to_owned(),
        by: Role::Producer,
    };
    for _ in 0..CREATE_ROUNDS {
        let object = match os::Object::create(&os_name, mode) {
            Ok(object) => object,
            Err((_, e)) if e.kind() == io::ErrorKind::AlreadyExists && !exclusive => {
                match remove_unowned(&os_name).map_err(|e| os_error(bare, e))? {
                    Removal::Removed | Removal::Changed => continue,
                    Removal::Live => return Err(in_use()),
                }
            }
            Err(e) => return Err(os_error(bare, e)),
        };
        let locked = object
            .try_lock(PRODUCER_LOCK_BYTE)
            .map_err(|e| os_error(bare, e))?;
        if locked == Some(false) {
            // Another creator took the lock of this fresh object to replace it: it owns the
            // name from now on, and the object is not ours to remove.
            return Err(in_use());
        }
        let (_, identity) = object.stat().map_err(|e| os_error(bare, e))?;
        // Another creator may have locked this object, removed its name and let go of it in
        // the instant before we locked it. Once the name is seen to refer to our object while
        // we hold its lock, nobody else can change that.
        if locked == Some(true)
            && !names_object(&os_name, identity).map_err(|e| os_error(bare, e))?
        {
            continue;
        }
        let segment = Segment {
            name: bare.to_owned(),
            object,
            identity,
            pid: std::process::id(),
        };
        return Ok((segment, locked));
    }
    Err(in_use())
}

/// [`create_object`] on Windows, where a name cannot be removed: the producer lock is taken
/// first (a live producer holding it is [`OpenError::InUse`]), and then, while it is held, the
/// name must be free. A mapping that still exists (held open by a consumer or another
/// process after its producer went) is [`OpenError::AlreadyExists`] for an exclusive create
/// and [`OpenError::Unsupported`] otherwise: it cannot be replaced, only taken over with
/// `ShmProducer::open`. The mapping is made by `set_len`; if a program that takes no lock
/// makes one of the same name first, that is [`OpenError::AlreadyExists`].
#[cfg(windows)]
pub(crate) fn create_object(
    bare: &str,
    mode: u32,
    exclusive: bool,
) -> Result<(Segment, Option<bool>), OpenError> {
    let object = os::Object::create(bare, mode).or_else(|(_, e)| {
        if e.kind() != io::ErrorKind::AlreadyExists {
            return Err(os_error(bare, ("CreateFileMappingW", e)));
        }
        if exclusive {
            return Err(OpenError::AlreadyExists {
                name: bare.to_owned(),
            });
        }
        // Whoever keeps it open, a live producer is the answer that matters.
        let existing = os::Object::open(bare).map_err(|e| os_error(bare, e))?;
        if existing.is_locked(PRODUCER_LOCK_BYTE).ok().flatten() == Some(true) {
            return Err(OpenError::InUse {
                name: bare.to_owned(),
                by: Role::Producer,
            });
        }
        Err(replace_unsupported(bare))
    })?;
    let locked = object
        .try_lock(PRODUCER_LOCK_BYTE)
        .map_err(|e| os_error(bare, e))?;
    if locked == Some(false) {
        return Err(OpenError::InUse {
            name: bare.to_owned(),
            by: Role::Producer,
        });
    }
    // Holding the producer lock, no creator of ours can make the mapping before us; look
    // again for one made before we took it.
    if os::Object::open(bare).is_ok() {
        return Err(if exclusive {
            OpenError::AlreadyExists {
                name: bare.to_owned(),
            }
        } else {
            replace_unsupported(bare)
        });
    }
    let segment = Segment {
        name: bare.to_owned(),
        object,
        identity: os::Identity,
        pid: std::process::id(),
    };
    Ok((segment, locked))
}

/// Why Windows cannot replace the mapping named `bare`.
#[cfg(windows)]
fn replace_unsupported(bare: &str) -> OpenError {
    OpenError::Unsupported {
        name: bare.to_owned(),
        operation: "replacing the segment",
        reason: "a Windows named mapping lives while any process has it open, and its name \
                 cannot be taken from it; ShmProducer::open takes over its producer role",
    }
}

/// [`remove`] on Windows: a missing name is [`OpenError::NotFound`], a live producer's
/// segment [`OpenError::InUse`] (unless `forced`), and any other [`OpenError::Unsupported`].
#[cfg(windows)]
pub(crate) fn remove(name: &str, forced: bool) -> Result<(), OpenError> {
    let (bare, os_name) = names(name)?;
    let existing = os::Object::open(&os_name).map_err(|e| os_error(&bare, e))?;
    if !forced && existing.is_locked(PRODUCER_LOCK_BYTE).ok().flatten() == Some(true) {
        return Err(OpenError::InUse {
            name: bare,
            by: Role::Producer,
        });
    }
    Err(OpenError::Unsupported {
        name: bare,
        operation: "removing the segment",
        reason: "a Windows named mapping has no name to remove: it disappears when the last \
                 process holding it closes it",
    })
}

/// Removes the segment `name` for whoever asks, not only its producer.
///
/// Without `forced`, the name is removed only if no live producer holds the object's lock,
/// and only while this process holds it (see [`remove_unowned`]): a live producer's segment
/// is [`OpenError::InUse`]. With `forced`, the name is removed whatever holds it. A missing
/// name is [`OpenError::NotFound`].
#[cfg(unix)]
pub(crate) fn remove(name: &str, forced: bool) -> Result<(), OpenError> {
    let (bare, os_name) = names(name)?;
    if forced {
        return os::unlink(&os_name).map_err(|e| os_error(&bare, e));
    }
    // Each further round means another process replaced the name meanwhile; as in `create`,
    // this bounds a storm of creators, never a single one.
    for _ in 0..CREATE_ROUNDS {
        match remove_unowned(&os_name).map_err(|e| os_error(&bare, e))? {
            Removal::Removed => return Ok(()),
            Removal::Live => break,
            Removal::Changed => match os::Object::open(&os_name) {
                Err((_, e)) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(OpenError::NotFound { name: bare })
                }
                _ => continue,
            },
        }
    }
    Err(OpenError::InUse {
        name: bare,
        by: Role::Producer,
    })
}

/// What [`remove_unowned`] found.
#[cfg(unix)]
enum Removal {
    /// The object had no live producer; its name is gone.
    Removed,
    /// A live producer holds the object's lock.
    Live,
    /// The name disappeared or came to refer to another object meanwhile.
    Changed,
}

/// Removes the object `os_name` refers to, unless a live producer holds its lock. The lock is
/// taken for the removal, so no other creator can remove or replace the name meanwhile.
#[cfg(unix)]
fn remove_unowned(os_name: &str) -> os::OsResult<Removal> {
    let existing = match os::Object::open(os_name) {
        Ok(existing) => existing,
        Err((_, e)) if e.kind() == io::ErrorKind::NotFound => return Ok(Removal::Changed),
        Err(e) => return Err(e),
    };
    if existing.try_lock(PRODUCER_LOCK_BYTE)? == Some(false) {
        return Ok(Removal::Live);
    }
    // Holding the lock, this process alone may change the name, but only if the name still
    // refers to the object locked: it may have been replaced between the open and the lock.
    let (_, identity) = existing.stat()?;
    if !names_object(os_name, identity)? {
        return Ok(Removal::Changed);
    }
    match os::unlink(os_name) {
        Err((_, e)) if e.kind() == io::ErrorKind::NotFound => Ok(Removal::Changed),
        other => other.map(|()| Removal::Removed),
    }
    // `existing` closes here, releasing the lock of an object that no longer has a name.
}

/// Whether `os_name` refers to the object with `identity` right now.
#[cfg(unix)]
fn names_object(os_name: &str, identity: os::Identity) -> os::OsResult<bool> {
    match os::Object::open(os_name) {
        Ok(current) => Ok(current.stat()?.1 == identity),
        Err((_, e)) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Sizes a freshly created and locked object for `capacity` and maps the part the ring uses.
/// On failure the name is removed again, which is safe: this process holds its lock.
fn size_and_map(
    segment: Segment,
    capacity: u32,
    locked: Option<bool>,
) -> Result<Mapped, OpenError> {
    // The object holds the header, the data area and the extension block, all of it used.
    let used = layout::segment_len(capacity);
    let object = &segment.object;
    let mapped = object
        .set_len(used as u64, used as u64)
        .and_then(|()| object.map(used));
    match mapped {
        Ok(region) => Ok(Mapped {
            segment,
            region,
            capacity,
            flags: own_flags(locked == Some(true)),
        }),
        Err(e) => {
            // The object is ours and useless: do not leave it behind.
            let _ = segment.unlink();
            Err(os_error(&segment.name, e))
        }
    }
}

/// Opens and maps an existing segment, checking its size and capacity word.
///
/// Only the header is mapped until its capacity word has been validated against the object's
/// size; then exactly the bytes that capacity needs are mapped (header, data area, and the
/// extension block if the header announces one and it fits), whatever size the object claims.
/// An object made huge by another process costs nothing to open.
pub(crate) fn open(name: &str) -> Result<Mapped, OpenError> {
    open_as(name, Role::Consumer)
}

/// Opens and maps an existing segment to take over its producer role, as [`open`] does for the
/// consumer role: a live producer holding its lock is [`OpenError::InUse`].
pub(crate) fn open_producer(name: &str) -> Result<Mapped, OpenError> {
    open_as(name, Role::Producer)
}

/// [`open`] for either role: takes `role`'s liveness lock after mapping the validated ring.
fn open_as(name: &str, role: Role) -> Result<Mapped, OpenError> {
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
    let (capacity, reserved) = {
        let header = object.map(HEADER_LEN).map_err(|e| os_error(&bare, e))?;
        (
            header.word(CAPACITY).load(Acquire),
            header.word(RESERVED).load(Acquire),
        )
    };
    if capacity == 0 {
        return Err(OpenError::NotReady { name: bare });
    }
    if !layout::is_valid_capacity(capacity) {
        return Err(OpenError::InvalidCapacity {
            name: bare,
            capacity,
        });
    }
    let data_end = HEADER_LEN as u64 + u64::from(capacity);
    if data_end > size {
        return Err(OpenError::CapacityExceedsSize {
            name: bare,
            capacity,
            size,
        });
    }
    let extension_end = (layout::extension_offset(capacity) + EXTENSION_LEN) as u64;
    let used = if reserved == EXTENSION_MARKER && extension_end <= size {
        extension_end
    } else {
        data_end
    };
    // `used` is at most 16 + 2^31 + 128 bytes, validated against the object's size above.
    let len = usize::try_from(used).map_err(|_| OpenError::Io {
        name: bare.clone(),
        operation: "mmap",
        source: io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!("a {used}-byte ring does not fit the address space"),
        ),
    })?;
    let region = object.map(len).map_err(|e| os_error(&bare, e))?;
    // One end of each role at a time: a live one holds its role's lock.
    let locked = object
        .try_lock(lock_byte(role))
        .map_err(|e| os_error(&bare, e))?;
    if locked == Some(false) {
        return Err(OpenError::InUse {
            name: bare,
            by: role,
        });
    }
    Ok(Mapped {
        segment: Segment {
            name: bare,
            object,
            identity,
            pid: std::process::id(),
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
        let byte = lock_byte(peer);
        // An error asking the kernel tells nothing about the peer.
        self.object.is_locked(byte).ok().flatten()
    }

    /// Whether the calling process is the one that created or opened this segment, rather than
    /// a child made by `fork()` that inherited the handle.
    pub(crate) fn is_own_process(&self) -> bool {
        self.pid == std::process::id()
    }

    /// Whether the name still refers to this object: `false` once it was removed or replaced,
    /// and when that cannot be told.
    pub(crate) fn is_named(&self) -> bool {
        // A Windows mapping keeps its name while any handle to it, this one included, is open.
        #[cfg(windows)]
        return true;
        #[cfg(unix)]
        match os::Object::open(&format!("/{}", self.name)) {
            Ok(current) => current
                .stat()
                .is_ok_and(|(_, identity)| identity == self.identity),
            Err(_) => false,
        }
    }

    /// Removes the name if it still refers to this object. Returns whether it did.
    ///
    /// Another producer may have replaced the object under the same name since; its segment
    /// is left alone. (A replacement in the instant between the check and the removal cannot
    /// be told apart; the OS offers no atomic compare-and-unlink.)
    #[cfg(unix)]
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

    /// On Windows a mapping has no name to remove (it disappears with its last handle), so
    /// this removes nothing and returns `false`.
    #[cfg(windows)]
    pub(crate) fn unlink(&self) -> Result<bool, OpenError> {
        Ok(false)
    }
}
