//! Fuzzes a consumer against a segment whose every byte the input chooses, and against more
//! bytes written between its reads, as a hostile or broken producer would.
//!
//! Input layout: two bytes of segment size (0..=1023), then the segment's initial bytes,
//! then operations of three bytes each: `[kind, a, b]`. The consumer may only answer with
//! documented outcomes, never deliver a message longer than the ring allows, and never panic
//! or touch memory outside the mapping.
#![no_main]

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use rustix::fs::Mode;
use rustix::shm;
use shm_ring::{OpenError, ReadTimeoutError, ShmConsumer, TryReadError};

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
    file.write_all_at(&image[..len], 0)
        .expect("fill the segment");
    file
}

/// Checks what a read came to: the length of a message taken, or nothing (none waiting, or
/// refused by the grant and left in the ring), or a read error.
fn check(result: &Result<Option<usize>, ReadTimeoutError>, max: usize) {
    match result {
        Ok(Some(len)) => assert!(
            *len <= max,
            "a {len}-byte message from a ring carrying {max}"
        ),
        Ok(None)
        | Err(ReadTimeoutError::Corrupted(_))
        | Err(ReadTimeoutError::Timeout)
        | Err(ReadTimeoutError::PeerGone) => {}
        Err(other) => panic!("undocumented read error {other:?}"),
    }
}

/// `try_read`, with the message taken out of its grant by `take`.
fn try_read_by(
    consumer: &mut ShmConsumer,
    take: impl FnOnce(shm_ring::ReadGrant<'_>) -> Option<usize>,
) -> Result<Option<usize>, ReadTimeoutError> {
    match consumer.try_read() {
        Ok(grant) => {
            let len = grant.len();
            let taken = take(grant);
            assert!(taken.map_or(true, |n| n == len), "copied {taken:?} of {len} bytes");
            Ok(taken)
        }
        Err(TryReadError::Empty) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 2 {
        return;
    }
    let size = u64::from(u16::from_le_bytes([input[0], input[1]]) % 1024);
    let rest = &input[2..];
    let image_len = rest.len().min(size as usize);
    let (image, ops) = rest.split_at(image_len);
    let name = format!("/fuzz-consumer-{}", std::process::id());
    let file = segment(&name, size, image);
    let mut consumer = match ShmConsumer::open(&name) {
        Ok(consumer) => consumer,
        Err(
            OpenError::NotReady { .. }
            | OpenError::TooSmall { .. }
            | OpenError::InvalidCapacity { .. }
            | OpenError::CapacityExceedsSize { .. },
        ) => {
            let _ = shm::unlink(&name);
            return;
        }
        Err(other) => panic!("undocumented open error {other:?}"),
    };
    let max = consumer.max_message_len();
    let mut slice = [0u8; 64];
    for op in ops.chunks_exact(3).take(256) {
        let (kind, a, b) = (op[0], op[1], op[2]);
        let value = u32::from_le_bytes([a, b, a ^ b, kind]);
        match kind % 10 {
            // The adversary writes a header word or a data byte.
            0 => file.write_all_at(&value.to_le_bytes(), 0).unwrap(),
            1 => file.write_all_at(&value.to_le_bytes(), 4).unwrap(),
            2 => file.write_all_at(&value.to_le_bytes(), 8).unwrap(),
            3 => file.write_all_at(&[a, b], 12).unwrap(),
            4 if size > 16 => {
                let at = 16 + u64::from(u16::from_le_bytes([a, b])) % (size - 16);
                file.write_all_at(&[kind], at).unwrap();
            }
            // Our consumer reads, in every form.
            5 => check(&try_read_by(&mut consumer, |m| Some(m.into_vec().len())), max),
            6 => check(
                &try_read_by(&mut consumer, |m| m.into_slice(&mut slice).ok()),
                max,
            ),
            7 => check(
                &try_read_by(&mut consumer, |m| {
                    let (first, second) = m.as_slices();
                    let len = first.len() + second.len();
                    // Every other time a peek: the grant is dropped and the message stays.
                    if b % 2 == 0 {
                        m.commit();
                    }
                    Some(len)
                }),
                max,
            ),
            8 => check(
                &try_read_by(&mut consumer, |m| {
                    m.into_values::<u16>().ok().map(|values| values.len() * 2)
                }),
                max,
            ),
            _ => {
                let mut longest = 0;
                let read =
                    consumer.try_read_batch(usize::from(a % 8), |m| longest = longest.max(m.len()));
                let read = match read {
                    Ok(_) | Err(TryReadError::Empty) => Ok(Some(longest)),
                    Err(e) => Err(e.into()),
                };
                check(&read, max);
                let read = consumer.read(Duration::ZERO).map(|m| Some(m.into_vec().len()));
                check(&read, max);
            }
        }
        assert!(consumer.readable_bytes() <= consumer.capacity());
    }
    drop(consumer);
    let _ = shm::unlink(&name);
});
