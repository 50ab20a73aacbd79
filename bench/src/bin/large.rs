//! Large payloads, each figure beside a reference measured in the same run.
//!
//! ```text
//! cargo run --release -p shm_ring_bench --bin large [-- --runs N] [--python]
//! ```
//!
//! - 64 MiB payloads handed from this process to a child process through a [`BufferPool`] of
//!   4 slots (the writer copies a source buffer into the slot in place, publishes it and sends
//!   the 64-byte reference over a ring; the reader resolves it and reads every byte in place,
//!   then releases the slot), as GiB/s and as a ratio of single-thread `memcpy` of 64 MiB;
//! - the same through a fresh [`SharedBuffer`] per payload (create, write, send its name; the
//!   reader opens it, reads it in place and says so, and the writer drops it), once with
//!   `create_unique` then `write`, once with `create_unique_filled`;
//! - [`SceneBuffer::write`] of 64 MiB (a ramp of `f32`, as the Python rows write), without and
//!   with LZ4, in one thread;
//! - the pool's round trip between two processes (acquire, publish, send the reference,
//!   resolve, release, reply), beside the ring's own round trip and the pool's calls in one
//!   thread;
//! - with `--python`, `bench/python/large_payloads.py`: the Python module's and the reference
//!   library's (`dcc_mcp_core`, if installed) large-payload figures, in the same run.
//!
//! Every figure is the median of `--runs` runs (default 5), minimum and maximum in brackets.

use std::collections::VecDeque;
use std::hint::black_box;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shm_ring::{
    BufferPool, PoolRef, ProducerOptions, SceneBuffer, SceneKind, SceneOptions, SharedBuffer,
    ShmConsumer, ShmProducer,
};
use shm_ring_bench as support;

/// The payload size of the throughput rows.
const PAYLOAD: usize = 64 << 20;
/// Slots of the pool, and buffers in flight through fresh shared buffers.
const SLOTS: u32 = 4;
/// Payloads per throughput run (1 GiB).
const COUNT: u64 = 16;
/// Round trips per latency run.
const ROUNDS: usize = 20_000;
const TIMEOUT: Duration = Duration::from_secs(120);
const CHILD: &str = "SHM_RING_LARGE_CHILD";

/// Reads every byte of `bytes`, as a reader that looks at the whole payload does.
fn fold(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut acc = 0u64;
    for chunk in &mut chunks {
        acc ^= u64::from_le_bytes(chunk.try_into().unwrap());
    }
    for &b in chunks.remainder() {
        acc ^= u64::from(b);
    }
    acc
}

fn ring(tag: &str, capacity: usize) -> ShmProducer {
    ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&support::segment_name(tag), capacity)
        .expect("create a ring")
}

fn spawn(task: &str) -> Child {
    Command::new(std::env::current_exe().expect("own path"))
        .env(CHILD, task)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("start the child")
}

fn wait_for_consumer(producer: &ShmProducer) {
    let start = Instant::now();
    while producer.peer_state() != shm_ring::PeerState::Alive {
        assert!(start.elapsed() < TIMEOUT, "the child never attached");
        std::thread::yield_now();
    }
}

/// Spins until the ring has a message; returns its bytes in `buf`.
fn spin_read(consumer: &mut ShmConsumer, buf: &mut [u8]) -> usize {
    loop {
        match consumer.try_read() {
            Ok(message) => return message.into_slice(buf).expect("a short message"),
            Err(shm_ring::TryReadError::Empty) => std::hint::spin_loop(),
            Err(e) => panic!("read: {e}"),
        }
    }
}

// ------------------------------------------------------------------ workloads

/// Seconds to `memcpy` `count` payloads of 64 MiB (both buffers touched before timing).
fn memcpy(count: u64) -> f64 {
    let source = vec![0x5Au8; PAYLOAD];
    let mut target = vec![0xA5u8; PAYLOAD];
    let start = Instant::now();
    for _ in 0..count {
        target.copy_from_slice(&source);
        black_box(&mut target);
    }
    start.elapsed().as_secs_f64()
}

