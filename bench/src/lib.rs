//! Workloads shared by the criterion benches (`benches/`) and the benchmark program
//! (`src/main.rs`): every measurement and its same-run references are defined once here.
//!
//! Cross-process workloads start the running executable again as the other process: a binary
//! that uses them calls [`child_main`] first thing in `main`.

use std::hint::black_box;
use std::mem::MaybeUninit;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use shm_ring::{PeerState, ProducerOptions, ShmConsumer, ShmProducer, TryReadError};

/// Message sizes measured: small, 1 KiB, 4 KiB and one 1080p RGB frame.
pub const SIZES: [usize; 4] = [64, 1024, 4096, 6_220_800];

/// Generous: only guards against a hang.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// The environment variable that makes a binary a child of these workloads.
const CHILD: &str = "SHM_RING_BENCH_CHILD";

/// Which API moves the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `write` / `read` + `into_slice`: one copy in, one copy out.
    Copy,
    /// `reserve` + `commit` / `read` + `as_slices` + `commit`: the payload is filled and
    /// inspected in place.
    ZeroCopy,
    /// `write_batch` / `read_batch`: indices published once per batch.
    Batch,
}

impl Api {
    pub const ALL: [Api; 3] = [Api::Copy, Api::ZeroCopy, Api::Batch];

    pub fn name(self) -> &'static str {
        match self {
            Api::Copy => "copy",
            Api::ZeroCopy => "zero-copy",
            Api::Batch => "batch",
        }
    }

    fn parse(name: &str) -> Api {
        Api::ALL
            .into_iter()
            .find(|api| api.name() == name)
            .unwrap_or_else(|| panic!("unknown API {name}"))
    }
}

/// Ring capacity used for a message size: 1 MiB, or 32 MiB for frames (five fit).
pub fn capacity_for(size: usize) -> usize {
    if size > 1 << 20 {
        32 << 20
    } else {
        1 << 20
    }
}

/// Messages per run: about 512 MiB of payload, at most 2 million messages (runs of tens of
/// milliseconds: shorter ones scatter widely on a shared machine).
pub fn count_for(size: usize) -> u64 {
    ((512u64 << 20) / size as u64).clamp(50, 2_000_000)
}

/// Messages written per batch call.
const BATCH: usize = 256;

/// Pins the calling thread to the `index`-th CPU it may run on (modulo their number), so that
/// the two sides of a workload run on two cores and the scheduler never puts them on one.
/// The returned guard gives the thread back its previous CPUs when dropped: threads and child
/// processes started later inherit the CPUs of the thread that starts them, and must not all
/// inherit one.
///
/// Only Linux lets a thread choose its CPUs; elsewhere (macOS has affinity hints only) this
/// does nothing, and the two sides run wherever the scheduler puts them.
#[must_use = "the thread is unpinned when the guard is dropped"]
#[cfg(target_os = "linux")]
pub fn pin(index: usize) -> Pinned {
    use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};
    let Ok(allowed) = sched_getaffinity(None) else {
        return Pinned(None);
    };
    let cpus: Vec<usize> = (0..CpuSet::MAX_CPU)
        .filter(|&cpu| allowed.is_set(cpu))
        .collect();
    if cpus.is_empty() {
        return Pinned(None);
    }
    let mut only = CpuSet::new();
    only.set(cpus[index % cpus.len()]);
    match sched_setaffinity(None, &only) {
        Ok(()) => Pinned(Some(allowed)),
        Err(_) => Pinned(None),
    }
}

/// See the Linux [`pin`]: without CPU affinity, the thread stays where it is.
#[must_use = "the thread is unpinned when the guard is dropped"]
#[cfg(not(target_os = "linux"))]
pub fn pin(_index: usize) -> Pinned {
    Pinned(None)
}

/// A thread pinned by [`pin`]; dropping it restores the CPUs the thread had before.
#[cfg(target_os = "linux")]
pub struct Pinned(Option<rustix::thread::CpuSet>);

/// A thread [`pin`] left where it was: there is nothing to restore.
#[cfg(not(target_os = "linux"))]
pub struct Pinned(Option<std::convert::Infallible>);

#[cfg(target_os = "linux")]
impl Drop for Pinned {
    fn drop(&mut self) {
        if let Some(allowed) = &self.0 {
            let _ = rustix::thread::sched_setaffinity(None, allowed);
        }
    }
}

