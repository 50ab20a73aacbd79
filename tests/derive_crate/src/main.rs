//! Defines a message type the way the crate documentation shows, with nothing but shm_ring as
//! a dependency, and checks that its bytes round-trip. Then, as a crate with shm_ring's
//! default features (`json`, not `lz4`) sees them: scene buffers work uncompressed, and LZ4
//! is a typed error that names the feature, when writing and when reading. Exits 0 when all
//! holds.

use shm_ring::bytemuck::{self, Pod, Zeroable};

#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[bytemuck(crate = "shm_ring::bytemuck")]
#[repr(C)]
struct Reading {
    sensor: u32,
    celsius: f32,
}

fn main() {
    let reading = Reading {
        sensor: 7,
        celsius: 21.5,
    };
    let bytes = bytemuck::bytes_of(&reading);
    assert_eq!(bytes.len(), 8);
    let back: Reading = bytemuck::pod_read_unaligned(bytes);
    assert_eq!(back, reading);
    println!("derive_crate: Reading derived Pod and Zeroable through shm_ring::bytemuck");
    without_lz4();
}

fn without_lz4() {
    use shm_ring::{SceneBuffer, SceneOptions, SceneReadError, SceneWriteError, SharedBuffer};
    let plain = SceneBuffer::write(b"plain", &SceneOptions::default()).expect("write");
    assert_eq!(plain.read().expect("read"), b"plain");
    let asked = SceneOptions {
        lz4: true,
        ..SceneOptions::default()
    };
    let refused = SceneBuffer::write(b"x", &asked).expect_err("no LZ4 in this build");
    assert!(
        matches!(refused, SceneWriteError::Lz4Unavailable),
        "{refused:?}"
    );
    assert!(
        refused.to_string().contains("cargo feature \"lz4\""),
        "{refused}"
    );
    // A compressed payload, as a writer with LZ4 describes it (its CRC-32, of the stored bytes,
    // is right; the bytes are never decoded).
    let mut buffer = SharedBuffer::create_unique(16).expect("create");
    buffer.write(&[0; 16]).expect("write");
    let json = format!(
        r#"{{"schema":"shm_ring/scene_buffer/2","segment":"{}","layout_version":1,"capacity":16,"sequence":2,"kind":"Arbitrary","source":"","created_unix_ms":0,"ttl_ms":null,"length":64,"stored_length":16,"compression":"lz4","crc32":3971697493}}"#,
        buffer.name()
    );
    let scene = SceneBuffer::open_json(&json).expect("open");
    match scene.read() {
        Err(error @ SceneReadError::Lz4Unavailable { .. }) => {
            assert!(
                error.to_string().contains("cargo feature \"lz4\""),
                "{error}"
            );
            println!("derive_crate: without the lz4 feature, LZ4 is refused: {error}");
        }
        other => panic!("expected Lz4Unavailable, got {other:?}"),
    }
}
