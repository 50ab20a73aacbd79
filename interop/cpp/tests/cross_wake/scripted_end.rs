//! One end of a ring, driven line by line from stdin by interop/cpp/tests/cross_wake.cpp, so
//! that the C++ side can make the Rust end sleep or wake at exactly the moment it wants.
//! tests/check_cross_wake.sh builds it against the shm_ring crate of this repository.
//!
//! Each command gets one line of reply on stdout:
//!
//! | command                  | does                                     | reply                 |
//! |--------------------------|------------------------------------------|-----------------------|
//! | `create NAME CAPACITY`   | creates a producer (unlinked on exit)    | `ok`                  |
//! | `open NAME`              | opens a consumer                         | `ok`                  |
//! | `try_write LEN SEED`     | writes message SEED of LEN bytes, or not | `ok` / `full`         |
//! | `write LEN SEED`         | the same, waiting for space              | `ok SLEEPS FULL`      |
//! | `try_read SEED`          | reads and checks message SEED, or not    | `ok LEN` / `empty`    |
//! | `read SEED`              | the same, waiting for a message          | `ok LEN SLEEPS FULL`  |
//!
//! SLEEPS and FULL are what the call added to the end's wait statistics: the times it slept in
//! the kernel, and of those the sleeps that ran out their whole slice. The peer-check interval
//! is an hour, so against a peer of ours a sleep ends early only if that peer wakes it (or had
//! already published). Anything else is answered `error ...`. Byte j of message SEED is
//! (SEED * 7 + j) % 251.

use std::io::{BufRead, Write};
use std::time::Duration;

use shm_ring::{ProducerOptions, ShmConsumer, ShmProducer, TryReadError, TryWriteError, WaitStats};

/// No sleep against a peer of ours ends by running out this.
const NO_SLICE: Duration = Duration::from_secs(3600);
/// How long a blocking call waits: far longer than any wake-up takes.
const TIMEOUT: Duration = Duration::from_secs(30);

fn message(seed: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|j| ((seed * 7 + j) % 251) as u8)
        .collect()
}

fn number(word: Option<&&str>) -> Result<u64, String> {
    word.ok_or("missing number")?
        .parse()
        .map_err(|e| format!("bad number: {e}"))
}

fn added(before: WaitStats, after: WaitStats) -> String {
    format!(
        "{} {}",
        after.sleeps - before.sleeps,
        after.full_slices - before.full_slices
    )
}

#[derive(Default)]
struct End {
    producer: Option<ShmProducer>,
    consumer: Option<ShmConsumer>,
}

impl End {
    fn producer(&mut self) -> Result<&mut ShmProducer, String> {
        self.producer
            .as_mut()
            .ok_or_else(|| "no producer".to_owned())
    }

    fn consumer(&mut self) -> Result<&mut ShmConsumer, String> {
        self.consumer
            .as_mut()
            .ok_or_else(|| "no consumer".to_owned())
    }

    fn run(&mut self, words: &[&str]) -> Result<String, String> {
        match words.first().copied() {
            Some("create") => {
                let name = words.get(1).ok_or("missing name")?;
                let capacity = number(words.get(2))? as usize;
                let mut producer = ProducerOptions::new()
                    .unlink_on_drop(true)
                    .create(name, capacity)
                    .map_err(|e| e.to_string())?;
                producer.set_peer_check_interval(NO_SLICE);
                self.producer = Some(producer);
                Ok("ok".to_owned())
            }
            Some("open") => {
                let name = words.get(1).ok_or("missing name")?;
                let mut consumer = ShmConsumer::open(name).map_err(|e| e.to_string())?;
                consumer.set_peer_check_interval(NO_SLICE);
                self.consumer = Some(consumer);
                Ok("ok".to_owned())
            }
            Some("try_write") => {
                let msg = message(number(words.get(2))?, number(words.get(1))? as usize);
                match self.producer()?.try_write(&msg) {
                    Ok(()) => Ok("ok".to_owned()),
                    Err(TryWriteError::Full) => Ok("full".to_owned()),
                    Err(e) => Err(e.to_string()),
                }
            }
            Some("write") => {
                let msg = message(number(words.get(2))?, number(words.get(1))? as usize);
                let producer = self.producer()?;
                let before = producer.wait_stats();
                producer.write(&msg, TIMEOUT).map_err(|e| e.to_string())?;
                Ok(format!("ok {}", added(before, producer.wait_stats())))
            }
            Some("try_read") => {
                let seed = number(words.get(1))?;
                match self.consumer()?.try_read().map(|got| got.into_vec()) {
                    Ok(got) if got == message(seed, got.len()) => Ok(format!("ok {}", got.len())),
                    Ok(_) => Err(format!("message {seed} has the wrong bytes")),
                    Err(TryReadError::Empty) => Ok("empty".to_owned()),
                    Err(e) => Err(e.to_string()),
                }
            }
            Some("read") => {
                let seed = number(words.get(1))?;
                let consumer = self.consumer()?;
                let before = consumer.wait_stats();
                let got = consumer.read(TIMEOUT).map_err(|e| e.to_string())?.into_vec();
                if got != message(seed, got.len()) {
                    return Err(format!("message {seed} has the wrong bytes"));
                }
                Ok(format!(
                    "ok {} {}",
                    got.len(),
                    added(before, consumer.wait_stats())
                ))
            }
            _ => Err(format!("unknown command {words:?}")),
        }
    }
}

fn main() {
    let mut end = End::default();
    let mut out = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("read a command");
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = end.run(&words).unwrap_or_else(|e| format!("error {e}"));
        writeln!(out, "{reply}").expect("write a reply");
        out.flush().expect("write a reply");
    }
}