/// Runs `f` on a new thread pinned to the `index`-th CPU.
fn pinned<T: Send + 'static>(
    index: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    thread::spawn(move || {
        let _pinned = pin(index);
        f()
    })
}

/// A unique segment name for this process.
pub fn segment_name(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "bench-{}-{tag}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A producer that removes its segment when dropped.
fn producer(tag: &str, size: usize) -> ShmProducer {
    ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&segment_name(tag), capacity_for(size))
        .expect("create the bench segment")
}

/// Writes `count` messages of `payload` with `api`.
fn produce(producer: &mut ShmProducer, api: Api, payload: &[u8], count: u64) {
    match api {
        Api::Copy => {
            for _ in 0..count {
                producer.write(payload, TIMEOUT).expect("write");
            }
        }
        Api::ZeroCopy => {
            for _ in 0..count {
                let mut grant = producer.reserve(payload.len(), TIMEOUT).expect("reserve");
                grant.copy_from_slice(payload);
                grant.commit();
            }
        }
        Api::Batch => {
            let batch = vec![payload; BATCH];
            let mut left = count as usize;
            while left > 0 {
                let mut sent = 0;
                let now = left.min(BATCH);
                while sent < now {
                    sent += producer
                        .write_batch(&batch[sent..now], TIMEOUT)
                        .expect("write_batch");
                }
                left -= now;
            }
        }
    }
}

/// Reads `count` messages with `api`, touching each as its API allows.
fn consume(consumer: &mut ShmConsumer, api: Api, count: u64) {
    match api {
        Api::Copy => {
            let mut buf = Vec::new();
            for _ in 0..count {
                let message = consumer.read(TIMEOUT).expect("read");
                buf.resize(message.len(), 0);
                message.into_slice(&mut buf).expect("into_slice");
                black_box(&buf);
            }
        }
        Api::ZeroCopy => {
            for _ in 0..count {
                let message = consumer.read(TIMEOUT).expect("read");
                let (first, second) = message.as_slices();
                black_box((first.first(), second.len()));
                message.commit();
            }
        }
        Api::Batch => {
            let mut left = count;
            while left > 0 {
                let max = left.min(BATCH as u64) as usize;
                left -= consumer
                    .read_batch(max, TIMEOUT, |msg| {
                        black_box(msg.first());
                    })
                    .expect("read_batch") as u64;
            }
        }
    }
}

/// One thread writes until the ring is full, then reads everything back, over and over:
/// the cost of the calls themselves, without a second core.
pub fn single_thread(api: Api, size: usize, count: u64) -> Duration {
    let payload = vec![0xA5u8; size];
    let mut producer = producer("single", size);
    let mut consumer = ShmConsumer::open(producer.name()).expect("open");
    let per_fill = (capacity_for(size) / (size + 4)).max(1) as u64;
    let start = Instant::now();
    let mut left = count;
    while left > 0 {
        let now = left.min(per_fill);
        produce(&mut producer, api, &payload, now);
        consume(&mut consumer, api, now);
        left -= now;
    }
    start.elapsed()
}

/// A producer thread and a consumer thread on one segment, with the blocking calls.
pub fn cross_thread(api: Api, size: usize, count: u64) -> Duration {
    let payload = vec![0xA5u8; size];
    let mut producer = producer("thread", size);
    let mut consumer = ShmConsumer::open(producer.name()).expect("open");
    let start = Instant::now();
    let writer = pinned(0, move || {
        produce(&mut producer, api, &payload, count);
        producer
    });
    let reader = pinned(1, move || consume(&mut consumer, api, count));
    reader.join().expect("consumer thread");
    let elapsed = start.elapsed();
    drop(writer.join().expect("producer thread"));
    elapsed
}

