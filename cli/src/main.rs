//! `shm-ring`: see, feed, drain, benchmark and clean up shm_ring segments.
//!
//! Exit codes: 0 success, 1 failure (the message on stderr names the segment and what was
//! wrong), 2 usage error.

mod bench;
mod table;

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser, Subcommand};
use serde_json::{json, Value};
use shm_ring::{
    PeerState, ProducerOptions, ReadTimeoutError, SegmentInfo, SegmentKind, ShmConsumer,
    ShmProducer, WriteTimeoutError,
};

use crate::table::Table;

/// See, feed, drain, benchmark and clean up shm_ring segments (POSIX shared-memory rings).
///
/// Exit status: 0 success, 1 failure, 2 usage error.
#[derive(Parser)]
#[command(name = "shm-ring", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every segment of a ring, shared-buffer or buffer-pool layout on this machine: kind,
    /// sizes, bytes (or slots) in use, whether each end (or the owner) is alive, mode and
    /// owner. Segments that cannot be read are listed with the reason.
    #[command(visible_alias = "ls")]
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Also list shared-memory objects that hold none of these layouts.
        #[arg(long)]
        all: bool,
    },
    /// The header of one segment, its verdict, and the extension flags and messages waiting
    /// (a ring), the payload length (a shared buffer) or the slots' states (a buffer pool),
    /// read without taking part in it (no index moves, no lock is taken).
    Inspect {
        /// The segment name, with or without a leading `/`.
        name: String,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Writes messages from stdin (or files) into a ring, as its producer.
    Send {
        /// The segment name, with or without a leading `/`.
        name: String,
        /// One message per line of stdin (without its newline); empty lines are skipped with a
        /// warning. Default: all of stdin is one message.
        #[arg(long, conflicts_with = "file")]
        lines: bool,
        /// Send the contents of this file as one message; repeat for more, in order.
        #[arg(long, value_name = "F")]
        file: Vec<std::path::PathBuf>,
        /// Create the ring (replacing a segment of that name whose producer is gone). Without
        /// it, the existing ring is written to, after what it holds, once its producer is gone
        /// (a live producer's ring is refused).
        #[arg(long, requires = "capacity")]
        create: bool,
        /// Capacity in bytes of the ring to create (rounded up to a power of two).
        #[arg(long, value_name = "N", requires = "create")]
        capacity: Option<usize>,
        /// Remove the ring when done, after the consumer has read everything (waiting up to
        /// --timeout), or at once on Ctrl-C.
        #[arg(long, requires = "create")]
        unlink: bool,
        /// How long to wait while the ring is full (e.g. 10, 1.5s, 500ms); default: forever.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        timeout: Option<Duration>,
    },
    /// Reads messages to stdout, as the ring's one consumer. Without --count or --follow,
    /// reads the messages waiting now and stops.
    Recv {
        /// The segment name, with or without a leading `/`.
        name: String,
        /// Read exactly N messages (failing if they do not come within --timeout each).
        #[arg(long, value_name = "N", conflicts_with = "follow")]
        count: Option<u64>,
        /// How long to wait for the segment and for each message (e.g. 10, 1.5s, 500ms);
        /// default: forever with --count or --follow, not at all otherwise.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        timeout: Option<Duration>,
        /// Write a newline after each message.
        #[arg(long)]
        lines: bool,
        /// Write each message as one line of lowercase hex.
        #[arg(long)]
        hex: bool,
        /// Keep reading until interrupted (Ctrl-C) or the producer is gone.
        #[arg(long)]
        follow: bool,
    },
    /// Removes segments, refusing one whose producer is alive.
    Rm {
        /// The segment names.
        #[arg(required = true)]
        names: Vec<String>,
        /// Remove even a live producer's segment (its ends keep working; nobody new finds it).
        #[arg(long)]
        force: bool,
    },
    /// Removes every ring whose producer and consumer are both gone, and every shared buffer
    /// and buffer pool whose owner and users are gone. Never touches a live segment, one
    /// whose owners cannot be told (such as a ring of the original library), or an object it
    /// does not recognise.
    Gc {
        /// List what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// One JSON array of the names instead of lines.
        #[arg(long)]
        json: bool,
        /// Only segments whose name starts with this.
        #[arg(long, value_name = "P", default_value = "")]
        prefix: String,
    },
    /// A quick two-process throughput and latency check on this machine: the figures of the
    /// bench program's "shm_ring, cross-process, copy" rows and its one-way latency row.
    Bench {
        /// Message sizes in bytes, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [64usize, 1024, 4096])]
        sizes: Vec<usize>,
        /// Messages per size (default: about 64 MiB of payload, 50 to 200000 messages).
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Round trips for the latency figure.
        #[arg(long, value_name = "N", default_value_t = 10_000)]
        rounds: usize,
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Prints a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// The other process of `bench` (not for direct use).
    #[command(hide = true)]
    BenchChild { task: Vec<String> },
}

/// A failure to report: the message, printed after `shm-ring: `.
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure(e.to_string())
    }
}

