//! Pagefile-backed named file mappings and named mutexes through windows-sys:
//! `CreateFileMappingW(INVALID_HANDLE_VALUE, ...)`, `OpenFileMappingW`, `NtQuerySection`,
//! `MapViewOfFile`, and one named mutex per liveness lock. Nothing here knows the ring's layout.
//!
//! # Names
//! The mapping is named by the segment's name as given (without a leading `/`), in the
//! session namespace unless the name starts with `Local\` or `Global\`: the name the original
//! library uses, so that its Windows programs find our segments and we find theirs. The lock
//! on byte `B` of the POSIX design is the named mutex `<name>:lock<B>` (`frames:lock0` for the
//! producer, `frames:lock1` for the consumer). `:` never occurs in a segment name, so no
//! segment's mutex can be another segment's mapping.
//!
//! # Liveness
//! A side holds its mutex for as long as it lives; when its process dies, the kernel abandons
//! the mutex, and a query of its state (`NtQueryMutant`, which takes nothing) sees it free.
//! Windows gives a mutex to a thread, not to a process, and an end of a ring may be created on
//! one thread and used or dropped on another, which may outlive it or not. So every mutex is
//! taken and released by one thread per process that lives as long as the process
//! ([`holder`]), and that thread also refuses a mutex this process already holds: a mutex is
//! recursive for its owner, and a second consumer in one process must see the first one's lock
//! as taken, as it does with the byte-range locks on Linux.
//!
//! # Permissions
//! Objects are created with a security descriptor whose only entry grants the creating user
//! all access (`D:P(A;;GA;;;<user SID>)`), the counterpart of mode `0o600`. A mode that grants
//! any group or other bit adds an entry for Everyone.

use std::collections::HashMap;
use std::ffi::c_void;
use std::io;
use std::sync::{mpsc, Mutex, OnceLock};

use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, LocalFree, ERROR_ALREADY_EXISTS, HANDLE, INVALID_HANDLE_VALUE,
    WAIT_ABANDONED, WAIT_OBJECT_0, WAIT_TIMEOUT,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{
    GetTokenInformation, TokenUser, SECURITY_ATTRIBUTES, TOKEN_QUERY, TOKEN_USER,
};
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, OpenFileMappingW, FILE_MAP_READ, FILE_MAP_WRITE, PAGE_READWRITE,
    SECTION_QUERY,
};
use windows_sys::Win32::System::Threading::{
    CreateMutexW, GetCurrentProcess, OpenMutexW, OpenProcessToken, ReleaseMutex,
    WaitForSingleObject,
};

use crate::region::Region;

/// The OS call that failed, paired with its error.
pub(crate) type OsResult<T> = Result<T, (&'static str, io::Error)>;

/// What would tell two objects of one name apart. Windows needs nothing: a mapping's name
/// cannot be removed or given to another mapping while any handle to it is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity;

/// `MUTANT_QUERY_STATE`: the access right `NtQueryMutant` needs.
const MUTANT_QUERY_STATE: u32 = 0x0001;

/// What `NtQueryMutant` reports for `MutantBasicInformation`.
#[repr(C)]
struct MutantBasicInformation {
    /// 1 when nobody owns the mutex; 0 or less when a thread owns it.
    current_count: i32,
    owned_by_caller: u8,
    abandoned_state: u8,
}

/// What `NtQuerySection` reports for `SectionBasicInformation`.
#[repr(C)]
struct SectionBasicInformation {
    base_address: *mut c_void,
    allocation_attributes: u32,
    maximum_size: i64,
}

// Neither call has a documented Win32 counterpart that does the same: the size of a section
// (a mapping) and the state of a mutex without taking it. ntdll exports both on every Windows
// since NT, and Wine implements both.
#[link(name = "ntdll")]
extern "system" {
    fn NtQuerySection(
        section: HANDLE,
        class: i32,
        information: *mut c_void,
        length: u32,
        returned: *mut u32,
    ) -> i32;
    fn NtQueryMutant(
        mutant: HANDLE,
        class: i32,
        information: *mut c_void,
        length: u32,
        returned: *mut u32,
    ) -> i32;
}

/// A handle this process owns, closed on drop.
struct Handle(HANDLE);

// SAFETY: a kernel handle is a process-wide value, usable from any thread.
unsafe impl Send for Handle {}
// SAFETY: as above; nothing here mutates through `&Handle`.
unsafe impl Sync for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle is open and owned by this value alone; it is closed once.
        unsafe { CloseHandle(self.0) };
    }
}

