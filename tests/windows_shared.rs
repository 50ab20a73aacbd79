//! Shared buffers and buffer pools on Windows, where a mapping's size is kept in whole pages
//! and a name lives while any handle to it is open: hostile headers of page-sized mappings
//! (each under its own name), what `inspect` reports of a buffer and a pool, and `cleanup`'s
//! typed refusal. The cases both systems share are in tests/buffer.rs and tests/pool.rs.
#![cfg(windows)]

use shm_ring::{
    BufferOpenError, BufferPool, CleanupOptions, PeerState, PoolOpenError, SegmentKind,
    SharedBuffer, Verdict,
};
use support::raw::Raw;
use support::segment::unique_name;

/// A page-sized mapping named `name` whose first bytes are `header`.
fn raw_with_header(name: &str, header: &[(u64, &[u8])]) -> Raw {
    let raw = Raw::create(name, 4096);
    for (offset, bytes) in header {
        raw.set_bytes(*offset, bytes);
    }
    raw
}

#[test]
fn hostile_buffer_headers_are_typed_errors() {
    let n = unique_name("winbuf-zero");
    let _raw = raw_with_header(&n, &[]);
    assert!(matches!(
        SharedBuffer::open(&n),
        Err(BufferOpenError::NotReady { .. })
    ));
    let n = unique_name("winbuf-magic");
    let _raw = raw_with_header(&n, &[(0, b"SRX1"), (4, &1u32.to_le_bytes())]);
    match SharedBuffer::open(&n) {
        Err(BufferOpenError::WrongMagic { found, .. }) => {
            assert_eq!(found, u32::from_le_bytes(*b"SRX1"))
        }
        other => panic!("expected WrongMagic, got {other:?}"),
    }
    let n = unique_name("winbuf-version");
    let _raw = raw_with_header(&n, &[(0, b"SRBF"), (4, &2u32.to_le_bytes())]);
    assert!(matches!(
        SharedBuffer::open(&n),
        Err(BufferOpenError::UnsupportedVersion { found: 2, .. })
    ));
    // A capacity past what the page holds: nothing beyond the header is mapped.
    let n = unique_name("winbuf-size");
    let _raw = raw_with_header(
        &n,
        &[
            (0, b"SRBF"),
            (4, &1u32.to_le_bytes()),
            (8, &(1u64 << 40).to_le_bytes()),
        ],
    );
    match SharedBuffer::open(&n) {
        Err(BufferOpenError::CapacityExceedsSize { capacity, size, .. }) => {
            assert_eq!((capacity, size), (1 << 40, 4096))
        }
        other => panic!("expected CapacityExceedsSize, got {other:?}"),
    }
}

#[test]
fn hostile_pool_headers_are_typed_errors() {
    let n = unique_name("winpool-magic");
    let _raw = raw_with_header(&n, &[(0, b"SRBF"), (4, &2u32.to_le_bytes())]);
    assert!(matches!(
        BufferPool::open(&n),
        Err(PoolOpenError::WrongMagic { .. })
    ));
    let n = unique_name("winpool-size");
    let _raw = raw_with_header(
        &n,
        &[
            (0, b"SRPL"),
            (4, &2u32.to_le_bytes()),
            (8, &4u32.to_le_bytes()),
            (16, &(1u64 << 40).to_le_bytes()),
            (32, &8u32.to_le_bytes()),
        ],
    );
    match BufferPool::open(&n) {
        Err(PoolOpenError::GeometryExceedsSize { needed, size, .. }) => {
            assert_eq!(size, 4096);
            assert!(needed > 4 << 40);
        }
        other => panic!("expected GeometryExceedsSize, got {other:?}"),
    }
}

#[test]
fn inspect_reports_a_buffer_and_a_pool_with_their_live_sides() {
    let name = unique_name("wininspect-buf");
    let mut buffer = SharedBuffer::create(&name, 100).unwrap();
    buffer.write(b"seven b").unwrap();
    let info = shm_ring::inspect(&name).unwrap();
    assert_eq!(info.kind, SegmentKind::SharedBuffer);
    assert_eq!(info.verdict, Verdict::Valid);
    let found = info.buffer.expect("the buffer's state");
    assert_eq!((found.capacity, found.data_len), (100, 7));
    assert_eq!(found.writer, PeerState::Alive);

    let name = unique_name("wininspect-pool");
    let pool = BufferPool::create(&name, 3, 64).unwrap();
    let loan = pool.try_acquire().unwrap();
    let info = shm_ring::inspect(&name).unwrap();
    assert_eq!(info.kind, SegmentKind::BufferPool);
    let found = info.pool.expect("the pool's state");
    assert_eq!((found.slot_count, found.free, found.filling), (3, 2, 1));
    assert_eq!(found.live_holders, Some(1));
    drop(loan);
}

#[test]
fn cleanup_is_a_typed_unsupported_error() {
    let err = shm_ring::cleanup(&CleanupOptions::new().dry_run(true)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
    assert!(err.to_string().contains("last process"), "{err}");
}

#[test]
fn a_buffer_keeps_its_name_while_a_handle_is_open() {
    let name = unique_name("winbuf-named");
    let buffer = SharedBuffer::create(&name, 8).unwrap();
    assert!(buffer.is_named());
    let err = shm_ring::remove_forced(&name).unwrap_err();
    assert!(
        matches!(err, shm_ring::OpenError::Unsupported { .. }),
        "{err:?}"
    );
    assert!(buffer.is_named());
    let reader = SharedBuffer::open(&name).unwrap();
    drop(buffer);
    assert!(reader.is_named(), "the reader's handle keeps the name");
}
