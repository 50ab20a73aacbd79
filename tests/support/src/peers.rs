//! The peer programs of the three languages (the conformance peers of README's
//! "Interoperability"), run alone or in producer/consumer pairs, and what they print.

use std::path::PathBuf;
use std::process::{Command, ExitStatus, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::process::{wait_until, Running};
use crate::segment::exists;
use crate::tools::{build_cpp, example, python3};

/// The hang guard for one conformance run: far above any healthy run on a loaded machine.
pub const RUN_LIMIT: Duration = Duration::from_secs(300);

/// How long [`run_pair`] lets one peer go on after the other failed.
const FAILURE_GRACE: Duration = Duration::from_secs(10);

/// The Rust `peer` example, built with the same profile as the running test.
pub fn rust_peer() -> PathBuf {
    example("peer")
}

/// A language of the project's peers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lang {
    Rust,
    Python,
    Cpp,
}

impl Lang {
    /// The conformance peer in this language, ready for its role and flags.
    pub fn peer(self) -> Command {
        match self {
            Lang::Rust => Command::new(rust_peer()),
            Lang::Python => {
                let mut command = python3();
                command.args(["-m", "shm_ring"]);
                command
            }
            Lang::Cpp => {
                static PEER: OnceLock<PathBuf> = OnceLock::new();
                Command::new(PEER.get_or_init(|| build_cpp("examples/peer.cpp", "peer", &["-O2"])))
            }
        }
    }
}

/// Which peer starts first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Order {
    /// The consumer is started before the producer, so it has to wait for the segment.
    ConsumerFirst,
    /// The consumer is started only once the producer's segment exists.
    ProducerFirst,
}

/// Runs a producer and a consumer of segment `name` at the same time, in `order`, and returns
/// their outputs. If one fails, the other is stopped after a short grace rather than left to
/// time out.
pub fn run_pair(
    name: &str,
    producer: Command,
    consumer: Command,
    order: Order,
) -> (Output, Output) {
    run_pair_within(name, producer, consumer, order, RUN_LIMIT)
}

/// [`run_pair`] with a hang guard of `limit` instead of [`RUN_LIMIT`].
pub fn run_pair_within(
    name: &str,
    producer: Command,
    consumer: Command,
    order: Order,
    limit: Duration,
) -> (Output, Output) {
    let (mut p, mut c) = match order {
        Order::ConsumerFirst => {
            let c = Running::start("consumer", consumer);
            (Running::start("producer", producer), c)
        }
        Order::ProducerFirst => {
            let mut p = Running::start("producer", producer);
            wait_until("the producer's segment", limit, || {
                exists(name) || p.poll().is_some()
            });
            (p, Running::start("consumer", consumer))
        }
    };
    let deadline = Instant::now() + limit;
    // When one fails, the other usually fails a moment later by itself (it sees its peer
    // gone) and its own exit status and message are part of what tests check; it is killed
    // only if it is still running after this grace.
    let mut stop_other_at = None;
    loop {
        let (ps, cs) = (p.poll(), c.poll());
        let failed = |s: Option<ExitStatus>| s.is_some_and(|s| !s.success());
        if stop_other_at.is_none() && (failed(ps) || failed(cs)) {
            stop_other_at = Some(Instant::now() + FAILURE_GRACE);
        }
        let stop_other = stop_other_at.is_some_and(|at| Instant::now() >= at);
        match (ps, cs) {
            (Some(_), Some(_)) => break,
            (Some(_), None) if stop_other => c.kill(),
            (None, Some(_)) if stop_other => p.kill(),
            _ if Instant::now() >= deadline => {
                p.kill();
                c.kill();
                panic!("the peers did not finish within {limit:?}");
            }
            _ => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    (p.output(), c.output())
}

/// The figures of a peer's JSON line.
#[derive(Debug, PartialEq)]
pub struct PeerReport {
    /// `"producer"` or `"consumer"`.
    pub role: String,
    /// Messages written or read.
    pub messages: u64,
    /// Payload bytes written or read.
    pub bytes: u64,
}

/// Checks that a peer failed as the contract says a peer fails (exit status 1) and that its
/// stderr names every one of `words`. Returns the stderr.
pub fn peer_failure(what: &str, output: &Output, words: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{what}: exit status; stderr: {stderr}"
    );
    for word in words {
        assert!(
            stderr.contains(word),
            "{what} must say {word:?}; stderr: {stderr}"
        );
    }
    stderr
}

/// Checks that a peer succeeded, said nothing on stderr, and printed exactly one line of the
/// contract: `{"role":R,"messages":N,"bytes":B,"seconds":S,"msgs_per_sec":X}`, compact, its
/// keys in that order, with `S` to 6 decimals and `X` to 1 decimal, equal to `N / S` (0.0 when
/// `S` is 0). Returns its figures.
pub fn peer_report(what: &str, output: &Output) -> PeerReport {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.is_empty(),
        "{what} failed ({}): stderr: {stderr} stdout: {stdout}",
        output.status
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{what} must print one line, printed: {stdout:?}"
    );
    let line = lines[0];
    let report: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("{what}: not a JSON line ({e}): {line}"));
    let field = |key: &str| {
        report
            .get(key)
            .unwrap_or_else(|| panic!("{what}: no {key:?} in {line}"))
    };
    let bad = |key: &str| -> ! { panic!("{what}: {key:?} has the wrong type in {line}") };
    let role = field("role").as_str().unwrap_or_else(|| bad("role"));
    let messages = field("messages")
        .as_u64()
        .unwrap_or_else(|| bad("messages"));
    let bytes = field("bytes").as_u64().unwrap_or_else(|| bad("bytes"));
    let seconds = field("seconds").as_f64().unwrap_or_else(|| bad("seconds"));
    let rate = field("msgs_per_sec")
        .as_f64()
        .unwrap_or_else(|| bad("msgs_per_sec"));
    // The figures written back in the contract's form: any other key, key order, spacing or
    // number of decimals makes a different line.
    let contract = format!(
        "{{\"role\":{},\"messages\":{messages},\"bytes\":{bytes},\"seconds\":{seconds:.6},\"msgs_per_sec\":{rate:.1}}}",
        Value::from(role)
    );
    assert_eq!(
        line, contract,
        "{what}: not the contract's JSON line (keys in order, seconds to 6 decimals, \
         msgs_per_sec to 1)"
    );
    let expected_rate = if seconds > 0.0 {
        messages as f64 / seconds
    } else {
        0.0
    };
    assert!(
        (rate - expected_rate).abs() <= 0.05 + expected_rate * 1e-9,
        "{what}: msgs_per_sec {rate}, expected {expected_rate:.1} in {line}"
    );
    PeerReport {
        role: role.to_owned(),
        messages,
        bytes,
    }
}