/// The last OS error of this thread, for `operation`.
fn last_error(operation: &'static str) -> (&'static str, io::Error) {
    (operation, io::Error::last_os_error())
}

/// `text` as a NUL-terminated UTF-16 string.
fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(Some(0)).collect()
}

/// The name of the mutex that stands for the lock on `byte` of the segment `os_name`.
fn lock_name(os_name: &str, byte: u64) -> String {
    format!("{os_name}:lock{byte}")
}

/// A security descriptor built from SDDL, freed on drop.
struct Security {
    descriptor: *mut c_void,
}

impl Security {
    /// Owner-only access, plus Everyone if `mode` grants any group or other permission bit.
    fn for_mode(mode: u32) -> io::Result<Security> {
        let user = current_user_sid()?;
        let mut sddl = format!("D:P(A;;GA;;;{user})");
        if mode & 0o077 != 0 {
            sddl.push_str("(A;;GA;;;WD)");
        }
        let sddl = wide(&sddl);
        let mut descriptor = std::ptr::null_mut();
        // SAFETY: `sddl` is NUL-terminated and outlives the call; `descriptor` is a valid out
        // pointer; the size pointer may be null.
        let done = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                sddl.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                std::ptr::null_mut(),
            )
        };
        if done == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Security { descriptor })
    }

    /// Attributes that point at this descriptor; valid while `self` lives.
    fn attributes(&self) -> SECURITY_ATTRIBUTES {
        SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: self.descriptor,
            bInheritHandle: 0,
        }
    }
}

impl Drop for Security {
    fn drop(&mut self) {
        // SAFETY: the descriptor was allocated with LocalAlloc by the conversion call and is
        // freed once.
        unsafe { LocalFree(self.descriptor) };
    }
}

