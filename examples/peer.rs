//! The conformance peer: a producer or consumer of the conformance stream.
//!
//! ```text
//! cargo run --release --example peer -- producer|consumer --name NAME --count N
//!     (--size S | --min-size A --max-size B) [--capacity BYTES] [--timeout-ms T]
//!     [--no-verify] [--start-index I] [--zero-copy] [--batch]
//! ```
//!
//! Message `i` has length `L(i)` (`S`, or `A + ((i * 2654435761) mod 2^32) mod (B - A + 1)`)
//! and byte `j` equal to `(i * 7 + j) % 251`. The producer creates the segment (capacity
//! default 1 MiB, indices starting at `--start-index`), writes every message, waits until the
//! consumer has read them all and removes the segment (also when it fails). The consumer waits for the segment,
//! reads and checks every message. `--timeout-ms` (default 60000) bounds each single wait.
//! `--zero-copy` fills and inspects messages in place; `--batch` publishes once per batch
//! (and wins where both are given).
//!
//! On success each prints one line:
//! `{"role":"consumer","messages":N,"bytes":B,"seconds":S,"msgs_per_sec":R}` and exits 0;
//! on failure it prints one line on stderr naming the message and what went wrong, and exits 1.
//! `--help` prints the usage line and exits 0.
//! The Python module and C++ header in `interop/` ship the same program.

use std::fmt::Display;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use shm_ring::{
    ProducerOptions, ReadTimeoutError, ShmConsumer, WaitTimeoutError, WriteTimeoutError,
};

/// Messages handed to one batch call.
const BATCH: usize = 1024;

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Producer,
    Consumer,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
        }
    }
}

enum Mode {
    Copy,
    ZeroCopy,
    Batch,
}

/// The stream's message lengths.
#[derive(Clone, Copy)]
enum Sizes {
    Fixed(usize),
    Range(usize, usize),
}

impl Sizes {
    fn len(self, i: u64) -> usize {
        match self {
            Sizes::Fixed(size) => size,
            Sizes::Range(min, max) => {
                let spread = (i as u32).wrapping_mul(2_654_435_761) as u64;
                min + (spread % (max - min + 1) as u64) as usize
            }
        }
    }

    fn max(self) -> usize {
        match self {
            Sizes::Fixed(size) => size,
            Sizes::Range(_, max) => max,
        }
    }
}

struct Args {
    role: Role,
    name: String,
    count: u64,
    sizes: Sizes,
    capacity: usize,
    timeout: Duration,
    verify: bool,
    start_index: u32,
    mode: Mode,
}

/// The conformance stream: every message is a window of one precomputed pattern.
struct Stream {
    sizes: Sizes,
    /// `pattern[k] == k % 251`, long enough for any window.
    pattern: Vec<u8>,
}

impl Stream {
    fn new(sizes: Sizes) -> Stream {
        let pattern = (0..251 + sizes.max()).map(|k| (k % 251) as u8).collect();
        Stream { sizes, pattern }
    }

    fn message(&self, i: u64) -> &[u8] {
        let offset = ((i % 251) * 7 % 251) as usize;
        &self.pattern[offset..offset + self.sizes.len(i)]
    }

    /// Checks message `i`, received as `first` followed by `second`.
    fn check(&self, i: u64, first: &[u8], second: &[u8], verify: bool) -> Result<(), String> {
        let want = self.message(i);
        let got = first.len() + second.len();
        if got != want.len() {
            return Err(format!("length {got}, expected {}", want.len()));
        }
        if verify {
            let (want_first, want_second) = want.split_at(first.len());
            if first != want_first || second != want_second {
                let (j, byte) = first
                    .iter()
                    .chain(second)
                    .enumerate()
                    .find(|&(j, &byte)| byte != want[j])
                    .expect("a differing byte");
                return Err(format!(
                    "byte {j} is {byte:#04x}, expected {:#04x}",
                    want[j]
                ));
            }
        }
        Ok(())
    }
}

/// A failure: the message it concerns, if any, and what went wrong.
struct Failure {
    message: Option<u64>,
    what: String,
}

fn fail(what: impl Display) -> Failure {
    Failure {
        message: None,
        what: what.to_string(),
    }
}

fn fail_at(i: u64, what: impl Display) -> Failure {
    Failure {
        message: Some(i),
        what: what.to_string(),
    }
}

/// The command line, printed by `--help` (and on stderr, as a failure, without a role).
const USAGE: &str = "usage: peer producer|consumer --name NAME --count N (--size S | --min-size A --max-size B) [--capacity BYTES] [--timeout-ms T] [--no-verify] [--start-index I] [--zero-copy] [--batch]";

