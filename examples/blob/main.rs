//! The scene-buffer conformance program: hands a file's bytes to another process (Rust or
//! Python) as a scene buffer named by a JSON descriptor.
//!
//! ```text
//! cargo run --release --example blob -- write [--kind K] [--source S] [--lz4] [--keep] FILE
//! cargo run --release --example blob -- read [--sha256] DESCRIPTOR
//! ```
//!
//! `write` puts FILE's bytes in a new scene buffer and prints its descriptor (one line of
//! JSON) on stdout; then it keeps the segment until a reader acknowledges having read it and
//! removes it (with `--keep`: leaves it and exits at once). It gives up, removing the
//! segment, if someone else removes the segment's name meanwhile, or (on Linux) on SIGINT,
//! SIGTERM or SIGHUP.
//!
//! On Windows a mapping lives only while some process has it open, so a buffer written with
//! `--keep` goes when this program exits, unless a reader has it open by then.
//!
//! `read` opens the scene buffer DESCRIPTOR names (the JSON text, or `@FILE` for a file
//! holding it), reads and checks the payload, acknowledges it and writes it to stdout (with
//! `--sha256`: its SHA-256 in hexadecimal and a newline).
//!
//! Exit status 0 on success; 1 with one line on stderr otherwise. `python3 -m shm_ring.blob`
//! takes the same commands and flags.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use shm_ring::{SceneBuffer, SceneKind, SceneOptions};

/// How long the writer sleeps on the acknowledgement word before it looks whether its name
/// still exists or a signal asked it to stop (an acknowledgement wakes it at once).
const NAME_CHECK: Duration = Duration::from_secs(1);

/// SIGINT, SIGTERM and SIGHUP, noted instead of ending the process, so that the writer removes
/// its segment and exits with status 1 and one line, as the command line promises. Linux only
/// (elsewhere the signals end the process and leave the segment for clean-up).
#[cfg(target_os = "linux")]
mod stop {
    use std::sync::atomic::{AtomicI32, Ordering};

    static SIGNAL: AtomicI32 = AtomicI32::new(0);

    extern "C" fn note(signal: libc::c_int) {
        SIGNAL.store(signal, Ordering::Relaxed);
    }

    /// Installs the handler, without `SA_RESTART`: a sleeping wait returns early and the
    /// writer looks at the note within [`super::NAME_CHECK`].
    pub fn install() {
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: `action` is a zeroed `sigaction` (a valid value: no flags, empty mask
            // once `sigemptyset` has run) whose handler is an `extern "C" fn(c_int)` that only
            // stores to an atomic, which is async-signal-safe.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = note as extern "C" fn(libc::c_int) as libc::sighandler_t;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
    }

    /// The name of the signal received, if any.
    pub fn received() -> Option<&'static str> {
        match SIGNAL.load(Ordering::Relaxed) {
            libc::SIGINT => Some("SIGINT"),
            libc::SIGTERM => Some("SIGTERM"),
            libc::SIGHUP => Some("SIGHUP"),
            _ => None,
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod stop {
    pub fn install() {}

    pub fn received() -> Option<&'static str> {
        None
    }
}

const USAGE: &str = "usage: blob write [--kind K] [--source S] [--lz4] [--keep] FILE | blob read [--sha256] DESCRIPTOR";

enum Command {
    Write {
        options: SceneOptions,
        keep: bool,
        file: String,
    },
    Read {
        sha256: bool,
        descriptor: String,
    },
}

fn parse() -> Result<Command, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
    let command = match parser.next().map_err(|e| e.to_string())? {
        Some(Value(command)) => command.string().map_err(|e| e.to_string())?,
        Some(Long("help")) | Some(Short('h')) => {
            println!("{USAGE}");
            std::process::exit(0);
        }
        _ => return Err(USAGE.to_owned()),
    };
    let mut positional = None;
    let mut options = SceneOptions::default();
    let (mut keep, mut sha256) = (false, false);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match (command.as_str(), arg) {
            ("write", Long("kind")) => {
                let kind = parser.value().map_err(|e| e.to_string())?;
                let kind = kind.string().map_err(|e| e.to_string())?;
                options.kind = SceneKind::custom(&kind).map_err(|e| e.to_string())?;
            }
            ("write", Long("source")) => {
                let source = parser.value().map_err(|e| e.to_string())?;
                options.source = source.string().map_err(|e| e.to_string())?;
            }
            ("write", Long("lz4")) => options.lz4 = true,
            ("write", Long("keep")) => keep = true,
            ("read", Long("sha256")) => sha256 = true,
            (_, Value(value)) if positional.is_none() => {
                positional = Some(value.string().map_err(|e| e.to_string())?)
            }
            (_, arg) => return Err(format!("{}; {USAGE}", arg.unexpected())),
        }
    }
    let missing = || format!("a {command} needs its argument; {USAGE}");
    match command.as_str() {
        "write" => Ok(Command::Write {
            options,
            keep,
            file: positional.ok_or_else(missing)?,
        }),
        "read" => Ok(Command::Read {
            sha256,
            descriptor: positional.ok_or_else(missing)?,
        }),
        other => Err(format!("unknown command {other:?}; {USAGE}")),
    }
}

fn write(options: &SceneOptions, keep: bool, file: &str) -> Result<(), String> {
    if !keep {
        stop::install();
    }
    let data = std::fs::read(file).map_err(|e| format!("cannot read {file}: {e}"))?;
    let scene = SceneBuffer::write(&data, options).map_err(|e| format!("blob write: {e}"))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", scene.descriptor().to_json())
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write the descriptor: {e}"))?;
    if keep {
        // The owning handle removes the name when dropped: never drop it, so the segment
        // outlives this process.
        std::mem::forget(scene);
        return Ok(());
    }
    while !scene.wait_acknowledged(NAME_CHECK) {
        if let Some(signal) = stop::received() {
            // Dropping `scene` on the way out removes the segment.
            return Err(format!(
                "interrupted by {signal} before any reader acknowledged {}; removed it",
                scene.name()
            ));
        }
        if !scene.buffer().is_named() {
            return Err(format!(
                "segment {} was removed before any reader acknowledged it",
                scene.name()
            ));
        }
    }
    Ok(())
}

fn read(sha256: bool, descriptor: &str) -> Result<(), String> {
    let text = match descriptor.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?
        }
        None => descriptor.to_owned(),
    };
    let scene = SceneBuffer::open_json(&text).map_err(|e| format!("blob read: {e}"))?;
    let payload = scene.read().map_err(|e| format!("blob read: {e}"))?;
    scene.acknowledge();
    let mut stdout = std::io::stdout().lock();
    let written = if sha256 {
        let hex: String = hmac_sha256::Hash::hash(&payload)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        writeln!(stdout, "{hex}")
    } else {
        stdout.write_all(&payload)
    };
    written
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write the payload: {e}"))
}

fn main() -> ExitCode {
    let done = parse().and_then(|command| match command {
        Command::Write {
            options,
            keep,
            file,
        } => write(&options, keep, &file),
        Command::Read { sha256, descriptor } => read(sha256, &descriptor),
    });
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{}", message.replace('\n', " "));
            ExitCode::from(1)
        }
    }
}