/// The SID of the user this process runs as, in its string form (`S-1-5-21-...`).
fn current_user_sid() -> io::Result<String> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: the pseudo-handle of the current process is always valid; `token` is a valid out
    // pointer.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let token = Handle(token);
    // TOKEN_USER is a pointer to the SID followed by the SID itself; 256 bytes hold any SID.
    let mut buffer = [0u64; 32];
    let mut needed = 0u32;
    // SAFETY: `buffer` is writable for its whole size, which is passed; it is 8-byte aligned,
    // as TOKEN_USER needs.
    let done = unsafe {
        GetTokenInformation(
            token.0,
            TokenUser,
            buffer.as_mut_ptr().cast(),
            std::mem::size_of_val(&buffer) as u32,
            &mut needed,
        )
    };
    if done == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the call succeeded, so the buffer starts with a TOKEN_USER whose SID pointer
    // points into the buffer, which lives until the end of this function.
    let sid = unsafe { (*buffer.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: `sid` is a valid SID (above); `text` is a valid out pointer.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success `text` is a NUL-terminated UTF-16 string allocated with LocalAlloc;
    // it is read up to its terminator and then freed once.
    let sid = unsafe {
        let len = (0..).take_while(|&i| *text.add(i) != 0).count();
        let sid = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
        LocalFree(text.cast());
        sid
    };
    Ok(sid)
}

/// An open named mapping, or the name for one a creator has not sized yet.
pub(crate) struct Object {
    /// The mapping's name, with its `Local\` or `Global\` prefix if it has one.
    os_name: String,
    /// The permission bits the objects this side creates get (see the module docs).
    mode: u32,
    /// The mapping; set by `open`, or by `set_len` for a created object.
    mapping: OnceLock<Handle>,
    /// The lock bytes this object holds.
    held: Mutex<Vec<u64>>,
}

impl Object {
    /// Prepares a new object named `os_name`: fails if a mapping of that name exists. The
    /// mapping itself is made by [`Object::set_len`], because Windows makes a mapping and
    /// sizes it in one call. Whoever holds the producer lock is the only creator of our kind
    /// that may get that far (see `create_object`).
    pub(crate) fn create(os_name: &str, mode: u32) -> OsResult<Object> {
        if Object::open(os_name).is_ok() {
            return Err((
                "CreateFileMappingW",
                io::Error::from(io::ErrorKind::AlreadyExists),
            ));
        }
        Ok(Object {
            os_name: os_name.to_owned(),
            mode,
            mapping: OnceLock::new(),
            held: Mutex::new(Vec::new()),
        })
    }

    /// Opens an existing mapping for reading and writing.
    pub(crate) fn open(os_name: &str) -> OsResult<Object> {
        let name = wide(os_name);
        // SAFETY: `name` is NUL-terminated and outlives the call.
        let mapping = unsafe {
            OpenFileMappingW(
                FILE_MAP_READ | FILE_MAP_WRITE | SECTION_QUERY,
                0,
                name.as_ptr(),
            )
        };
        if mapping.is_null() {
            return Err(last_error("OpenFileMappingW"));
        }
        Ok(Object {
            os_name: os_name.to_owned(),
            mode: 0o600,
            mapping: OnceLock::from(Handle(mapping)),
            held: Mutex::new(Vec::new()),
        })
    }

    /// Opens an existing mapping for reading only: enough to look at it.
    pub(crate) fn open_read_only(os_name: &str) -> OsResult<Object> {
        let name = wide(os_name);
        // SAFETY: `name` is NUL-terminated and outlives the call.
        let mapping = unsafe { OpenFileMappingW(FILE_MAP_READ | SECTION_QUERY, 0, name.as_ptr()) };
        if mapping.is_null() {
            return Err(last_error("OpenFileMappingW"));
        }
        Ok(Object {
            os_name: os_name.to_owned(),
            mode: 0o600,
            mapping: OnceLock::from(Handle(mapping)),
            held: Mutex::new(Vec::new()),
        })
    }

    /// Windows has access control lists, not permission bits and owner ids: `(0, 0)`.
    pub(crate) fn mode_and_owner(&self) -> OsResult<(u32, u32)> {
        Ok((0, 0))
    }

    /// Maps the first `len` bytes of the mapping, read-only.
    pub(crate) fn map_read_only(&self, len: usize) -> OsResult<crate::region::ReadOnlyRegion> {
        crate::region::ReadOnlyRegion::map_view(self.mapping()?, len)
            .map_err(|e| ("MapViewOfFile", e))
    }

    /// The mapping's handle, or an error if the creator has not made it yet.
    fn mapping(&self) -> OsResult<HANDLE> {
        match self.mapping.get() {
            Some(handle) => Ok(handle.0),
            None => Err((
                "MapViewOfFile",
                io::Error::new(io::ErrorKind::InvalidInput, "the mapping has no size yet"),
            )),
        }
    }

    /// Makes the mapping, `len` bytes of the paging file, committed now: a paging file too
    /// small to hold it is an error here rather than a fault on first touch. `used` is
    /// Linux's concern (which bytes to back at once); a Windows mapping is backed whole.
    pub(crate) fn set_len(&self, len: u64, used: u64) -> OsResult<()> {
        let _ = used;
        let security = Security::for_mode(self.mode).map_err(|e| ("CreateFileMappingW", e))?;
        let attributes = security.attributes();
        let name = wide(&self.os_name);
        // SAFETY: `attributes` and `name` outlive the call; INVALID_HANDLE_VALUE asks for a
        // mapping backed by the paging file.
        let mapping = unsafe {
            CreateFileMappingW(
                INVALID_HANDLE_VALUE,
                &attributes,
                PAGE_READWRITE,
                (len >> 32) as u32,
                len as u32,
                name.as_ptr(),
            )
        };
        if mapping.is_null() {
            return Err(last_error("CreateFileMappingW"));
        }
        // SAFETY: reads this thread's last error, set by the call above.
        let existed = unsafe { GetLastError() } == ERROR_ALREADY_EXISTS;
        let mapping = Handle(mapping);
        if existed {
            // A program that takes no lock (the original library's) made one meanwhile.
            return Err((
                "CreateFileMappingW",
                io::Error::from(io::ErrorKind::AlreadyExists),
            ));
        }
        self.mapping.set(mapping).map_err(|_| {
            (
                "CreateFileMappingW",
                io::Error::new(io::ErrorKind::InvalidInput, "the mapping is already sized"),
            )
        })
    }

    /// The mapping's size (whole pages, as Windows keeps it) and identity.
    pub(crate) fn stat(&self) -> OsResult<(u64, Identity)> {
        let mapping = self.mapping()?;
        let mut info = SectionBasicInformation {
            base_address: std::ptr::null_mut(),
            allocation_attributes: 0,
            maximum_size: 0,
        };
        // SAFETY: `info` is writable for the size passed; class 0 is SectionBasicInformation,
        // whose layout `SectionBasicInformation` has.
        let status = unsafe {
            NtQuerySection(
                mapping,
                0,
                (&mut info as *mut SectionBasicInformation).cast(),
                std::mem::size_of::<SectionBasicInformation>() as u32,
                std::ptr::null_mut(),
            )
        };
        if status < 0 {
            return Err((
                "NtQuerySection",
                io::Error::other(format!("NTSTATUS {:#010x}", status as u32)),
            ));
        }
        Ok((u64::try_from(info.maximum_size).unwrap_or(0), Identity))
    }

    /// Maps the first `len` bytes of the mapping, read-write.
    pub(crate) fn map(&self, len: usize) -> OsResult<Region> {
        Region::map_view(self.mapping()?, len).map_err(|e| ("MapViewOfFile", e))
    }

    /// Writes all of `data` at byte `offset` of the mapping, through a view that is unmapped
    /// again before this returns. The mapping is committed whole when it is made (see
    /// [`Object::set_len`]), so no write here can fail for want of memory.
    pub(crate) fn write_at(&self, data: &[u8], offset: u64) -> OsResult<()> {
        let end = usize::try_from(offset)
            .ok()
            .and_then(|offset| offset.checked_add(data.len()))
            .ok_or_else(|| {
                (
                    "MapViewOfFile",
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "{} bytes at offset {offset} do not fit the address space",
                            data.len()
                        ),
                    ),
                )
            })?;
        if data.is_empty() {
            return Ok(());
        }
        let base = crate::region::view::map(self.mapping()?, end, FILE_MAP_WRITE)
            .map_err(|e| ("MapViewOfFile", e))?;
        // SAFETY: the view is valid for `end` bytes (checked by `view::map`), so the
        // `data.len()` bytes from `offset` lie inside it; `data` is this process's own memory
        // and cannot overlap a view made just now. Nobody can open the object before its
        // header is written, after this call, so no other process touches these bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                base.as_ptr().add(end - data.len()),
                data.len(),
            );
            crate::region::view::unmap(base);
        }
        Ok(())
    }

    /// Nothing to do: a pagefile-backed mapping made without `SEC_RESERVE` is committed whole
    /// by `CreateFileMappingW` (see [`Object::set_len`]), so every byte is backed already.
    pub(crate) fn allocate(&self, start: u64, end: u64) -> OsResult<()> {
        let _ = (start, end);
        Ok(())
    }

    /// Maps the first `len` bytes of the mapping, read-write, as a shared buffer.
    pub(crate) fn map_buffer(&self, len: usize) -> OsResult<crate::buffer_region::BufferRegion> {
        crate::buffer_region::BufferRegion::map_view(self.mapping()?, len)
            .map_err(|e| ("MapViewOfFile", e))
    }

    /// Maps the first `len` bytes of the mapping, read-write, as a buffer pool whose first
    /// `words_end` bytes are words.
    pub(crate) fn map_pool(
        &self,
        len: usize,
        words_end: usize,
    ) -> OsResult<crate::pool_region::PoolRegion> {
        crate::pool_region::PoolRegion::map_view(self.mapping()?, len, words_end)
            .map_err(|e| ("MapViewOfFile", e))
    }

    /// Maps the first `len` bytes of the mapping, read-only, as words to load.
    pub(crate) fn map_words(&self, len: usize) -> OsResult<crate::words_region::ReadOnlyWords> {
        crate::words_region::ReadOnlyWords::map_view(self.mapping()?, len)
            .map_err(|e| ("MapViewOfFile", e))
    }

    /// Whether a side other than this object holds the lock on any of the `len` bytes from
    /// `start`: each byte's mutex is queried in turn (none is taken).
    pub(crate) fn is_range_locked(&self, start: u64, len: u64) -> OsResult<Option<bool>> {
        for byte in start..start.saturating_add(len) {
            if self.is_locked(byte)? == Some(true) {
                return Ok(Some(true));
            }
        }
        Ok(Some(false))
    }

    /// Takes the liveness lock on `byte` for as long as this object lives: `Ok(Some(false))`
    /// if a live side (of this process or another) holds it.
    pub(crate) fn try_lock(&self, byte: u64) -> OsResult<Option<bool>> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.contains(&byte) {
            return Ok(Some(true));
        }
        let taken = holder::take(lock_name(&self.os_name, byte), self.mode)
            .map_err(|e| ("CreateMutexW", e))?;
        if taken {
            held.push(byte);
        }
        Ok(Some(taken))
    }

    /// Releases this object's lock on `byte`, if it holds one.
    // Nothing lets go of a lock before its object closes today (a pool holder's lock lives
    // with the handle that took it); kept beside `try_lock` as its counterpart.
    #[allow(dead_code)]
    pub(crate) fn unlock(&self, byte: u64) -> OsResult<()> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = held.iter().position(|&b| b == byte) {
            held.swap_remove(at);
            holder::release(lock_name(&self.os_name, byte));
        }
        Ok(())
    }

    /// Whether another side holds the lock on `byte`. Takes nothing: the mutex's state is
    /// queried, not waited for.
    pub(crate) fn is_locked(&self, byte: u64) -> OsResult<Option<bool>> {
        if self
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&byte)
        {
            return Ok(Some(false));
        }
        is_held(&lock_name(&self.os_name, byte)).map(Some)
    }
}