/// Seconds to hand `count` 64 MiB payloads to a child through the pool, after one untimed
/// round through every slot (so no page is touched for the first time while timed).
fn pool_handover(count: u64) -> f64 {
    let pool = BufferPool::create_unique(SLOTS, PAYLOAD as u64).expect("create the pool");
    let mut refs = ring("pool-refs", 1 << 16);
    let warm = u64::from(SLOTS);
    let mut child = spawn(&format!(
        "pool {} {} {}",
        pool.name(),
        refs.name(),
        warm + count
    ));
    let _pinned = support::pin(0);
    wait_for_consumer(&refs);
    let source = vec![0x5Au8; PAYLOAD];
    let mut hand_over = |n: u64| {
        for _ in 0..n {
            let mut loan = pool.acquire(TIMEOUT).expect("acquire");
            loan.copy_from_slice(&source);
            let reference = loan.publish(PAYLOAD as u64).expect("publish");
            refs.write(&reference.to_bytes(), TIMEOUT).expect("send");
        }
        while pool.available() != SLOTS {
            std::hint::spin_loop();
        }
    };
    hand_over(warm);
    let start = Instant::now();
    hand_over(count);
    let elapsed = start.elapsed().as_secs_f64();
    assert!(
        child.wait().expect("child").success(),
        "the pool child failed"
    );
    elapsed
}

/// Seconds for one thread to copy `count` 64 MiB payloads into a pool slot in place, and
/// seconds to read a slot's 64 MiB in place `count` times: the two halves of a hand-over, each
/// alone on one core.
fn pool_halves(count: u64) -> (f64, f64) {
    let pool = BufferPool::create_unique(1, PAYLOAD as u64).expect("create the pool");
    let source = vec![0x5Au8; PAYLOAD];
    let _pinned = support::pin(0);
    let mut loan = pool.try_acquire().expect("a slot");
    loan.copy_from_slice(&source); // the slot's pages are touched before timing
    let start = Instant::now();
    for _ in 0..count {
        loan.copy_from_slice(&source);
        black_box(&mut *loan);
    }
    let fill = start.elapsed().as_secs_f64();
    let reference = loan.publish(PAYLOAD as u64).expect("publish");
    let view = pool.resolve(&reference).expect("resolve");
    let start = Instant::now();
    for _ in 0..count {
        black_box(fold(&view));
    }
    (fill, start.elapsed().as_secs_f64())
}

/// Seconds per [`SceneBuffer::write`] of 64 MiB of `f32` vertex-like data (a ramp modulo 4096,
/// the payload of the Python rows), median of `count`; the segment's removal is not timed.
fn scene_write(count: u64, lz4: bool) -> f64 {
    let source: Vec<u8> = (0..PAYLOAD / 4)
        .flat_map(|i| ((i % 4096) as f32).to_le_bytes())
        .collect();
    let options = SceneOptions {
        kind: SceneKind::Geometry,
        source: "Maya".into(),
        lz4,
        ttl: None,
    };
    let mut seconds: Vec<f64> = (0..count)
        .map(|_| {
            let start = Instant::now();
            let scene = SceneBuffer::write(black_box(&source), &options).expect("write");
            let elapsed = start.elapsed().as_secs_f64();
            drop(scene);
            elapsed
        })
        .collect();
    median(&mut seconds)
}

