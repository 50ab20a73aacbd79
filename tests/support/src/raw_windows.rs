//! A segment's bytes, read and written through a view of its named mapping: how a test plays
//! a peer that writes whatever it likes into the header and data area (Windows).

use std::ffi::c_void;

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, MapViewOfFile, OpenFileMappingW, UnmapViewOfFile, FILE_MAP_READ,
    FILE_MAP_WRITE, MEMORY_MAPPED_VIEW_ADDRESS, PAGE_READWRITE, SECTION_QUERY,
};

use crate::segment::{os_name, wide};

/// A segment opened for reading and writing its bytes at any offset. A segment made with
/// [`Raw::create`] disappears when the last handle to it closes, as every Windows mapping does.
pub struct Raw {
    mapping: HANDLE,
    view: *mut u8,
    size: u64,
}

// SAFETY: the handle and the view belong to the process, not to a thread.
unsafe impl Send for Raw {}

impl Drop for Raw {
    fn drop(&mut self) {
        // SAFETY: the view and the handle were made in `with_mapping` and are released once.
        unsafe {
            UnmapViewOfFile(MEMORY_MAPPED_VIEW_ADDRESS {
                Value: self.view.cast(),
            });
            CloseHandle(self.mapping);
        }
    }
}

#[repr(C)]
struct SectionBasicInformation {
    base_address: *mut c_void,
    allocation_attributes: u32,
    maximum_size: i64,
}

#[link(name = "ntdll")]
extern "system" {
    fn NtQuerySection(
        section: HANDLE,
        class: i32,
        information: *mut c_void,
        length: u32,
        returned: *mut u32,
    ) -> i32;
}

impl Raw {
    /// Opens the existing segment `name` (with or without a leading `/`).
    pub fn open(name: &str) -> Raw {
        let wide_name = wide(&os_name(name));
        // SAFETY: the name is NUL-terminated and outlives the call.
        let mapping = unsafe {
            OpenFileMappingW(
                FILE_MAP_READ | FILE_MAP_WRITE | SECTION_QUERY,
                0,
                wide_name.as_ptr(),
            )
        };
        assert!(
            !mapping.is_null(),
            "raw open of {name}: {}",
            std::io::Error::last_os_error()
        );
        let mut info = SectionBasicInformation {
            base_address: std::ptr::null_mut(),
            allocation_attributes: 0,
            maximum_size: 0,
        };
        // SAFETY: `info` is writable for its size; class 0 is SectionBasicInformation.
        let status = unsafe {
            NtQuerySection(
                mapping,
                0,
                (&mut info as *mut SectionBasicInformation).cast(),
                std::mem::size_of::<SectionBasicInformation>() as u32,
                std::ptr::null_mut(),
            )
        };
        assert!(status >= 0, "raw size of {name}: NTSTATUS {status:#x}");
        Raw::with_mapping(name, mapping, info.maximum_size as u64)
    }

    /// Creates the segment `name` with `size` bytes, all zero. Windows cannot make an empty
    /// mapping: `size` must be at least 1.
    pub fn create(name: &str, size: u64) -> Raw {
        let wide_name = wide(&os_name(name));
        // SAFETY: the name is NUL-terminated and outlives the call; no security attributes.
        let mapping = unsafe {
            CreateFileMappingW(
                INVALID_HANDLE_VALUE,
                std::ptr::null(),
                PAGE_READWRITE,
                (size >> 32) as u32,
                size as u32,
                wide_name.as_ptr(),
            )
        };
        assert!(
            !mapping.is_null(),
            "raw create of {name}: {}",
            std::io::Error::last_os_error()
        );
        Raw::with_mapping(name, mapping, size)
    }

    fn with_mapping(name: &str, mapping: HANDLE, size: u64) -> Raw {
        // SAFETY: `mapping` is an open mapping of at least `size` bytes; a fresh view is made.
        let view =
            unsafe { MapViewOfFile(mapping, FILE_MAP_READ | FILE_MAP_WRITE, 0, 0, size as usize) };
        assert!(
            !view.Value.is_null(),
            "raw map of {name}: {}",
            std::io::Error::last_os_error()
        );
        Raw {
            mapping,
            view: view.Value.cast(),
            size,
        }
    }

    /// Creates a ring segment of `capacity` with both indices at `start`, as the original
    /// library's producer leaves it (no extension block).
    pub fn create_ring(name: &str, capacity: u32, start: u32) -> Raw {
        let raw = Raw::create(name, 16 + u64::from(capacity));
        raw.set_word(0, start);
        raw.set_word(4, start);
        raw.set_word(8, capacity);
        raw
    }

    fn check(&self, offset: u64, len: usize) {
        assert!(
            offset + len as u64 <= self.size,
            "raw access {offset}+{len} outside the {}-byte segment",
            self.size
        );
    }

    /// The little-endian word at `offset`.
    pub fn word(&self, offset: u64) -> u32 {
        u32::from_le_bytes(self.bytes(offset, 4).try_into().expect("4 bytes"))
    }

    /// Writes the little-endian word `value` at `offset`.
    pub fn set_word(&self, offset: u64, value: u32) {
        self.set_bytes(offset, &value.to_le_bytes());
    }

    /// `len` bytes from `offset`.
    pub fn bytes(&self, offset: u64, len: usize) -> Vec<u8> {
        self.check(offset, len);
        (0..len)
            // SAFETY: inside the view (checked); volatile, since another process writes it.
            .map(|k| unsafe { self.view.add(offset as usize + k).read_volatile() })
            .collect()
    }

    /// Writes `bytes` at `offset`.
    pub fn set_bytes(&self, offset: u64, bytes: &[u8]) {
        self.check(offset, bytes.len());
        for (k, &byte) in bytes.iter().enumerate() {
            // SAFETY: inside the view (checked); volatile, since another process reads it.
            unsafe { self.view.add(offset as usize + k).write_volatile(byte) };
        }
    }

    /// Writes `bytes` into the data area of a ring of `capacity` from ring index `index`,
    /// wrapping at the end of the data area.
    pub fn put(&self, capacity: u32, index: u32, bytes: &[u8]) {
        for (k, &byte) in bytes.iter().enumerate() {
            let at = index.wrapping_add(k as u32) & (capacity - 1);
            self.set_bytes(16 + u64::from(at), &[byte]);
        }
    }

    /// Writes one record (length prefix and payload) at `head` and publishes it; returns the
    /// new head.
    pub fn push_record(&self, capacity: u32, head: u32, payload: &[u8]) -> u32 {
        self.put(capacity, head, &(payload.len() as u32).to_le_bytes());
        self.put(capacity, head.wrapping_add(4), payload);
        let head = head.wrapping_add(4 + payload.len() as u32);
        self.set_word(0, head);
        head
    }

    /// The segment's size in bytes (whole pages for a mapping opened by name).
    pub fn size(&self) -> u64 {
        self.size
    }
}