impl Drop for Object {
    fn drop(&mut self) {
        let held = std::mem::take(self.held.get_mut().unwrap_or_else(|e| e.into_inner()));
        for byte in held {
            holder::release(lock_name(&self.os_name, byte));
        }
        // The mapping's handle closes after the locks are let go; the views are the regions'.
    }
}

/// Whether some thread owns the mutex `name`. A mutex nobody has open does not exist: free.
fn is_held(name: &str) -> OsResult<bool> {
    let wide_name = wide(name);
    // SAFETY: `wide_name` is NUL-terminated and outlives the call.
    let mutex = unsafe { OpenMutexW(MUTANT_QUERY_STATE, 0, wide_name.as_ptr()) };
    if mutex.is_null() {
        let error = io::Error::last_os_error();
        return match error.kind() {
            io::ErrorKind::NotFound => Ok(false),
            _ => Err(("OpenMutexW", error)),
        };
    }
    let mutex = Handle(mutex);
    let mut info = MutantBasicInformation {
        current_count: 0,
        owned_by_caller: 0,
        abandoned_state: 0,
    };
    // SAFETY: `info` is writable for the size passed; class 0 is MutantBasicInformation,
    // whose layout `MutantBasicInformation` has.
    let status = unsafe {
        NtQueryMutant(
            mutex.0,
            0,
            (&mut info as *mut MutantBasicInformation).cast(),
            std::mem::size_of::<MutantBasicInformation>() as u32,
            std::ptr::null_mut(),
        )
    };
    if status < 0 {
        return Err((
            "NtQueryMutant",
            io::Error::other(format!("NTSTATUS {:#010x}", status as u32)),
        ));
    }
    // An abandoned mutex (its owner died) is signalled again: count 1, free.
    Ok(info.current_count <= 0)
}