/// The non-blocking write path alone: `try_write` and `try_read` + `into_slice` spinning on two
/// threads (no call ever sleeps), 64-byte messages.
pub fn spinning_write_path(count: u64) -> Duration {
    let payload = [0xA5u8; 64];
    let mut producer = producer("spin", 64);
    let mut consumer = ShmConsumer::open(producer.name()).expect("open");
    let start = Instant::now();
    let reader = pinned(1, move || {
        let mut buf = [0u8; 64];
        let mut got = 0;
        while got < count {
            match consumer.try_read() {
                Ok(message) => {
                    message.into_slice(&mut buf).expect("into_slice");
                    got += 1;
                }
                Err(TryReadError::Empty) => std::hint::spin_loop(),
                Err(e) => panic!("read: {e}"),
            }
        }
    });
    let writer = pinned(0, move || {
        let mut sent = 0;
        while sent < count {
            if producer.try_write(&payload).is_ok() {
                sent += 1;
            } else {
                std::hint::spin_loop();
            }
        }
        producer
    });
    reader.join().expect("reader");
    let elapsed = start.elapsed();
    drop(writer.join().expect("writer"));
    elapsed
}

/// The reference ring: rtrb between two threads, carrying the same `[u32 len][payload]`
/// bytes with its chunk API, through a ring of the same capacity. With `batch`, the consumer
/// takes every complete record available in one chunk, as our batch read does.
pub fn rtrb_cross_thread(batch: bool, size: usize, count: u64) -> Duration {
    let payload = vec![0xA5u8; size];
    let (mut tx, mut rx) = rtrb::RingBuffer::<u8>::new(capacity_for(size));
    // One pass over the whole buffer before timing, so its pages are mapped in, as a
    // segment's are by `create`: both rings are measured in their steady state.
    let capacity = tx.buffer().capacity();
    tx.write_chunk(capacity).expect("empty ring").commit_all();
    rx.read_chunk(capacity).expect("full ring").commit_all();
    let start = Instant::now();
    let reader = pinned(1, move || {
        let mut buf = vec![0u8; size];
        let mut got = 0;
        while got < count {
            let available = rx.slots();
            if available < 4 {
                std::hint::spin_loop();
                continue;
            }
            let take = if batch { available } else { 4 + size };
            let Ok(chunk) = rx.read_chunk(take.min(available)) else {
                std::hint::spin_loop();
                continue;
            };
            // Walk the records in the chunk, copying each payload out.
            let (a, b) = chunk.as_slices();
            let mut at = 0;
            let whole = a.len() + b.len();
            let byte = |i: usize| if i < a.len() { a[i] } else { b[i - a.len()] };
            while whole - at >= 4 {
                let len = u32::from_le_bytes([byte(at), byte(at + 1), byte(at + 2), byte(at + 3)])
                    as usize;
                if whole - at < 4 + len {
                    break;
                }
                let from = at + 4;
                if from + len <= a.len() {
                    buf[..len].copy_from_slice(&a[from..from + len]);
                } else if from >= a.len() {
                    buf[..len].copy_from_slice(&b[from - a.len()..from - a.len() + len]);
                } else {
                    let split = a.len() - from;
                    buf[..split].copy_from_slice(&a[from..]);
                    buf[split..len].copy_from_slice(&b[..len - split]);
                }
                black_box(&buf);
                at += 4 + len;
                got += 1;
            }
            chunk.commit(at);
        }
    });
    let prefix = (size as u32).to_le_bytes();
    let _pinned = pin(0);
    for _ in 0..count {
        let mut chunk = loop {
            match tx.write_chunk_uninit(4 + size) {
                Ok(chunk) => break chunk,
                Err(_) => std::hint::spin_loop(),
            }
        };
        let (first, second) = chunk.as_mut_slices();
        let split = first.len();
        fill(first, 0, &prefix, &payload);
        fill(second, split, &prefix, &payload);
        // SAFETY: `fill` wrote every slot of both slices (together exactly the `4 + size`
        // bytes of the record), so every slot committed is initialised.
        unsafe { chunk.commit_all() };
    }
    reader.join().expect("rtrb consumer");
    start.elapsed()
}

/// Writes bytes `at .. at + slots.len()` of the record `prefix ++ payload` into `slots`, a
/// contiguous run at a time.
fn fill(slots: &mut [MaybeUninit<u8>], at: usize, prefix: &[u8], payload: &[u8]) {
    let mut done = 0;
    while done < slots.len() {
        let position = at + done;
        let (part, from) = if position < prefix.len() {
            (prefix, position)
        } else {
            (payload, position - prefix.len())
        };
        let n = (part.len() - from).min(slots.len() - done);
        // A plain loop the compiler turns into a memcpy.
        for (slot, &byte) in slots[done..done + n].iter_mut().zip(&part[from..from + n]) {
            slot.write(byte);
        }
        done += n;
    }
}