/// Seconds to hand `count` 64 MiB payloads to a child through a fresh shared buffer each, up
/// to [`SLOTS`] in flight; `filled`: made with the payload in it (`create_unique_filled`),
/// otherwise `create_unique` then `write`.
fn fresh_buffer_handover(count: u64, filled: bool) -> f64 {
    let mut names = ring("buf-names", 1 << 16);
    let acks_name = support::segment_name("buf-acks");
    let mut child = spawn(&format!("buffer {} {acks_name} {count}", names.name()));
    let mut acks = ShmConsumer::open_timeout(&acks_name, TIMEOUT).expect("open the acks");
    let _pinned = support::pin(0);
    wait_for_consumer(&names);
    let source = vec![0x5Au8; PAYLOAD];
    let mut in_flight = VecDeque::new();
    let mut ack = [0u8; 8];
    let start = Instant::now();
    for _ in 0..count {
        if in_flight.len() == SLOTS as usize {
            spin_read(&mut acks, &mut ack);
            in_flight.pop_front();
        }
        let buffer = if filled {
            SharedBuffer::create_unique_filled(PAYLOAD as u64, &source).expect("create")
        } else {
            let mut buffer = SharedBuffer::create_unique(PAYLOAD as u64).expect("create");
            buffer.write(&source).expect("write");
            buffer
        };
        names
            .write(buffer.name().as_bytes(), TIMEOUT)
            .expect("send");
        in_flight.push_back(buffer);
    }
    while in_flight.pop_front().is_some() {
        spin_read(&mut acks, &mut ack);
    }
    let elapsed = start.elapsed().as_secs_f64();
    assert!(
        child.wait().expect("child").success(),
        "the buffer child failed"
    );
    elapsed
}

/// Round trips between this process and a child: acquire a slot, write 8 bytes, publish,
/// send the reference; the child resolves it, reads the 8 bytes, releases the slot and replies
/// with them.
fn pool_round_trips(rounds: usize) -> Vec<Duration> {
    let pool = BufferPool::create_unique(SLOTS, 64).expect("create the pool");
    let mut ping = ring("pool-ping", 1 << 16);
    let pong_name = support::segment_name("pool-pong");
    let mut child = spawn(&format!(
        "pool-echo {} {} {pong_name} {rounds}",
        pool.name(),
        ping.name()
    ));
    let mut pong = ShmConsumer::open_timeout(&pong_name, TIMEOUT).expect("open the pong ring");
    let _pinned = support::pin(0);
    wait_for_consumer(&ping);
    let mut buf = [0u8; 8];
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds as u64 {
        let start = Instant::now();
        let mut loan = pool.try_acquire().expect("a free slot");
        loan[..8].copy_from_slice(&round.to_le_bytes());
        let reference = loan.publish(8).expect("publish");
        ping.try_write(&reference.to_bytes()).expect("ping");
        spin_read(&mut pong, &mut buf);
        samples.push(start.elapsed());
        debug_assert_eq!(u64::from_le_bytes(buf), round);
    }
    assert!(
        child.wait().expect("child").success(),
        "the echo child failed"
    );
    samples
}

/// Round trips of an 8-byte message and its echo through two rings: the transport alone.
fn ring_round_trips(rounds: usize) -> Vec<Duration> {
    support::ring_ping_pong(rounds)
        .into_iter()
        .map(|half| half * 2)
        .collect()
}

/// The pool's calls alone, in one thread: acquire, write 8 bytes, publish, resolve, release.
fn pool_calls_in_one_thread(rounds: usize) -> Vec<Duration> {
    let pool = BufferPool::create_unique(SLOTS, 64).expect("create the pool");
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds as u64 {
        let start = Instant::now();
        let mut loan = pool.try_acquire().expect("a free slot");
        loan[..8].copy_from_slice(&round.to_le_bytes());
        let reference = loan.publish(8).expect("publish");
        let view = pool.resolve(&reference).expect("resolve");
        black_box(&view[..8]);
        drop(view);
        samples.push(start.elapsed());
    }
    samples
}

// ------------------------------------------------------------------ children