/// The thread that owns every liveness mutex of this process.
mod holder {
    use super::*;

    enum Request {
        Take {
            name: String,
            mode: u32,
            reply: mpsc::SyncSender<io::Result<bool>>,
        },
        Release {
            name: String,
            reply: mpsc::SyncSender<()>,
        },
    }

    /// The channel to the holder thread, started on first use.
    fn requests() -> &'static Mutex<mpsc::Sender<Request>> {
        static REQUESTS: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
        REQUESTS.get_or_init(|| {
            let (sender, receiver) = mpsc::channel();
            std::thread::Builder::new()
                .name("shm_ring liveness".into())
                .spawn(move || serve(receiver))
                .expect("cannot start the thread that holds shm_ring's liveness mutexes");
            Mutex::new(sender)
        })
    }

    /// Takes the mutex `name` (created with `mode`'s permissions if it does not exist) without
    /// waiting. `Ok(false)` if a thread holds it, this process's holder included.
    pub(super) fn take(name: String, mode: u32) -> io::Result<bool> {
        let (reply, answer) = mpsc::sync_channel(1);
        send(Request::Take { name, mode, reply });
        answer
            .recv()
            .unwrap_or_else(|_| Err(io::Error::other("the liveness thread has stopped")))
    }

    /// Releases the mutex `name` if this process holds it, and waits until it has.
    pub(super) fn release(name: String) {
        let (reply, answer) = mpsc::sync_channel(1);
        send(Request::Release { name, reply });
        let _ = answer.recv();
    }

    fn send(request: Request) {
        let sender = requests().lock().unwrap_or_else(|e| e.into_inner());
        // The thread never ends while the process lives, so the send cannot fail.
        let _ = sender.send(request);
    }

    /// The holder thread: owns the mutexes it takes until asked to release them.
    fn serve(requests: mpsc::Receiver<Request>) {
        let mut held: HashMap<String, Handle> = HashMap::new();
        for request in requests {
            match request {
                Request::Take { name, mode, reply } => {
                    let taken = if held.contains_key(&name) {
                        Ok(false)
                    } else {
                        acquire(&name, mode).map(|mutex| match mutex {
                            Some(mutex) => {
                                held.insert(name, mutex);
                                true
                            }
                            None => false,
                        })
                    };
                    let _ = reply.send(taken);
                }
                Request::Release { name, reply } => {
                    if let Some(mutex) = held.remove(&name) {
                        // SAFETY: this thread owns the mutex (it took it in `acquire`).
                        unsafe { ReleaseMutex(mutex.0) };
                    }
                    let _ = reply.send(());
                }
            }
        }
    }

    /// Opens or creates the mutex `name` and takes it without waiting: `None` if another
    /// thread owns it. An abandoned mutex (its owner died) is taken like a free one.
    fn acquire(name: &str, mode: u32) -> io::Result<Option<Handle>> {
        let security = Security::for_mode(mode)?;
        let attributes = security.attributes();
        let wide_name = wide(name);
        // SAFETY: `attributes` and `wide_name` outlive the call.
        let mutex = unsafe { CreateMutexW(&attributes, 0, wide_name.as_ptr()) };
        if mutex.is_null() {
            return Err(io::Error::last_os_error());
        }
        let mutex = Handle(mutex);
        // SAFETY: `mutex` is an open handle with SYNCHRONIZE access (CreateMutexW grants all).
        match unsafe { WaitForSingleObject(mutex.0, 0) } {
            WAIT_OBJECT_0 | WAIT_ABANDONED => Ok(Some(mutex)),
            WAIT_TIMEOUT => Ok(None),
            _ => Err(io::Error::last_os_error()),
        }
    }
}