/// Single-thread `memcpy` of `count` payloads of `size` bytes, walking through two buffers as
/// large as the ring that carries that size (the same working set): the limit for moving
/// large messages.
pub fn memcpy(size: usize, count: u64) -> Duration {
    let span = capacity_for(size).max(size * 2);
    // Both buffers are written before timing (a zeroed allocation would map its pages on
    // first touch), so the figure is copying alone.
    let source = vec![0x5Au8; span];
    let mut target = vec![0xA5u8; span];
    let slots = span / size;
    let start = Instant::now();
    for i in 0..count as usize {
        let at = (i % slots) * size;
        target[at..at + size].copy_from_slice(&source[at..at + size]);
        black_box(&target[at]);
    }
    start.elapsed()
}

/// Half round trips of a raw ping-pong on one `AtomicU32` between two threads: the limit for
/// one-way latency between two cores.
pub fn atomic_ping_pong(rounds: usize) -> Vec<Duration> {
    let word = Arc::new(CachePadded::new(AtomicU32::new(0)));
    let echo = word.clone();
    let rounds_u32 = rounds as u32;
    let ponger = pinned(1, move || {
        for k in 0..rounds_u32 {
            while echo.load(Ordering::Acquire) != 2 * k + 1 {
                std::hint::spin_loop();
            }
            echo.store(2 * k + 2, Ordering::Release);
        }
    });
    let _pinned = pin(0);
    let mut samples = Vec::with_capacity(rounds);
    for k in 0..rounds_u32 {
        let start = Instant::now();
        word.store(2 * k + 1, Ordering::Release);
        while word.load(Ordering::Acquire) != 2 * k + 2 {
            std::hint::spin_loop();
        }
        samples.push(start.elapsed() / 2);
    }
    ponger.join().expect("ponger");
    samples
}

/// Starts this executable again as a child doing `task`.
fn spawn_child(task: &str) -> Child {
    Command::new(std::env::current_exe().expect("own path"))
        .env(CHILD, task)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the child process")
}

/// Waits until a consumer has attached to `producer`'s ring.
fn wait_for_consumer(producer: &ShmProducer) {
    let start = Instant::now();
    while producer.peer_state() != PeerState::Alive {
        assert!(
            start.elapsed() < TIMEOUT,
            "the child consumer never attached"
        );
        thread::sleep(Duration::from_micros(100));
    }
}

/// The producer here, the consumer in a child process; timed from the first write until the
/// consumer has read the last message.
pub fn cross_process(api: Api, size: usize, count: u64) -> Duration {
    let payload = vec![0xA5u8; size];
    let mut producer = producer("process", size);
    let mut child = spawn_child(&format!(
        "consume {} {} {count}",
        api.name(),
        producer.name()
    ));
    let _pinned = pin(0);
    wait_for_consumer(&producer);
    let start = Instant::now();
    produce(&mut producer, api, &payload, count);
    producer
        .wait_until_empty(TIMEOUT)
        .expect("the consumer drains");
    let elapsed = start.elapsed();
    assert!(
        child.wait().expect("child").success(),
        "the child consumer failed"
    );
    elapsed
}

/// One-way latencies (half round trips) of 8-byte messages between this process and an
/// echoing child, both polling with the non-blocking calls.
pub fn ring_ping_pong(rounds: usize) -> Vec<Duration> {
    let mut ping = producer("ping", 64);
    let pong_name = segment_name("pong");
    let mut child = spawn_child(&format!("echo {} {pong_name}", ping.name()));
    let mut pong = ShmConsumer::open_timeout(&pong_name, TIMEOUT).expect("open the echo ring");
    let _pinned = pin(0);
    wait_for_consumer(&ping);
    let mut buf = [0u8; 8];
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds as u64 {
        let start = Instant::now();
        ping.try_write(&round.to_le_bytes()).expect("ping");
        loop {
            match pong.try_read() {
                Ok(message) => {
                    message.into_slice(&mut buf).expect("pong");
                    break;
                }
                Err(TryReadError::Empty) => std::hint::spin_loop(),
                Err(e) => panic!("pong: {e}"),
            };
        }
        samples.push(start.elapsed() / 2);
        debug_assert_eq!(u64::from_le_bytes(buf), round);
    }
    ping.try_write(&[0xFF]).expect("stop");
    assert!(
        child.wait().expect("child").success(),
        "the echo child failed"
    );
    samples
}

