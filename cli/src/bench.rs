//! `shm-ring bench`: the bench program's cross-process rows, measured quickly. This process
//! is the producer (and the pinging side); the consumer (and the echoing side) is this same
//! executable started again as `shm-ring bench-child ...`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use shm_ring::{PeerState, ProducerOptions, ShmConsumer, ShmProducer, TryReadError};

use crate::table::Table;
use crate::{interrupted, Failure, Outcome, SLICE};

/// Only a guard against a hang of the other process.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Messages per size: about 64 MiB of payload, 50 to 200000 messages.
fn count_for(size: usize) -> u64 {
    ((64u64 << 20) / size as u64).clamp(50, 200_000)
}

/// The ring for a message size: 1 MiB, or room for four messages of larger sizes.
fn capacity_for(size: usize) -> Result<usize, Failure> {
    let one = shm_ring::capacity_for_message(size)
        .ok_or_else(|| Failure(format!("bench: no ring carries {size}-byte messages")))?;
    Ok(one.saturating_mul(4).clamp(1 << 20, 1 << 31))
}

fn segment_name(tag: &str) -> String {
    format!("shm-ring-bench-{}-{tag}", std::process::id())
}

/// The other process, running `task`.
fn spawn(task: &[String]) -> Result<Child, Failure> {
    let exe = std::env::current_exe().map_err(|e| format!("bench: own executable: {e}"))?;
    Command::new(exe)
        .arg("bench-child")
        .args(task)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| Failure(format!("bench: cannot start the other process: {e}")))
}

/// Kills the other process when the run ends early (Ctrl-C, a failure).
struct Other(Child);

impl Other {
    fn finish(mut self) -> Result<(), Failure> {
        let status = self.0.wait().map_err(|e| format!("bench: {e}"))?;
        if !status.success() {
            return Err(Failure(format!(
                "bench: the other process failed ({status})"
            )));
        }
        Ok(())
    }
}

