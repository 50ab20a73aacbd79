//! The cost of the calls themselves, for counting instructions: one thread writes and reads
//! `COUNT` 64-byte messages through a 1 MiB ring with one API, a message at a time (the batch
//! API 256 at a time), with the blocking calls the bench program uses.
//!
//! ```text
//! cargo build --release --example calls
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/calls copy 0
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/calls copy 204800
//! ```
//!
//! The difference of the two instruction totals, divided by 204,800, is what writing and
//! reading one message costs (the loop included). The API is `copy`, `zero-copy` or `batch`.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Duration;

use shm_ring::{ProducerOptions, ShmConsumer};

const TIMEOUT: Duration = Duration::from_secs(1);
const BATCH: usize = 256;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (api, count) = match args.as_slice() {
        [api, count] => match count.parse::<usize>() {
            Ok(count)
                if ["copy", "zero-copy", "batch"].contains(&api.as_str()) && count % BATCH == 0 =>
            {
                (api, count)
            }
            _ => return usage(),
        },
        _ => return usage(),
    };
    let name = format!("calls-{}", std::process::id());
    let mut producer = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, 1 << 20)
        .expect("create the ring");
    let mut consumer = ShmConsumer::open(&name).expect("open the ring");
    let payload = [0xA5u8; 64];
    match api.as_str() {
        "copy" => {
            let mut buf = [0u8; 64];
            for _ in 0..count {
                producer.write(&payload, TIMEOUT).expect("write");
                let message = consumer.read(TIMEOUT).expect("read");
                message.into_slice(&mut buf).expect("into_slice");
                black_box(&buf);
            }
        }
        "zero-copy" => {
            for _ in 0..count {
                let mut grant = producer.reserve(payload.len(), TIMEOUT).expect("reserve");
                grant.copy_from_slice(&payload);
                grant.commit();
                let message = consumer.read(TIMEOUT).expect("read");
                let (first, second) = message.as_slices();
                black_box((first.first(), second.len()));
                message.commit();
            }
        }
        _ => {
            let batch = [&payload[..]; BATCH];
            for _ in 0..count / BATCH {
                let written = producer.write_batch(&batch, TIMEOUT).expect("write_batch");
                let read = consumer
                    .read_batch(BATCH, TIMEOUT, |message| {
                        black_box(message.first());
                    })
                    .expect("read_batch");
                assert_eq!((written, read), (BATCH, BATCH));
            }
        }
    }
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    eprintln!("usage: calls copy|zero-copy|batch COUNT   (COUNT: messages, a multiple of 256)");
    ExitCode::from(2)
}