/// `CLOCK_MONOTONIC` in nanoseconds: one clock for every process on the machine.
fn monotonic_ns() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// How long a consumer asleep in a blocking `read` takes to get a message: a child process
/// blocks in `read`; this process waits `idle` (long enough for it to be asleep in the
/// kernel), writes the time, and the child reports when it woke.
pub fn wake_latency(samples: usize, idle: Duration) -> Vec<Duration> {
    let mut producer = producer("wake", 64);
    let mut child = spawn_child(&format!("wake {} {samples}", producer.name()));
    let _pinned = pin(0);
    wait_for_consumer(&producer);
    for _ in 0..samples {
        thread::sleep(idle);
        producer
            .write(&monotonic_ns().to_ne_bytes(), TIMEOUT)
            .expect("write the time");
    }
    let output = child_output(&mut child);
    output
        .lines()
        .map(|line| Duration::from_nanos(line.parse().expect("latency")))
        .collect()
}

/// The reference for [`wake_latency`]: how long a thread asleep in a bare `FUTEX_WAIT` (shared,
/// like the ring's) takes to run again after another thread, on the other core, changes the
/// word and calls `FUTEX_WAKE`, after the same idle time. What the kernel and the machine
/// allow, with no ring around it. Linux only: futexes are Linux's.
#[cfg(target_os = "linux")]
pub fn raw_futex_wake(samples: usize, idle: Duration) -> Vec<Duration> {
    use rustix::thread::futex;
    let word = Arc::new(CachePadded::new(AtomicU32::new(0)));
    let sent = Arc::new(CachePadded::new(AtomicU64::new(0)));
    let (w, s) = (word.clone(), sent.clone());
    let sleeper = pinned(1, move || {
        let mut latencies = Vec::with_capacity(samples);
        for k in 0..samples as u32 {
            while w.load(Ordering::Acquire) == k {
                let _ = futex::wait(&w, futex::Flags::empty(), k, None);
            }
            latencies.push(Duration::from_nanos(
                monotonic_ns().saturating_sub(s.load(Ordering::Acquire)),
            ));
        }
        latencies
    });
    let _pinned = pin(0);
    for k in 0..samples as u32 {
        thread::sleep(idle);
        sent.store(monotonic_ns(), Ordering::Release);
        word.store(k + 1, Ordering::Release);
        let _ = futex::wake(&word, futex::Flags::empty(), 1);
    }
    sleeper.join().expect("sleeper")
}

/// The share of one core a consumer uses while blocked in `read` for `span` with nothing to
/// read (its producer, one of ours, alive but silent).
pub fn idle_cpu(span: Duration) -> f64 {
    use rustix::time::{clock_gettime, ClockId};
    let producer = producer("idle", 64);
    let mut consumer = ShmConsumer::open(producer.name()).expect("open");
    let reader = thread::spawn(move || {
        let cpu = |t: rustix::time::Timespec| t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9;
        let before = cpu(clock_gettime(ClockId::ThreadCPUTime));
        let wall = Instant::now();
        let outcome = consumer.read(span);
        assert!(outcome.is_err(), "nothing was written");
        (cpu(clock_gettime(ClockId::ThreadCPUTime)) - before) / wall.elapsed().as_secs_f64()
    });
    let share = reader.join().expect("reader");
    drop(producer);
    share
}

fn child_output(child: &mut Child) -> String {
    use std::io::Read;
    let mut text = String::new();
    child
        .stdout
        .take()
        .expect("child stdout")
        .read_to_string(&mut text)
        .expect("read the child's output");
    assert!(child.wait().expect("child").success(), "the child failed");
    text
}