impl Drop for Other {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn stop_if_interrupted() -> Outcome {
    if interrupted() {
        return Err(Failure("bench: interrupted".to_owned()));
    }
    Ok(())
}

/// Waits until the other process has attached as consumer of `producer`'s ring.
fn wait_for_consumer(producer: &ShmProducer, other: &mut Other) -> Outcome {
    let start = Instant::now();
    while producer.peer_state() != PeerState::Alive {
        stop_if_interrupted()?;
        if other.0.try_wait().ok().flatten().is_some() || start.elapsed() > TIMEOUT {
            return Err(Failure(
                "bench: the other process did not attach".to_owned(),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Messages per second of `size`-byte messages, copied in and out, between two processes.
fn throughput(size: usize, count: u64, bar: &ProgressBar) -> Result<f64, Failure> {
    let name = segment_name(&format!("t{size}"));
    let mut producer = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, capacity_for(size)?)
        .map_err(|e| format!("bench: {e}"))?;
    let mut other = Other(spawn(&["consume".into(), name.clone(), count.to_string()])?);
    wait_for_consumer(&producer, &mut other)?;
    let payload = vec![0xA5u8; size];
    let start = Instant::now();
    for i in 0..count {
        loop {
            stop_if_interrupted()?;
            match producer.write(&payload, SLICE) {
                Ok(()) => break,
                Err(shm_ring::WriteTimeoutError::Timeout) => continue,
                Err(e) => return Err(Failure(format!("bench: write: {e}"))),
            }
        }
        if i % 1024 == 0 {
            bar.inc(1024.min(count - i));
        }
    }
    loop {
        stop_if_interrupted()?;
        match producer.wait_until_empty(SLICE) {
            Ok(()) => break,
            Err(shm_ring::WaitTimeoutError::Timeout) => continue,
            Err(e) => return Err(Failure(format!("bench: {e}"))),
        }
    }
    let elapsed = start.elapsed();
    other.finish()?;
    Ok(count as f64 / elapsed.as_secs_f64())
}

/// One-way latencies (half round trips) of 8-byte messages to an echoing process, both sides
/// polling with the non-blocking calls, sorted.
fn latency(rounds: usize, bar: &ProgressBar) -> Result<Vec<Duration>, Failure> {
    let ping_name = segment_name("ping");
    let pong_name = segment_name("pong");
    let mut ping = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&ping_name, 1 << 16)
        .map_err(|e| format!("bench: {e}"))?;
    let mut other = Other(spawn(&[
        "echo".into(),
        ping_name.clone(),
        pong_name.clone(),
    ])?);
    let mut pong =
        ShmConsumer::open_timeout(&pong_name, TIMEOUT).map_err(|e| format!("bench: {e}"))?;
    wait_for_consumer(&ping, &mut other)?;
    let mut buf = [0u8; 8];
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds as u64 {
        stop_if_interrupted()?;
        let start = Instant::now();
        ping.try_write(&round.to_le_bytes())
            .map_err(|e| format!("bench: ping: {e}"))?;
        loop {
            match pong.try_read() {
                Ok(message) => {
                    message
                        .into_slice(&mut buf)
                        .map_err(|e| format!("bench: pong: {e}"))?;
                    break;
                }
                Err(TryReadError::Empty) => {
                    if start.elapsed() > TIMEOUT {
                        return Err(Failure("bench: no answer from the other process".into()));
                    }
                    stop_if_interrupted()?;
                    std::hint::spin_loop()
                }
                Err(e) => return Err(Failure(format!("bench: pong: {e}"))),
            }
        }
        samples.push(start.elapsed() / 2);
        if round % 256 == 0 {
            bar.inc(256.min(rounds as u64 - round));
        }
    }
    ping.try_write(&[0xFF])
        .map_err(|e| format!("bench: stop: {e}"))?;
    other.finish()?;
    samples.sort();
    Ok(samples)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn gib(rate: f64, size: usize) -> f64 {
    rate * size as f64 / (1u64 << 30) as f64
}

pub fn run(sizes: &[usize], count: Option<u64>, rounds: usize, json: bool) -> Outcome {
    if let Some(&bad) = sizes.iter().find(|&&s| s == 0) {
        return Err(Failure(format!("bench: size {bad} is not a message size")));
    }
    if rounds == 0 {
        return Err(Failure("bench: --rounds must be at least 1".into()));
    }
    let counts: Vec<u64> = sizes
        .iter()
        .map(|&s| count.unwrap_or_else(|| count_for(s)).max(1))
        .collect();
    let total = counts.iter().sum::<u64>() + rounds as u64;
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{msg:>24} [{bar:30}] {percent:>3}%")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let mut rows = Vec::new();
    for (&size, &n) in sizes.iter().zip(&counts) {
        bar.set_message(format!("throughput, {size} B"));
        let rate = throughput(size, n, &bar)?;
        rows.push((size, n, rate));
    }
    bar.set_message("one-way latency");
    let samples = latency(rounds, &bar)?;
    bar.finish_and_clear();
    let [p50, p99, p999] = [0.5, 0.99, 0.999].map(|p| micros(percentile(&samples, p)));
    if json {
        let throughput: Vec<_> = rows
            .iter()
            .map(|&(size, messages, rate)| {
                json!({
                    "name": "shm_ring, cross-process, copy",
                    "size": size,
                    "messages": messages,
                    "msgs_per_sec": rate,
                    "gib_per_sec": gib(rate, size),
                })
            })
            .collect();
        let out = json!({
            "throughput": throughput,
            "latency": {
                "name": "shm_ring, cross-process one-way",
                "rounds": rounds,
                "p50_us": p50,
                "p99_us": p99,
                "p999_us": p999,
            },
        });
        println!("{out}");
        return Ok(());
    }
    let mut table = Table::new(&["shm_ring, cross-process, copy", "msgs/s", "GiB/s"]);
    for &(size, _, rate) in &rows {
        table.row(vec![
            format!("{size} B"),
            format!("{:.0}", rate),
            format!("{:.3}", gib(rate, size)),
        ]);
    }
    print!("{}", table.render());
    println!();
    let mut table = Table::new(&["one-way latency, 8 B", "p50", "p99", "p99.9"]);
    table.row(vec![
        format!("{rounds} round trips"),
        format!("{p50:.2} µs"),
        format!("{p99:.2} µs"),
        format!("{p999:.2} µs"),
    ]);
    print!("{}", table.render());
    Ok(())
}

/// The other process of `bench`.
pub fn child(task: &[String]) -> Outcome {
    let words: Vec<&str> = task.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["consume", name, count] => {
            let count: u64 = count.parse().map_err(|e| format!("bench-child: {e}"))?;
            let mut consumer = ShmConsumer::open_timeout(name, TIMEOUT)
                .map_err(|e| format!("bench-child: {e}"))?;
            let mut buf = vec![0u8; consumer.max_message_len()];
            for _ in 0..count {
                consumer
                    .read(TIMEOUT)
                    .map_err(|e| format!("bench-child: {e}"))?
                    .into_slice(&mut buf)
                    .map_err(|e| format!("bench-child: {e}"))?;
            }
            Ok(())
        }
        ["echo", ping, pong] => {
            let mut pong = ProducerOptions::new()
                .unlink_on_drop(true)
                .create(pong, 1 << 16)
                .map_err(|e| format!("bench-child: {e}"))?;
            let mut ping = ShmConsumer::open_timeout(ping, TIMEOUT)
                .map_err(|e| format!("bench-child: {e}"))?;
            let mut buf = [0u8; 8];
            // Polling, as the measuring side does: the figure is the ring's, not a wake-up's.
            loop {
                match ping.try_read().map(|m| m.into_slice(&mut buf)) {
                    Ok(Ok(1)) => break,
                    Ok(Ok(n)) => pong
                        .write(&buf[..n], TIMEOUT)
                        .map_err(|e| format!("bench-child: {e}"))?,
                    Ok(Err(e)) => return Err(Failure(format!("bench-child: {e}"))),
                    Err(TryReadError::Empty) => {
                        if interrupted() || ping.peer_state() == PeerState::Gone {
                            return Err(Failure("bench-child: stopped".into()));
                        }
                        std::hint::spin_loop()
                    }
                    Err(e) => return Err(Failure(format!("bench-child: {e}"))),
                }
            }
            pong.wait_until_empty(TIMEOUT)
                .map_err(|e| format!("bench-child: {e}"))?;
            Ok(())
        }
        other => Err(Failure(format!("bench-child: unknown task {other:?}"))),
    }
}