type Outcome = Result<(), Failure>;

/// Set by Ctrl-C; the loops that wait check it.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// How long one wait lasts at most before Ctrl-C is looked at again.
const SLICE: Duration = Duration::from_millis(100);

fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap: 0 for --help and --version, 2 for usage errors.
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    if matches!(
        cli.command,
        Command::Send { .. }
            | Command::Recv { .. }
            | Command::Bench { .. }
            | Command::BenchChild { .. }
    ) {
        if let Err(e) = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed)) {
            eprintln!("shm-ring: cannot handle Ctrl-C: {e}");
            return ExitCode::FAILURE;
        }
    }
    let outcome = match cli.command {
        Command::List { json, all } => list(json, all),
        Command::Inspect { name, json } => inspect(&name, json),
        Command::Send {
            name,
            lines,
            file,
            create,
            capacity,
            unlink,
            timeout,
        } => send(&name, lines, &file, create, capacity, unlink, timeout),
        Command::Recv {
            name,
            count,
            timeout,
            lines,
            hex,
            follow,
        } => recv(&name, count, timeout, lines, hex, follow),
        Command::Rm { names, force } => rm(&names, force),
        Command::Gc {
            dry_run,
            json,
            prefix,
        } => gc(dry_run, json, &prefix),
        Command::Bench {
            sizes,
            count,
            rounds,
            json,
        } => bench::run(&sizes, count, rounds, json),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "shm-ring", &mut io::stdout());
            Ok(())
        }
        Command::BenchChild { task } => bench::child(&task),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("shm-ring: {message}");
            ExitCode::FAILURE
        }
    }
}

/// A duration: seconds as a plain number (`10`, `1.5`), or with a unit `ms`, `s` or `m`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 10, 1.5s, 500ms)"))?;
    Duration::try_from_secs_f64(value * scale)
        .map_err(|_| format!("{text:?} is not a duration (e.g. 10, 1.5s, 500ms)"))
}

fn state(state: PeerState) -> &'static str {
    match state {
        PeerState::Alive => "alive",
        PeerState::Gone => "gone",
        PeerState::Unknown => "unknown",
    }
}

/// The user name of `uid` from /etc/passwd, or the number.
fn owner(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let id: u32 = fields.nth(1)?.parse().ok()?;
            (id == uid).then(|| name.to_owned())
        })
        .next()
        .unwrap_or_else(|| uid.to_string())
}

/// Whether the segment holds one of this project's layouts (a ring of either layout, a shared
/// buffer or a buffer pool).
fn is_known(info: &SegmentInfo) -> bool {
    matches!(
        info.kind,
        SegmentKind::OriginalRing
            | SegmentKind::ExtendedRing
            | SegmentKind::SharedBuffer
            | SegmentKind::BufferPool
    )
}

