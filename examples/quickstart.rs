//! Two processes sharing a ring: this program creates a producer, starts a copy of itself as
//! the consumer, and the two exchange a few messages through shared memory.
//!
//! ```text
//! cargo run --example quickstart                 # the producer; it starts the consumer
//! cargo run --example quickstart -- consumer NAME  # the consumer of ring NAME, as started
//! ```

use std::process::{Command, ExitCode};
use std::time::Duration;

use shm_ring::{ProducerOptions, ShmConsumer};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Without arguments, the producer; `consumer NAME` is the consumer the producer starts.
const USAGE: &str = "usage: quickstart [consumer NAME]";

/// A plain-data message: sent as its bytes, read back as the same struct.
#[derive(Clone, Copy, Debug, shm_ring::bytemuck::Pod, shm_ring::bytemuck::Zeroable)]
#[bytemuck(crate = "shm_ring::bytemuck")]
#[repr(C)]
struct Reading {
    sensor: u32,
    celsius: f32,
}

fn producer() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("quickstart-{}", std::process::id());
    // 64 KiB ring; the name is removed when the producer is dropped.
    let mut producer = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, 64 * 1024)?;
    println!(
        "producer: created ring {:?} with {} bytes of capacity",
        producer.name(),
        producer.capacity()
    );

    let mut consumer = Command::new(std::env::current_exe()?)
        .args(["consumer", &name])
        .spawn()?;

    for text in ["hello", "from", "another process"] {
        producer.write(text.as_bytes(), TIMEOUT)?;
        println!("producer: wrote {text:?}");
    }
    let readings = [
        Reading {
            sensor: 1,
            celsius: 21.5,
        },
        Reading {
            sensor: 2,
            celsius: 19.0,
        },
    ];
    for reading in &readings {
        producer.write(shm_ring::bytemuck::bytes_of(reading), TIMEOUT)?;
    }
    println!("producer: wrote {} readings as plain data", readings.len());
    // Zero-copy: fill the message in place, then publish it.
    let mut grant = producer.reserve(3, TIMEOUT)?;
    grant.copy_from_slice(b"bye");
    grant.commit();
    println!("producer: wrote \"bye\" in place");

    producer.wait_until_empty(TIMEOUT)?;
    println!("producer: the consumer has read everything");
    let status = consumer.wait()?;
    if !status.success() {
        return Err(format!("the consumer failed: {status}").into());
    }
    Ok(())
}

fn consumer(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut consumer = ShmConsumer::open_timeout(name, TIMEOUT)?;
    println!(
        "consumer: opened ring {:?} (pid {})",
        consumer.name(),
        std::process::id()
    );
    for _ in 0..3 {
        let message = consumer.read(TIMEOUT)?.into_vec();
        println!("consumer: read {:?}", String::from_utf8_lossy(&message));
    }
    for _ in 0..2 {
        let reading: Reading = consumer.read(TIMEOUT)?.into_value()?;
        println!("consumer: read {reading:?}");
    }
    // Zero-copy: look at the message where it lies in shared memory.
    let last = consumer.read(TIMEOUT)?;
    let (first, second) = last.as_slices();
    println!(
        "consumer: read {:?} in place",
        String::from_utf8_lossy(&[first, second].concat())
    );
    last.commit();
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [] => producer(),
        [role, name] if role == "consumer" => consumer(name),
        [flag] if flag == "--help" || flag == "-h" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quickstart: {e}");
            ExitCode::FAILURE
        }
    }
}