fn parse(args: &[String]) -> Result<Args, Failure> {
    let role = match args.first().map(String::as_str) {
        Some("producer") => Role::Producer,
        Some("consumer") => Role::Consumer,
        _ => return Err(fail(USAGE)),
    };
    let mut values: Vec<(&str, &str)> = Vec::new();
    let mut flags: Vec<&str> = Vec::new();
    let mut rest = args[1..].iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            flag @ ("--no-verify" | "--zero-copy" | "--batch") => flags.push(flag),
            key @ ("--name" | "--count" | "--size" | "--min-size" | "--max-size" | "--capacity"
            | "--timeout-ms" | "--start-index") => {
                let value = rest
                    .next()
                    .ok_or_else(|| fail(format!("{key} needs a value")))?;
                if values.iter().any(|(k, _)| *k == key) {
                    return Err(fail(format!("{key} given twice")));
                }
                values.push((key, value));
            }
            other => return Err(fail(format!("unknown argument {other:?}"))),
        }
    }
    let text = |key: &str| values.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    fn number<T: std::str::FromStr>(key: &str, value: Option<&str>) -> Result<Option<T>, Failure> {
        value
            .map(|v| {
                v.parse()
                    .map_err(|_| fail(format!("{key} {v:?} is not a valid number")))
            })
            .transpose()
    }
    let name = text("--name")
        .ok_or_else(|| fail("--name is required"))?
        .to_owned();
    let count = number("--count", text("--count"))?.ok_or_else(|| fail("--count is required"))?;
    let sizes = match (
        number::<usize>("--size", text("--size"))?,
        number::<usize>("--min-size", text("--min-size"))?,
        number::<usize>("--max-size", text("--max-size"))?,
    ) {
        (Some(size), None, None) => Sizes::Fixed(size),
        (None, Some(min), Some(max)) if min <= max => Sizes::Range(min, max),
        (None, Some(min), Some(max)) => {
            return Err(fail(format!("--min-size {min} is above --max-size {max}")))
        }
        _ => {
            return Err(fail(
                "give either --size, or both --min-size and --max-size",
            ))
        }
    };
    Ok(Args {
        role,
        name,
        count,
        sizes,
        capacity: number("--capacity", text("--capacity"))?.unwrap_or(1 << 20),
        timeout: Duration::from_millis(
            number("--timeout-ms", text("--timeout-ms"))?.unwrap_or(60_000),
        ),
        verify: !flags.contains(&"--no-verify"),
        start_index: number("--start-index", text("--start-index"))?.unwrap_or(0),
        mode: if flags.contains(&"--batch") {
            Mode::Batch
        } else if flags.contains(&"--zero-copy") {
            Mode::ZeroCopy
        } else {
            Mode::Copy
        },
    })
}

/// What a run reports: messages, payload bytes and seconds.
struct Report {
    messages: u64,
    bytes: u64,
    seconds: f64,
}