fn child_main() {
    let Ok(task) = std::env::var(CHILD) else {
        return;
    };
    let _pinned = support::pin(1);
    let words: Vec<&str> = task.split(' ').collect();
    match words.as_slice() {
        ["pool", pool, refs, count] => {
            let pool = BufferPool::open(pool).expect("open the pool");
            let mut refs = ShmConsumer::open_timeout(refs, TIMEOUT).expect("open the refs");
            let mut bytes = [0u8; PoolRef::LEN];
            for _ in 0..count.parse::<u64>().unwrap() {
                refs.read(TIMEOUT)
                    .expect("a reference")
                    .into_slice(&mut bytes)
                    .expect("64 bytes");
                let view = pool
                    .resolve(&PoolRef::from_bytes(&bytes).expect("a reference"))
                    .expect("resolve");
                black_box(fold(&view));
            }
        }
        ["buffer", names, acks, count] => {
            let mut names = ShmConsumer::open_timeout(names, TIMEOUT).expect("open the names");
            let mut acks = ProducerOptions::new()
                .unlink_on_drop(true)
                .create(acks, 1 << 16)
                .expect("create the acks");
            let mut name = [0u8; 64];
            for _ in 0..count.parse::<u64>().unwrap() {
                let len = names
                    .read(TIMEOUT)
                    .expect("a name")
                    .into_slice(&mut name)
                    .expect("a short name");
                let buffer =
                    SharedBuffer::open(std::str::from_utf8(&name[..len]).unwrap()).expect("open");
                // SAFETY: the writer never writes this buffer again: it drops it once told.
                black_box(fold(
                    &unsafe { buffer.read_in_place() }.expect("read in place"),
                ));
                drop(buffer);
                acks.write(&[1], TIMEOUT).expect("ack");
            }
            acks.wait_until_empty(TIMEOUT).expect("acks read");
        }
        ["pool-echo", pool, ping, pong, rounds] => {
            let pool = BufferPool::open(pool).expect("open the pool");
            let mut pong = ProducerOptions::new()
                .unlink_on_drop(true)
                .create(pong, 1 << 16)
                .expect("create the pong ring");
            let mut ping = ShmConsumer::open_timeout(ping, TIMEOUT).expect("open the ping ring");
            let mut bytes = [0u8; PoolRef::LEN];
            for _ in 0..rounds.parse::<usize>().unwrap() {
                spin_read(&mut ping, &mut bytes);
                let view = pool
                    .resolve(&PoolRef::from_bytes(&bytes).expect("a reference"))
                    .expect("resolve");
                let mut echo = [0u8; 8];
                echo.copy_from_slice(&view[..8]);
                drop(view);
                pong.try_write(&echo).expect("pong");
            }
            pong.wait_until_empty(TIMEOUT).expect("pongs read");
        }
        other => panic!("unknown child task {other:?}"),
    }
    std::process::exit(0);
}

// ------------------------------------------------------------------ report

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn spread(values: &[f64], unit: impl Fn(f64) -> String) -> String {
    let mut sorted = values.to_vec();
    let mid = median(&mut sorted);
    format!(
        "{} [{} – {}]",
        unit(mid),
        unit(sorted[0]),
        unit(*sorted.last().unwrap())
    )
}

fn micros(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e6
}

