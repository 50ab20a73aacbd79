//! Fuzzes opening scene buffers and shared buffers by descriptor: the input chooses the
//! descriptor's text and every byte of the segment it names, as a hostile writer would. Every
//! outcome must be a documented error or a payload that matches its descriptor (length and
//! CRC-32); never a panic, an access outside the mapping, or an allocation past the read's
//! limit.
//!
//! Input layout: two bytes of segment size (little-endian, 0..=4095), then the segment's
//! initial bytes (as many as the size, or fewer), then the descriptor's text (UTF-8, lossily).
//! A descriptor that parses is pointed at the fuzzed segment before it is opened.
#![no_main]

use std::fs::File;
use std::os::unix::fs::FileExt;

use libfuzzer_sys::fuzz_target;
use rustix::fs::Mode;
use rustix::shm;
use shm_ring::{SceneBuffer, SceneDescriptor, SharedBuffer};

/// The read's limit on a payload's length.
const LIMIT: u64 = 1 << 20;

/// Creates (replacing) the segment with `size` bytes, filled from `image`.
fn segment(name: &str, size: u64, image: &[u8]) -> File {
    let _ = shm::unlink(name);
    let fd = shm::open(
        name,
        shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR,
        Mode::from_bits_truncate(0o600),
    )
    .expect("create the segment");
    let file = File::from(fd);
    file.set_len(size).expect("size the segment");
    let len = image.len().min(size as usize);
    file.write_all_at(&image[..len], 0).expect("fill the segment");
    file
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 2 {
        return;
    }
    let size = u64::from(u16::from_le_bytes([input[0], input[1]]) & 0x0FFF);
    let rest = &input[2..];
    let image_len = rest.len().min(size as usize);
    let (image, text) = rest.split_at(image_len);
    let text = String::from_utf8_lossy(text);
    let bare = format!("fuzz-scene-{}", std::process::id());
    let _file = segment(&format!("/{bare}"), size, image);

    // A shared buffer's descriptor: opened or refused, whatever it names.
    let _ = SharedBuffer::open_descriptor(&text);

    if let Ok(mut descriptor) = SceneDescriptor::from_json(&text) {
        assert_eq!(SceneDescriptor::from_json(&descriptor.to_json()), Ok(descriptor.clone()));
        descriptor.segment = bare.clone();
        if let Ok(scene) = SceneBuffer::open(&descriptor) {
            if let Ok(payload) = scene.read_with_limit(LIMIT) {
                assert_eq!(payload.len() as u64, descriptor.length);
                assert!(descriptor.length <= LIMIT);
            }
        }
    }
    let _ = shm::unlink(format!("/{bare}").as_str());
});
