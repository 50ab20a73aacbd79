//! One-way latency between two processes through the ring (ping-pong with an echoing child,
//! half of each round trip), against a raw ping-pong on one `AtomicU32` between two threads,
//! and the time a consumer asleep in a blocking read takes to get a message.
//!
//! `cargo bench -p shm_ring_bench --bench latency`. Criterion reports the mean; the percentiles (p50, p99,
//! p99.9) of every sample taken are printed at the end.

use std::sync::Mutex;
use std::time::Duration;

use criterion::Criterion;
use shm_ring_bench as support;

/// Every half round trip measured, per benchmark.
static SAMPLES: Mutex<Vec<(&'static str, Vec<Duration>)>> = Mutex::new(Vec::new());

fn keep(name: &'static str, samples: &[Duration]) -> Duration {
    let mut all = SAMPLES.lock().unwrap();
    match all.iter_mut().find(|(n, _)| *n == name) {
        Some((_, kept)) => kept.extend_from_slice(samples),
        None => all.push((name, samples.to_vec())),
    }
    samples.iter().sum()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    support::child_main();
    let mut criterion = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut group = criterion.benchmark_group("one-way latency");
    group.bench_function("ring, cross-process", |b| {
        b.iter_custom(|iters| {
            keep(
                "ring, cross-process",
                &support::ring_ping_pong(iters as usize),
            )
        })
    });
    group.bench_function("raw AtomicU32, cross-thread", |b| {
        b.iter_custom(|iters| {
            keep(
                "raw AtomicU32, cross-thread",
                &support::atomic_ping_pong(iters as usize),
            )
        })
    });
    group.finish();
    criterion.final_summary();

    let wake = support::wake_latency(200, Duration::from_millis(2));
    keep("wake-up of a sleeping read, cross-process", &wake);
    println!("\npercentiles of every sample:");
    for (name, samples) in SAMPLES.lock().unwrap().iter_mut() {
        samples.sort();
        println!(
            "  {name}: p50 {:?}  p99 {:?}  p99.9 {:?}  ({} samples)",
            percentile(samples, 0.5),
            percentile(samples, 0.99),
            percentile(samples, 0.999),
            samples.len()
        );
    }
}
