//! A segment's bytes, read and written with pread/pwrite: how a test plays a peer that writes
//! whatever it likes into the header and data area.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};

use rustix::fs::Mode;
use rustix::shm;

use crate::segment::{remove, shm_path};

/// A segment opened for reading and writing its bytes at any offset. A segment made with
/// [`Raw::create`] is removed when the `Raw` is dropped.
pub struct Raw {
    file: File,
    created: Option<String>,
}

impl Drop for Raw {
    fn drop(&mut self) {
        if let Some(name) = &self.created {
            remove(name);
        }
    }
}

impl Raw {
    /// Opens an existing segment.
    pub fn open(name: &str) -> Raw {
        let fd = shm::open(shm_path(name), shm::OFlags::RDWR, Mode::empty())
            .unwrap_or_else(|e| panic!("raw open of {name}: {e}"));
        Raw {
            file: File::from(fd),
            created: None,
        }
    }

    /// Creates (replacing) a segment of `size` zero bytes with mode 0600, removed on drop.
    pub fn create(name: &str, size: u64) -> Raw {
        remove(name);
        let fd = shm::open(
            shm_path(name),
            shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR,
            Mode::from_bits_truncate(0o600),
        )
        .unwrap_or_else(|e| panic!("raw create of {name}: {e}"));
        let raw = Raw {
            file: File::from(fd),
            created: Some(name.to_owned()),
        };
        raw.file.set_len(size).expect("size the raw segment");
        raw
    }

    /// Creates a segment with a complete header: head = tail = `start`, the given capacity,
    /// sized `16 + capacity`.
    pub fn create_ring(name: &str, capacity: u32, start: u32) -> Raw {
        let raw = Raw::create(name, 16 + u64::from(capacity));
        raw.set_word(0, start);
        raw.set_word(4, start);
        raw.set_word(8, capacity);
        raw
    }

    /// The little-endian 32-bit word at byte `offset`.
    pub fn word(&self, offset: u64) -> u32 {
        let mut bytes = [0u8; 4];
        self.file
            .read_exact_at(&mut bytes, offset)
            .expect("read word");
        u32::from_le_bytes(bytes)
    }

    /// Writes `value` as a little-endian 32-bit word at byte `offset`.
    pub fn set_word(&self, offset: u64, value: u32) {
        self.file
            .write_all_at(&value.to_le_bytes(), offset)
            .expect("write word");
    }

    /// `len` bytes from byte `offset`.
    pub fn bytes(&self, offset: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        self.file
            .read_exact_at(&mut out, offset)
            .expect("read bytes");
        out
    }

    /// Writes `bytes` at byte `offset`.
    pub fn set_bytes(&self, offset: u64, bytes: &[u8]) {
        self.file.write_all_at(bytes, offset).expect("write bytes");
    }

    /// Writes `bytes` at stream index `index` of a ring of `capacity`, wrapping at the end.
    pub fn put(&self, capacity: u32, index: u32, bytes: &[u8]) {
        for (k, &byte) in bytes.iter().enumerate() {
            let at = index.wrapping_add(k as u32) & (capacity - 1);
            self.set_bytes(16 + u64::from(at), &[byte]);
        }
    }

    /// Appends a record `[len][payload]` at stream index `head` and publishes it; returns the
    /// new head.
    pub fn push_record(&self, capacity: u32, head: u32, payload: &[u8]) -> u32 {
        self.put(capacity, head, &(payload.len() as u32).to_le_bytes());
        self.put(capacity, head.wrapping_add(4), payload);
        let head = head.wrapping_add(4 + payload.len() as u32);
        self.set_word(0, head);
        head
    }

    /// The object's size in bytes.
    pub fn size(&self) -> u64 {
        self.file.metadata().expect("stat").len()
    }

    /// Bytes of memory the object has allocated (as opposed to its size, which may be sparse).
    pub fn allocated(&self) -> u64 {
        self.file.metadata().expect("stat").blocks() * 512
    }

    /// The object's permission bits (`0o600` and the like).
    pub fn mode(&self) -> u32 {
        self.file.metadata().expect("stat").permissions().mode() & 0o7777
    }
}