fn produce(args: &Args) -> Result<Report, Failure> {
    let stream = Stream::new(args.sizes);
    // The segment is removed however the run ends, once the producer is dropped.
    let mut producer = ProducerOptions::new()
        .start_index(args.start_index)
        .unlink_on_drop(true)
        .create(&args.name, args.capacity)
        .map_err(|e| fail(format!("cannot create the segment: {e}")))?;
    let timeout_ms = args.timeout.as_millis();
    let explain = |i: u64, e: WriteTimeoutError| match e {
        WriteTimeoutError::Timeout => fail_at(
            i,
            format!("timed out after {timeout_ms} ms waiting for space"),
        ),
        e => fail_at(i, e),
    };
    let mut bytes = 0u64;
    let start = Instant::now();
    match args.mode {
        Mode::Copy => {
            for i in 0..args.count {
                let message = stream.message(i);
                producer
                    .write(message, args.timeout)
                    .map_err(|e| explain(i, e))?;
                bytes += message.len() as u64;
            }
        }
        Mode::ZeroCopy => {
            for i in 0..args.count {
                let message = stream.message(i);
                let mut grant = producer
                    .reserve(message.len(), args.timeout)
                    .map_err(|e| explain(i, e))?;
                grant.copy_from_slice(message);
                grant.commit();
                bytes += message.len() as u64;
            }
        }
        Mode::Batch => {
            let mut i = 0;
            let mut window: Vec<&[u8]> = Vec::with_capacity(BATCH);
            while i < args.count {
                window.clear();
                window.extend((i..args.count.min(i + BATCH as u64)).map(|k| stream.message(k)));
                let mut sent = 0;
                while sent < window.len() {
                    let n = producer
                        .write_batch(&window[sent..], args.timeout)
                        .map_err(|e| explain(i + sent as u64, e))?;
                    bytes += window[sent..sent + n]
                        .iter()
                        .map(|m| m.len() as u64)
                        .sum::<u64>();
                    sent += n;
                }
                i += window.len() as u64;
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    producer
        .wait_until_empty(args.timeout)
        .map_err(|e| match e {
            WaitTimeoutError::Timeout => fail(format!(
                "timed out after {timeout_ms} ms waiting for the consumer to read everything"
            )),
            e => fail(format!("{e} before reading everything")),
        })?;
    Ok(Report {
        messages: args.count,
        bytes,
        seconds,
    })
}

fn consume(args: &Args) -> Result<Report, Failure> {
    let stream = Stream::new(args.sizes);
    let mut consumer = ShmConsumer::open_timeout(&args.name, args.timeout)
        .map_err(|e| fail(format!("cannot open the segment: {e}")))?;
    let timeout_ms = args.timeout.as_millis();
    let explain = |i: u64, e: ReadTimeoutError| match e {
        ReadTimeoutError::Timeout => {
            fail_at(i, format!("timed out after {timeout_ms} ms waiting for it"))
        }
        e => fail_at(i, e),
    };
    let verify = args.verify;
    let mut bytes = 0u64;
    let mut start = None;
    let mut i = 0;
    match args.mode {
        Mode::Copy => {
            let mut buf = Vec::with_capacity(args.sizes.max());
            while i < args.count {
                let message = consumer.read(args.timeout).map_err(|e| explain(i, e))?;
                start.get_or_insert_with(Instant::now);
                buf.resize(message.len(), 0);
                message
                    .into_slice(&mut buf)
                    .expect("the buffer was sized to the message");
                stream
                    .check(i, &buf, &[], verify)
                    .map_err(|e| fail_at(i, e))?;
                bytes += buf.len() as u64;
                i += 1;
            }
        }
        Mode::ZeroCopy => {
            while i < args.count {
                let message = consumer.read(args.timeout).map_err(|e| explain(i, e))?;
                start.get_or_insert_with(Instant::now);
                let (first, second) = message.as_slices();
                stream
                    .check(i, first, second, verify)
                    .map_err(|e| fail_at(i, e))?;
                bytes += message.len() as u64;
                message.commit();
                i += 1;
            }
        }
        Mode::Batch => {
            let mut bad = None;
            while i < args.count && bad.is_none() {
                let max = (args.count - i).min(BATCH as u64) as usize;
                consumer
                    .read_batch(max, args.timeout, |msg| {
                        start.get_or_insert_with(Instant::now);
                        if bad.is_none() {
                            match stream.check(i, msg, &[], verify) {
                                Ok(()) => {
                                    bytes += msg.len() as u64;
                                    i += 1;
                                }
                                Err(e) => bad = Some(fail_at(i, e)),
                            }
                        }
                    })
                    .map_err(|e| explain(i, e))?;
            }
            if let Some(failure) = bad {
                return Err(failure);
            }
        }
    }
    Ok(Report {
        messages: args.count,
        bytes,
        seconds: start.map_or(0.0, |t| t.elapsed().as_secs_f64()),
    })
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if matches!(argv.first().map(String::as_str), Some("--help" | "-h")) {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    // Failures name the role; before the role is known, the program.
    let mut who = argv
        .first()
        .map(String::as_str)
        .filter(|role| matches!(*role, "producer" | "consumer"))
        .unwrap_or("peer");
    let result = parse(&argv).and_then(|args| {
        who = args.role.as_str();
        match args.role {
            Role::Producer => produce(&args),
            Role::Consumer => consume(&args),
        }
    });
    match result {
        Ok(report) => {
            // The rate is computed from the seconds as printed, so the line is consistent.
            let seconds = (report.seconds * 1e6).round() / 1e6;
            let rate = if seconds > 0.0 {
                report.messages as f64 / seconds
            } else {
                0.0
            };
            println!(
                "{{\"role\":\"{who}\",\"messages\":{},\"bytes\":{},\"seconds\":{:.6},\"msgs_per_sec\":{:.1}}}",
                report.messages, report.bytes, seconds, rate
            );
            ExitCode::SUCCESS
        }
        Err(Failure {
            message: Some(i),
            what,
        }) => {
            eprintln!("{who}: message {i}: {what}");
            ExitCode::FAILURE
        }
        Err(Failure {
            message: None,
            what,
        }) => {
            eprintln!("{who}: {what}");
            ExitCode::FAILURE
        }
    }
}