/// The capacity column: a ring's or buffer's capacity in bytes, a pool's slots and slot size.
fn capacity_text(info: &SegmentInfo) -> Option<String> {
    if let Some(b) = info.buffer {
        return Some(b.capacity.to_string());
    }
    if let Some(p) = info.pool {
        return Some(format!("{}x{}", p.slot_count, p.slot_size));
    }
    info.header.map(|h| h.capacity.to_string())
}

/// The in-use column: a ring's readable bytes, a buffer's payload length, a pool's slots
/// taken out of all.
fn in_use_text(info: &SegmentInfo) -> Option<String> {
    if let Some(b) = info.buffer {
        return Some(b.data_len.to_string());
    }
    if let Some(p) = info.pool {
        return Some(format!("{}/{} slots", p.slot_count - p.free, p.slot_count));
    }
    info.readable_bytes.map(|n| n.to_string())
}

fn holders(alive: Option<bool>) -> &'static str {
    match alive {
        Some(true) => "alive",
        Some(false) => "none",
        None => "unknown",
    }
}

/// The JSON of one segment as `list` and `inspect` print it.
fn info_json(info: &SegmentInfo, detailed: bool) -> Value {
    let header = info.header;
    let mut value = json!({
        "name": info.name,
        "kind": info.kind.to_string(),
        "size": info.size,
        "capacity": info.buffer.map(|b| b.capacity).or(header.map(|h| u64::from(h.capacity))),
        "bytes_in_use": info.buffer.map(|b| b.data_len).or(info.readable_bytes.map(u64::from)),
        "producer": state(info.producer),
        "consumer": state(info.consumer),
        "mode": format!("{:04o}", info.mode),
        "uid": info.uid,
        "owner": owner(info.uid),
        "verdict": info.verdict.to_string(),
        "valid": info.verdict == shm_ring::Verdict::Valid,
        "error": Value::Null,
    });
    if let Some(b) = info.buffer {
        value["buffer"] = json!({
            "capacity": b.capacity,
            "data_len": b.data_len,
            "sequence": b.sequence,
            "writer": state(b.writer),
        });
    }
    if let Some(p) = info.pool {
        value["pool"] = json!({
            "slot_count": p.slot_count,
            "slot_size": p.slot_size,
            "available": p.free,
            "filling": p.filling,
            "published": p.published,
            "reading": p.reading,
            "holders": holders(p.holders_alive),
        });
    }
    if detailed {
        let extra = json!({
            "header": header.map(|h| json!({
                "head": h.head, "tail": h.tail, "capacity": h.capacity, "reserved": h.reserved,
            })),
            "extension": info.extension.map(|f| json!({
                "producer_flags": f.producer,
                "consumer_flags": f.consumer,
                "producer_locked": f.producer_locked(),
                "consumer_locked": f.consumer_locked(),
                "producer_sleeping": f.producer_sleeping(),
                "consumer_sleeping": f.consumer_sleeping(),
                "producer_barrier": f.producer_barrier(),
                "consumer_barrier": f.consumer_barrier(),
            })),
            "messages": info.messages.as_ref().map(|m| json!({
                "count": m.count,
                "payload_bytes": m.payload_bytes,
                "sizes": m.sizes,
                "sizes_complete": m.sizes.len() as u64 == m.count,
            })),
        });
        if let (Value::Object(all), Value::Object(extra)) = (&mut value, extra) {
            all.extend(extra);
        }
    }
    value
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn list(json: bool, all: bool) -> Outcome {
    let found =
        shm_ring::list().map_err(|e| format!("list: cannot read the segments in /dev/shm: {e}"))?;
    let shown = found.iter().filter(|(_, info)| match info {
        Ok(info) => all || is_known(info),
        Err(_) => true,
    });
    if json {
        let entries: Vec<Value> = shown
            .map(|(name, info)| match info {
                Ok(info) => info_json(info, false),
                Err(e) => json!({ "name": name, "error": e.to_string() }),
            })
            .collect();
        println!("{}", Value::Array(entries));
        return Ok(());
    }
    let mut table = Table::new(&[
        "NAME", "KIND", "SIZE", "CAPACITY", "IN USE", "PRODUCER", "CONSUMER", "MODE", "OWNER",
        "VERDICT",
    ]);
    for (name, info) in shown {
        match info {
            Ok(info) => table.row(vec![
                name.clone(),
                info.kind.to_string(),
                info.size.to_string(),
                or_dash(capacity_text(info)),
                or_dash(in_use_text(info)),
                state(info.producer).to_owned(),
                state(info.consumer).to_owned(),
                format!("{:04o}", info.mode),
                owner(info.uid),
                info.verdict.to_string(),
            ]),
            Err(e) => table.row(vec![
                name.clone(),
                "unreadable".to_owned(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                e.to_string(),
            ]),
        }
    }
    print!("{}", table.render());
    Ok(())
}

fn inspect(name: &str, json: bool) -> Outcome {
    let info = shm_ring::inspect(name).map_err(|e| format!("inspect {name}: {e}"))?;
    if json {
        println!("{}", info_json(&info, true));
        return Ok(());
    }
    let mut table = Table::new(&["FIELD", "VALUE"]);
    let mut field = |key: &str, value: String| table.row(vec![key.to_owned(), value]);
    field("name", info.name.clone());
    field("kind", info.kind.to_string());
    field("verdict", info.verdict.to_string());
    field("size", format!("{} bytes", info.size));
    field("mode", format!("{:04o}", info.mode));
    field("owner", format!("{} (uid {})", owner(info.uid), info.uid));
    if let Some(h) = info.header {
        field("head", h.head.to_string());
        field("tail", h.tail.to_string());
        field("capacity", h.capacity.to_string());
        let marker = h.reserved.to_le_bytes();
        let text = if marker.iter().all(u8::is_ascii_graphic) {
            format!(" ({:?})", String::from_utf8_lossy(&marker))
        } else {
            String::new()
        };
        field("reserved", format!("{:#010x}{text}", h.reserved));
    }
    if let Some(b) = info.buffer {
        field("owner process", state(info.producer).to_owned());
        field("writer", state(b.writer).to_owned());
        field("capacity", format!("{} bytes", b.capacity));
        field("data length", format!("{} bytes", b.data_len));
        let writing = if b.sequence % 2 == 1 {
            " (a write is under way)"
        } else {
            ""
        };
        field("sequence", format!("{}{writing}", b.sequence));
    } else if let Some(p) = info.pool {
        field("owner process", state(info.producer).to_owned());
        field("slots", p.slot_count.to_string());
        field("slot size", format!("{} bytes", p.slot_size));
        field("available", p.free.to_string());
        field("filling", p.filling.to_string());
        field("published", p.published.to_string());
        field("reading", p.reading.to_string());
        field("slot holders", holders(p.holders_alive).to_owned());
    } else {
        field("producer", state(info.producer).to_owned());
        field("consumer", state(info.consumer).to_owned());
    }
    if let Some(f) = info.extension {
        let describe = |locked: bool, sleeping: bool, barrier: bool| {
            let mut words = Vec::new();
            if locked {
                words.push("locked");
            }
            if sleeping {
                words.push("sleeping");
            }
            if barrier {
                words.push("membarrier");
            }
            words.join(" ")
        };
        field(
            "producer flags",
            format!(
                "{:#04x} {}",
                f.producer,
                describe(
                    f.producer_locked(),
                    f.producer_sleeping(),
                    f.producer_barrier()
                )
            ),
        );
        field(
            "consumer flags",
            format!(
                "{:#04x} {}",
                f.consumer,
                describe(
                    f.consumer_locked(),
                    f.consumer_sleeping(),
                    f.consumer_barrier()
                )
            ),
        );
    }
    field("readable bytes", or_dash(info.readable_bytes));
    if let Some(m) = &info.messages {
        field("messages waiting", m.count.to_string());
        field("payload bytes", m.payload_bytes.to_string());
        let mut sizes = m
            .sizes
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        if (m.sizes.len() as u64) < m.count {
            sizes.push_str(" ...");
        }
        field("message sizes", sizes);
    }
    print!("{}", table.render());
    Ok(())
}

/// The messages `send` writes, in order.
fn messages(lines: bool, files: &[std::path::PathBuf]) -> Result<Vec<Vec<u8>>, Failure> {
    if !files.is_empty() {
        return files
            .iter()
            .map(|path| {
                std::fs::read(path)
                    .map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))
            })
            .collect();
    }
    let mut input = Vec::new();
    io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    if !lines {
        return Ok(vec![input]);
    }
    let mut messages = Vec::new();
    for (number, line) in input.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            // The split's last piece after a final newline is not a line.
            if number + 1 < input.split(|&b| b == b'\n').count() {
                eprintln!(
                    "shm-ring: skipped empty line {}: empty messages are refused",
                    number + 1
                );
            }
            continue;
        }
        messages.push(line.to_vec());
    }
    Ok(messages)
}

