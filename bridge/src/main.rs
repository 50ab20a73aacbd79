//! `shm-ring-bridge`: carries a ring's messages to other machines through Eclipse Zenoh.
//!
//! `out` drains a local ring (as its one consumer) onto a Zenoh key expression; `in`, on the
//! other machine, subscribes to it and feeds a local ring (as its producer). Every message
//! carries its sequence number, the end of the stream is sent explicitly, and `in` reports the
//! first missing message of any gap instead of passing a stream with a hole on. The fixed
//! settings and the reasons for them are in docs/BRIDGE.md.
//!
//! Exit status: 0 once the whole stream went through, 1 otherwise (one line on stderr says
//! why). On success one JSON line on stdout:
//! `{"role":"bridge-out","messages":N,"bytes":B,"seconds":S}` (or `"bridge-in"`).

mod inbound;
mod outbound;
mod session;
mod wire;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Carries the messages of a shm_ring ring to another machine through Eclipse Zenoh (TCP),
/// and feeds a ring there: `out` on the sending machine, `in` on the receiving one.
///
/// Exit status: 0 once the whole stream went through (`in`: and its ring's consumer read it
/// all), 1 otherwise, with one line on stderr saying why; a gap in the stream is reported with
/// the number of the first missing message. On success one JSON line on stdout:
/// {"role":"bridge-out"|"bridge-in","messages":N,"bytes":B,"seconds":S}.
#[derive(Parser)]
#[command(name = "shm-ring-bridge", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Reads the local ring as its one consumer and publishes every message on the key
    /// expression. Starts reading only once a subscriber matches; when the ring's producer is
    /// gone and the ring drained, publishes the end of the stream and waits (up to
    /// --timeout-ms) for the subscribers to leave, which they do once they have it all.
    Out {
        /// The local ring to read (its segment name, with or without a leading `/`).
        #[arg(long, value_name = "NAME")]
        ring: String,
        #[command(flatten)]
        common: Common,
    },
    /// Subscribes to the key expression and writes every message into a local ring, which it
    /// creates (mode 0600) as its producer and removes when done. Exits 0 once the end of the
    /// stream has come and the ring's consumer has read everything.
    In {
        /// The local ring to create and write (its segment name, with or without a leading
        /// `/`).
        #[arg(long, value_name = "NAME")]
        ring: String,
        /// The capacity of the ring in bytes (rounded up to a power of two). It also bounds
        /// what the bridge buffers: messages wait in the ring, not in a queue of the bridge.
        #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
        capacity: usize,
        #[command(flatten)]
        common: Common,
    },
}

/// What both directions take.
#[derive(Args)]
struct Common {
    /// The Zenoh key expression the messages are published on (e.g. `camera/front/frames`).
    #[arg(long, value_name = "KEYEXPR")]
    key: String,
    /// A Zenoh endpoint to listen on (e.g. `tcp/192.168.1.10:7447`); repeat for more. Nothing
    /// else is listened on.
    #[arg(long, value_name = "ENDPOINT", required_unless_present = "connect")]
    listen: Vec<String>,
    /// A Zenoh endpoint to connect to (e.g. `tcp/192.168.1.10:7447`), retried until it
    /// answers; repeat for more.
    #[arg(long, value_name = "ENDPOINT")]
    connect: Vec<String>,
    /// A Zenoh configuration file (JSON5) for what the bridge does not fix itself; the
    /// bridge's own settings (peer mode, endpoints, scouting off, shared memory off, lease,
    /// wait before close) override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The link lease in milliseconds: a link silent for this long is closed.
    #[arg(long, value_name = "MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    lease_ms: u64,
    /// How long in milliseconds any one wait may last: opening the ring (`out`), a full ring
    /// (`in`), the ring's consumer reading the rest (`in`), the subscribers leaving after the
    /// end (`out`), and a message held up by a blocked link before Zenoh closes the link
    /// (its `wait_before_close`). Waiting for a subscriber or for the next message is not
    /// bounded.
    #[arg(long, value_name = "MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..=4_000_000))]
    timeout_ms: u64,
}

/// A failure, reported as one line on stderr.
pub(crate) struct Failure(String);

/// A [`Failure`] saying `what`.
pub(crate) fn fail(what: impl std::fmt::Display) -> Failure {
    Failure(what.to_string())
}

/// What a successful run reports: messages, payload bytes and seconds.
pub(crate) struct Report {
    pub(crate) messages: u64,
    pub(crate) bytes: u64,
    pub(crate) seconds: f64,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            eprintln!("shm-ring-bridge: {}", one_line(&e.to_string()));
            return ExitCode::FAILURE;
        }
        Err(e) => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    let (role, result) = match cli.command {
        Command::Out { ring, common } => ("bridge-out", outbound::run(&ring, &common)),
        Command::In {
            ring,
            capacity,
            common,
        } => ("bridge-in", inbound::run(&ring, capacity, &common)),
    };
    match result {
        Ok(report) => {
            println!(
                "{{\"role\":\"{role}\",\"messages\":{},\"bytes\":{},\"seconds\":{:.6}}}",
                report.messages, report.bytes, report.seconds
            );
            ExitCode::SUCCESS
        }
        Err(Failure(what)) => {
            eprintln!("{role}: {}", one_line(&what));
            ExitCode::FAILURE
        }
    }
}

/// `text` on one line: clap's usage errors span several, without the usage hints.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more"))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_owned()
}