/// Runs the child side of a workload if this process is such a child, and then exits.
/// Call it first thing in `main`.
pub fn child_main() {
    let Ok(task) = std::env::var(CHILD) else {
        return;
    };
    let _pinned = pin(1);
    let words: Vec<&str> = task.split(' ').collect();
    match words.as_slice() {
        ["consume", api, name, count] => {
            let mut consumer = ShmConsumer::open_timeout(name, TIMEOUT).expect("open");
            consume(
                &mut consumer,
                Api::parse(api),
                count.parse().expect("count"),
            );
        }
        ["echo", ping, pong] => {
            let mut pong = ProducerOptions::new()
                .unlink_on_drop(true)
                .create(pong, 1 << 16)
                .expect("create the echo ring");
            let mut ping = ShmConsumer::open_timeout(ping, TIMEOUT).expect("open");
            let mut buf = [0u8; 8];
            loop {
                match ping.try_read().map(|message| message.into_slice(&mut buf)) {
                    Ok(Ok(1)) => break,
                    Ok(Ok(n)) => pong.try_write(&buf[..n]).expect("pong"),
                    Ok(Err(e)) => panic!("ping: {e}"),
                    Err(TryReadError::Empty) => std::hint::spin_loop(),
                    Err(e) => panic!("ping: {e}"),
                }
            }
            // Keep the echo ring until the parent has read the last pong.
            pong.wait_until_empty(TIMEOUT).expect("drained");
        }
        ["wake", name, samples] => {
            let mut consumer = ShmConsumer::open_timeout(name, TIMEOUT).expect("open");
            let mut out = String::new();
            for _ in 0..samples.parse::<usize>().expect("samples") {
                let sent: u64 = consumer
                    .read(TIMEOUT)
                    .expect("read the time")
                    .into_value()
                    .expect("a u64");
                let woke = monotonic_ns();
                out.push_str(&format!("{}\n", woke.saturating_sub(sent)));
            }
            print!("{out}");
        }
        other => panic!("unknown child task {other:?}"),
    }
    std::process::exit(0);
}

/// Bytes of one 1080p RGBA frame (1920 × 1080 × 4).
pub const FRAME_RGBA: usize = 1920 * 1080 * 4;

/// `count` 1080p RGBA frames from a producer thread to a consumer thread, each frame copied
/// into shared memory in place and its first byte read in place on the other side.
///
/// With `pooled`, through a [`LargeSender`](shm_ring::LargeSender) and
/// [`LargeReceiver`](shm_ring::LargeReceiver): a 64 KiB ring carries 72-byte references and
/// the frames go into a pool of 4 slots (`loan`, fill, `commit`; the guard's drop releases the
/// slot). Without, the ring alone with its zero-copy calls (`reserve`, fill, `commit`; `read`,
/// `as_slices`, `commit`) in a 32 MiB ring, which holds the same 4 frames.
pub fn frames_cross_thread(pooled: bool, count: u64) -> Duration {
    let payload = vec![0xA5u8; FRAME_RGBA];
    if !pooled {
        let mut producer = producer("frames", FRAME_RGBA);
        let mut consumer = ShmConsumer::open(producer.name()).expect("open");
        let start = Instant::now();
        let writer = pinned(0, move || {
            produce(&mut producer, Api::ZeroCopy, &payload, count);
            producer
        });
        let reader = pinned(1, move || consume(&mut consumer, Api::ZeroCopy, count));
        reader.join().expect("consumer thread");
        let elapsed = start.elapsed();
        drop(writer.join().expect("producer thread"));
        return elapsed;
    }
    let producer = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&segment_name("large"), 64 << 10)
        .expect("create the bench ring");
    let name = producer.name().to_owned();
    let pool = shm_ring::BufferPool::create_unique(4, FRAME_RGBA as u64).expect("create the pool");
    let mut sender = shm_ring::LargeSender::new(producer, pool).expect("sender");
    let receiver =
        shm_ring::LargeReceiver::new(ShmConsumer::open(&name).expect("open")).expect("receiver");
    let start = Instant::now();
    let writer = pinned(0, move || {
        for _ in 0..count {
            let mut loan = sender.loan(TIMEOUT).expect("loan");
            loan[..FRAME_RGBA].copy_from_slice(&payload);
            loan.commit(FRAME_RGBA).expect("commit");
        }
        sender
    });
    let reader = pinned(1, move || {
        for _ in 0..count {
            let frame = receiver.recv(TIMEOUT).expect("recv");
            black_box(frame.first());
        }
        receiver
    });
    let receiver = reader.join().expect("consumer thread");
    let elapsed = start.elapsed();
    drop(writer.join().expect("producer thread"));
    drop(receiver);
    elapsed
}
