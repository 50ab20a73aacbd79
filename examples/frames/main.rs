//! 1080p RGBA frames from a Rust producer to a Python consumer that shows each one as a NumPy
//! array without copying: a ring carries a 72-byte reference per frame, and the frame's
//! 8,294,400 bytes stay in a pool slot, written in place here and read in place there.
//!
//! ```text
//! cargo run --release --example frames              # 120 frames; it starts the consumer
//! cargo run --release --example frames -- 600       # as many frames as you like
//! ```
//!
//! The consumer is `interop/python/examples/frames_consumer.py`, started with `python3` (or
//! `$PYTHON`); it needs NumPy. It checks every frame and prints a line per frame and a summary;
//! this program exits with its status.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

use shm_ring::{BufferPool, LargeSender, ProducerOptions};

const WIDTH: usize = 1920;
const HEIGHT: usize = 1080;
/// Bytes per pixel: R, G, B, A.
const CHANNELS: usize = 4;
const FRAME_BYTES: usize = WIDTH * HEIGHT * CHANNELS;
/// Slots in the pool: frames the consumer may hold while the next ones are drawn.
const SLOTS: u32 = 4;
const TIMEOUT: Duration = Duration::from_secs(60);
const USAGE: &str = "usage: frames [FRAMES]";

/// Draws frame `index` into `frame`: pixel (x, y) is (x mod 256, y mod 256, index mod 256,
/// 255), which the consumer checks.
fn draw(frame: &mut [u8], index: u64) {
    for (y, row) in frame.chunks_exact_mut(WIDTH * CHANNELS).enumerate() {
        for (x, pixel) in row.chunks_exact_mut(CHANNELS).enumerate() {
            pixel.copy_from_slice(&[x as u8, y as u8, index as u8, 255]);
        }
    }
}

fn run(frames: u64) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let ring = format!("frames-{}", std::process::id());
    // The ring carries references only (and frames' envelopes, had they been small): 64 KiB.
    let producer = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&ring, 64 * 1024)?;
    let pool = BufferPool::create_unique(SLOTS, FRAME_BYTES as u64)?;
    let mut sender = LargeSender::new(producer, pool)?;
    println!(
        "producer: ring {ring:?}, pool {:?} of {SLOTS} slots of {FRAME_BYTES} bytes ({WIDTH}x{HEIGHT} RGBA)",
        sender.pool().name()
    );

    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/python/examples/frames_consumer.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let mut consumer = Command::new(&python)
        .arg(&script)
        .arg(&ring)
        .arg(frames.to_string())
        .spawn()
        .map_err(|e| format!("cannot start {python} {}: {e}", script.display()))?;

    for index in 0..frames {
        // Waits for the consumer to attach (first frame) and for a free slot.
        let mut loan = match sender.loan(TIMEOUT) {
            Ok(loan) => loan,
            Err(error) => {
                let _ = consumer.kill();
                let status = consumer.wait()?;
                return Err(format!("frame {index}: {error} (consumer: {status})").into());
            }
        };
        draw(&mut loan[..FRAME_BYTES], index);
        loan.commit(FRAME_BYTES)?;
    }
    println!(
        "producer: sent {frames} frames, {} MiB, each written in place into a pool slot",
        (frames * FRAME_BYTES as u64) >> 20
    );
    let status = consumer.wait()?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        eprintln!("frames: the consumer failed ({status})");
        ExitCode::FAILURE
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let frames = match args.as_slice() {
        [] => 120,
        [count] => match count.parse() {
            Ok(count) => count,
            Err(_) => {
                eprintln!("{USAGE}");
                return ExitCode::FAILURE;
            }
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    match run(frames) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("frames: {error}");
            ExitCode::FAILURE
        }
    }
}