fn main() {
    support::child_main();
    child_main();
    let mut runs = 5;
    let mut python = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).expect("--runs N"),
            "--python" => python = true,
            other => panic!("unknown argument {other}; see the top of bench/src/bin/large.rs"),
        }
    }
    let gib = |seconds: f64| (COUNT * PAYLOAD as u64) as f64 / (1u64 << 30) as f64 / seconds;
    // The workloads take turns, one run each per round, so that drift on a shared machine
    // touches every figure alike.
    let (mut copy, mut pooled, mut fresh) = (Vec::new(), Vec::new(), Vec::new());
    let (mut filled, mut scene, mut scene_lz4) = (Vec::new(), Vec::new(), Vec::new());
    let one = |seconds: f64| PAYLOAD as f64 / (1u64 << 30) as f64 / seconds;
    let (mut fills, mut reads) = (Vec::new(), Vec::new());
    for run in 0..runs {
        eprintln!("throughput, run {} of {runs}...", run + 1);
        copy.push(gib(memcpy(COUNT)));
        pooled.push(gib(pool_handover(COUNT)));
        fresh.push(gib(fresh_buffer_handover(COUNT, false)));
        filled.push(gib(fresh_buffer_handover(COUNT, true)));
        scene.push(one(scene_write(3, false)));
        scene_lz4.push(one(scene_write(3, true)));
        let (fill, read) = pool_halves(COUNT);
        fills.push(gib(fill));
        reads.push(gib(read));
    }
    let (mut pool_rt, mut ring_rt, mut calls) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        eprintln!("round trips, run {} of {runs}...", run + 1);
        pool_rt.push(micros(&mut pool_round_trips(ROUNDS), 0.5));
        ring_rt.push(micros(&mut ring_round_trips(ROUNDS), 0.5));
        calls.push(micros(&mut pool_calls_in_one_thread(ROUNDS), 0.5));
    }
    let memcpy_median = median(&mut copy.clone());
    let ratio = |values: &[f64]| median(&mut values.to_vec()) / memcpy_median;
    let gibs = |v: f64| format!("{v:.2}");
    let us = |v: f64| format!("{v:.2}");
    println!("## Large payloads, 64 MiB, cross-process (Rust)\n");
    println!("| what | GiB/s | ratio to memcpy |");
    println!("|---|---|---|");
    println!(
        "| memcpy 64 MiB, single-thread | {} | 1.00× |",
        spread(&copy, gibs)
    );
    println!(
        "| BufferPool, 4 slots: fill in place → publish → resolve → read in place → release | {} | {:.2}× |",
        spread(&pooled, gibs),
        ratio(&pooled)
    );
    println!(
        "| a fresh SharedBuffer per payload: create → write → open → read in place → drop | {} | {:.2}× |",
        spread(&fresh, gibs),
        ratio(&fresh)
    );
    println!(
        "| a fresh SharedBuffer per payload, made with it: create_unique_filled → open → read in place → drop | {} | {:.2}× |",
        spread(&filled, gibs),
        ratio(&filled)
    );
    println!(
        "| SceneBuffer::write, 64 MiB, no compression (fresh segment, CRC-32), one thread | {} | {:.2}× |",
        spread(&scene, gibs),
        ratio(&scene)
    );
    println!(
        "| SceneBuffer::write, 64 MiB, LZ4, one thread | {} | {:.2}× |",
        spread(&scene_lz4, gibs),
        ratio(&scene_lz4)
    );
    println!(
        "| the writer's half alone: copy 64 MiB into a slot in place, one thread | {} | {:.2}× |",
        spread(&fills, gibs),
        ratio(&fills)
    );
    println!(
        "| the reader's half alone: read 64 MiB of a slot in place, one thread | {} | {:.2}× |",
        spread(&reads, gibs),
        ratio(&reads)
    );
    println!("\n## Pool round trip between two processes (Rust)\n");
    println!("| what | median µs per round trip |");
    println!("|---|---|");
    println!(
        "| pool: acquire → publish → ring → resolve → release → ring back | {} |",
        spread(&pool_rt, us)
    );
    println!(
        "| reference: the two ring hops alone (8-byte ping-pong) | {} |",
        spread(&ring_rt, us)
    );
    println!(
        "| the pool's calls alone, one thread: acquire → publish → resolve → release | {} |",
        spread(&calls, us)
    );
    if python {
        eprintln!("Python...");
        let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        let status = Command::new("python3")
            .arg(root.join("bench/python/large_payloads.py"))
            .args(["--runs", &runs.to_string()])
            .env("PYTHONPATH", root.join("interop/python"))
            .status()
            .expect("run python3");
        assert!(status.success(), "bench/python/large_payloads.py failed");
    }
}
