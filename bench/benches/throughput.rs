//! Throughput of every API, single-thread, cross-thread and cross-process, for 64 B, 1 KiB,
//! 4 KiB and 6,220,800 B (one 1080p RGB frame) messages, with rtrb carrying the same framed
//! bytes between two threads and `memcpy` as references.
//!
//! `cargo bench -p shm_ring_bench --bench throughput`. One iteration moves one message, so criterion's
//! throughput figures are bytes of payload per second.

use criterion::{BenchmarkId, Criterion, Throughput};
use shm_ring_bench as support;
use support::{Api, SIZES};

fn main() {
    support::child_main();
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
        .configure_from_args();
    for size in SIZES {
        let mut group = criterion.benchmark_group(format!("{size} B"));
        group.throughput(Throughput::Bytes(size as u64));
        for api in Api::ALL {
            group.bench_function(BenchmarkId::new("single-thread", api.name()), |b| {
                b.iter_custom(|iters| support::single_thread(api, size, iters))
            });
            group.bench_function(BenchmarkId::new("cross-thread", api.name()), |b| {
                b.iter_custom(|iters| support::cross_thread(api, size, iters))
            });
            group.bench_function(BenchmarkId::new("cross-process", api.name()), |b| {
                b.iter_custom(|iters| support::cross_process(api, size, iters))
            });
        }
        group.bench_function(BenchmarkId::new("rtrb cross-thread", "per message"), |b| {
            b.iter_custom(|iters| support::rtrb_cross_thread(false, size, iters))
        });
        group.bench_function(BenchmarkId::new("rtrb cross-thread", "batched"), |b| {
            b.iter_custom(|iters| support::rtrb_cross_thread(true, size, iters))
        });
        group.bench_function(BenchmarkId::new("memcpy", "single-thread"), |b| {
            b.iter_custom(|iters| support::memcpy(size, iters))
        });
        group.finish();
    }
    criterion.final_summary();
}