fn send(
    name: &str,
    lines: bool,
    files: &[std::path::PathBuf],
    create: bool,
    capacity: Option<usize>,
    unlink: bool,
    timeout: Option<Duration>,
) -> Outcome {
    let messages = messages(lines, files)?;
    if let Some(empty) = messages.iter().position(Vec::is_empty) {
        return Err(Failure(format!(
            "send {name}: message {} is empty, and empty messages are refused",
            empty + 1
        )));
    }
    let producer = if create {
        let capacity = capacity.expect("clap requires --capacity with --create");
        ProducerOptions::new()
            .unlink_on_drop(unlink)
            .create(name, capacity)
    } else {
        ShmProducer::open(name)
    };
    let mut producer = producer.map_err(|e| format!("send {name}: {e}"))?;
    let deadline = timeout.map(|t| Instant::now() + t);
    let left = |deadline: Option<Instant>| -> Option<Duration> {
        match deadline {
            None => Some(SLICE),
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                (!left.is_zero()).then(|| left.min(SLICE))
            }
        }
    };
    for (index, message) in messages.iter().enumerate() {
        let sent = index;
        loop {
            if interrupted() {
                return Err(Failure(format!(
                    "send {name}: interrupted after {sent} of {} messages",
                    messages.len()
                )));
            }
            let Some(wait) = left(deadline) else {
                return Err(Failure(format!(
                    "send {name}: timed out waiting for free space after {sent} of {} messages",
                    messages.len()
                )));
            };
            match producer.write(message, wait) {
                Ok(()) => break,
                Err(WriteTimeoutError::Timeout) => continue,
                Err(e) => {
                    return Err(Failure(format!(
                        "send {name}: message {} of {}: {e}",
                        sent + 1,
                        messages.len()
                    )))
                }
            }
        }
    }
    if unlink {
        // The name goes with the producer: wait until the consumer has read everything.
        loop {
            if interrupted() {
                return Err(Failure(format!(
                    "send {name}: interrupted before the consumer read everything"
                )));
            }
            let Some(wait) = left(deadline) else {
                return Err(Failure(format!(
                    "send {name}: timed out waiting for the consumer to read everything"
                )));
            };
            match producer.wait_until_empty(wait) {
                Ok(()) => break,
                Err(shm_ring::WaitTimeoutError::Timeout) => continue,
                Err(e) => return Err(Failure(format!("send {name}: {e}"))),
            }
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn recv(
    name: &str,
    count: Option<u64>,
    timeout: Option<Duration>,
    lines: bool,
    as_hex: bool,
    follow: bool,
) -> Outcome {
    let waits = count.is_some() || follow;
    let mut consumer = match timeout {
        Some(t) => ShmConsumer::open_timeout(name, t),
        None if waits => ShmConsumer::open_timeout(name, Duration::MAX),
        None => ShmConsumer::open(name),
    }
    .map_err(|e| format!("recv {name}: {e}"))?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut read = 0u64;
    loop {
        if count.is_some_and(|n| read >= n) || interrupted() {
            break;
        }
        let started = Instant::now();
        let grant = loop {
            if interrupted() {
                break None;
            }
            let wait = match (waits, timeout) {
                (false, _) => Duration::ZERO,
                (true, None) => SLICE,
                (true, Some(t)) => {
                    let left = t.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        if follow {
                            break None;
                        }
                        return Err(Failure(format!(
                            "recv {name}: timed out waiting for message {} of {}",
                            read + 1,
                            count.unwrap_or(0)
                        )));
                    }
                    left.min(SLICE)
                }
            };
            match consumer.read(wait) {
                Ok(grant) => break Some(grant),
                Err(ReadTimeoutError::Timeout) if waits => continue,
                Err(ReadTimeoutError::Timeout) => break None,
                Err(ReadTimeoutError::PeerGone) if count.is_none() => break None,
                Err(e) => return Err(Failure(format!("recv {name}: after {read} messages: {e}"))),
            }
        };
        let Some(grant) = grant else { break };
        // Written out before the message is released, so a failed write loses nothing.
        let (first, second) = grant.as_slices();
        let written = if as_hex {
            writeln!(out, "{}{}", hex(first), hex(second))
        } else {
            out.write_all(first)
                .and_then(|()| out.write_all(second))
                .and_then(|()| if lines { out.write_all(b"\n") } else { Ok(()) })
        };
        written
            .and_then(|()| out.flush())
            .map_err(|e| format!("recv {name}: cannot write to stdout: {e}"))?;
        grant.commit();
        read += 1;
    }
    if let Some(n) = count.filter(|&n| read < n) {
        return Err(Failure(format!(
            "recv {name}: interrupted after {read} of {n} messages"
        )));
    }
    Ok(())
}

fn rm(names: &[String], force: bool) -> Outcome {
    let mut failed = 0;
    for name in names {
        let removed = if force {
            shm_ring::remove_forced(name)
        } else {
            shm_ring::remove(name)
        };
        match removed {
            Ok(()) => println!("removed {name}"),
            Err(e @ shm_ring::OpenError::InUse { .. }) => {
                eprintln!("shm-ring: rm {name}: {e}; not removed (--force removes it)");
                failed += 1;
            }
            Err(e) => {
                eprintln!("shm-ring: rm {name}: {e}");
                failed += 1;
            }
        }
    }
    match failed {
        0 => Ok(()),
        n => Err(Failure(format!(
            "rm: {n} of {} segments not removed",
            names.len()
        ))),
    }
}

#[cfg(not(unix))]
fn gc(_dry_run: bool, _json: bool, _prefix: &str) -> Outcome {
    // A named mapping has no name to remove on Windows: it goes with its last handle.
    Err(Failure(
        "gc: not supported on this system (segments disappear with their last handle)".into(),
    ))
}

#[cfg(unix)]
fn gc(dry_run: bool, json: bool, prefix: &str) -> Outcome {
    let options = shm_ring::CleanupOptions::new()
        .dry_run(dry_run)
        .prefix(prefix);
    let report = shm_ring::cleanup(&options)
        .map_err(|e| format!("gc: cannot read the segments in /dev/shm: {e}"))?;
    for (name, e) in &report.failures {
        eprintln!("shm-ring: gc {name}: {e}");
    }
    let done: Vec<&str> = report.orphans.iter().map(|o| o.name.as_str()).collect();
    if json {
        println!("{}", json!(done));
    } else {
        let verb = if dry_run { "would remove" } else { "removed" };
        for name in &done {
            println!("{verb} {name}");
        }
    }
    match report.failures.len() {
        0 => Ok(()),
        n => Err(Failure(format!("gc: {n} segments not removed"))),
    }
}