/// Runs the Rust `peer` with `args` as the user and group `nobody` (65534); only root can.
///
/// The binary is copied to a fresh directory first, since the checkout may sit below a
/// directory `nobody` cannot enter.
#[cfg(unix)]
pub fn run_as_nobody(args: &[&str]) -> Output {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = std::env::temp_dir().join(format!("shm-ring-nobody-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
    let copy = dir.join("peer");
    std::fs::copy(rust_peer(), &copy).expect("copy peer");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod peer");
    let mut command = Command::new(&copy);
    // std drops supplementary groups too when root changes the uid.
    command.args(args).uid(65534).gid(65534);
    let output = Running::start("peer as nobody", command).finish(RUN_LIMIT);
    let _ = std::fs::remove_dir_all(&dir);
    output
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn printed(line: &str) -> Output {
        Output {
            status: ExitStatus::from_raw(0),
            stdout: format!("{line}\n").into_bytes(),
            stderr: Vec::new(),
        }
    }

    fn accepted(line: &str) -> bool {
        std::panic::catch_unwind(|| peer_report("peer", &printed(line))).is_ok()
    }

    #[test]
    fn the_contracts_line_gives_its_figures() {
        let line = r#"{"role":"consumer","messages":10,"bytes":640,"seconds":2.000000,"msgs_per_sec":5.0}"#;
        assert_eq!(
            peer_report("peer", &printed(line)),
            PeerReport {
                role: "consumer".into(),
                messages: 10,
                bytes: 640
            }
        );
    }

    #[test]
    fn any_other_form_of_the_line_is_refused() {
        for line in [
            r#"{"role":"consumer","messages":10,"bytes":640,"seconds":2.00000,"msgs_per_sec":5.0}"#,
            r#"{"role":"consumer","messages":10,"bytes":640,"seconds":2.000000,"msgs_per_sec":5}"#,
            r#"{"role":"consumer","messages":10,"bytes":640,"seconds":2.000000,"msgs_per_sec":6.0}"#,
            r#"{"messages":10,"role":"consumer","bytes":640,"seconds":2.000000,"msgs_per_sec":5.0}"#,
            r#"{"role": "consumer","messages":10,"bytes":640,"seconds":2.000000,"msgs_per_sec":5.0}"#,
            r#"{"role":"consumer","messages":10,"bytes":640,"seconds":2.000000,"msgs_per_sec":5.0,"x":1}"#,
            r#"{"role":"consumer","messages":"10","bytes":640,"seconds":2.000000,"msgs_per_sec":5.0}"#,
            r#"{"role":"consumer","messages":10,"bytes":640,"seconds":2.000000}"#,
            r#"role=consumer messages=10"#,
        ] {
            assert!(!accepted(line), "accepted {line}");
        }
    }
}
