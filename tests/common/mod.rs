//! Helpers shared by the integration tests: unique names, raw access to a segment's bytes (to
//! play a misbehaving peer), the conformance stream, and running peer programs as processes.
#![allow(dead_code)] // each test file uses a different part

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rustix::fs::Mode;
use rustix::shm;

/// A segment name no other test (in this or another process) uses.
pub fn unique_name(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "t{}-{}-{}",
        std::process::id(),
        tag,
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    assert!(name.len() <= 30, "test name {name:?} too long");
    name
}

/// Removes a segment by name if it exists (test clean-up).
pub fn remove(name: &str) {
    let _ = shm::unlink(format!("/{}", name.trim_start_matches('/')));
}

/// Whether a segment of this name exists.
pub fn exists(name: &str) -> bool {
    shm::open(
        format!("/{}", name.trim_start_matches('/')),
        shm::OFlags::RDONLY,
        Mode::empty(),
    )
    .is_ok()
}

/// A segment's bytes, read and written with pread/pwrite: how a test plays a peer that writes
/// whatever it likes into the header and data area.
pub struct Raw {
    file: File,
}

impl Raw {
    /// Opens an existing segment.
    pub fn open(name: &str) -> Raw {
        let fd = shm::open(
            format!("/{}", name.trim_start_matches('/')),
            shm::OFlags::RDWR,
            Mode::empty(),
        )
        .unwrap_or_else(|e| panic!("raw open of {name}: {e}"));
        Raw {
            file: File::from(fd),
        }
    }

    /// Creates (replacing) a segment of `size` zero bytes with mode 0600.
    pub fn create(name: &str, size: u64) -> Raw {
        remove(name);
        let fd = shm::open(
            format!("/{name}"),
            shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR,
            Mode::from_bits_truncate(0o600),
        )
        .unwrap_or_else(|e| panic!("raw create of {name}: {e}"));
        let raw = Raw {
            file: File::from(fd),
        };
        raw.file.set_len(size).expect("size the raw segment");
        raw
    }

    /// Creates a segment with a complete header: head = tail = `start`, the given capacity,
    /// sized `16 + capacity`.
    pub fn create_ring(name: &str, capacity: u32, start: u32) -> Raw {
        let raw = Raw::create(name, 16 + u64::from(capacity));
        raw.set_word(0, start);
        raw.set_word(4, start);
        raw.set_word(8, capacity);
        raw
    }

    pub fn word(&self, offset: u64) -> u32 {
        let mut bytes = [0u8; 4];
        self.file
            .read_exact_at(&mut bytes, offset)
            .expect("read word");
        u32::from_le_bytes(bytes)
    }

    pub fn set_word(&self, offset: u64, value: u32) {
        self.file
            .write_all_at(&value.to_le_bytes(), offset)
            .expect("write word");
    }

    pub fn bytes(&self, offset: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        self.file
            .read_exact_at(&mut out, offset)
            .expect("read bytes");
        out
    }

    pub fn set_bytes(&self, offset: u64, bytes: &[u8]) {
        self.file.write_all_at(bytes, offset).expect("write bytes");
    }

    /// Writes `bytes` at stream index `index` of a ring of `capacity`, wrapping at the end.
    pub fn put(&self, capacity: u32, index: u32, bytes: &[u8]) {
        for (k, &byte) in bytes.iter().enumerate() {
            let at = index.wrapping_add(k as u32) & (capacity - 1);
            self.set_bytes(16 + u64::from(at), &[byte]);
        }
    }

    /// Appends a record `[len][payload]` at stream index `head` and publishes it; returns the
    /// new head.
    pub fn push_record(&self, capacity: u32, head: u32, payload: &[u8]) -> u32 {
        self.put(capacity, head, &(payload.len() as u32).to_le_bytes());
        self.put(capacity, head.wrapping_add(4), payload);
        let head = head.wrapping_add(4 + payload.len() as u32);
        self.set_word(0, head);
        head
    }

    pub fn size(&self) -> u64 {
        self.file.metadata().expect("stat").len()
    }

    pub fn mode(&self) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        self.file.metadata().expect("stat").permissions().mode() & 0o7777
    }
}

/// The conformance stream's length for message `i` of a size range.
pub fn stream_len(i: u64, min: usize, max: usize) -> usize {
    let spread = (i as u32).wrapping_mul(2_654_435_761) as u64;
    min + (spread % (max - min + 1) as u64) as usize
}

/// The conformance stream's message `i` of length `len`.
pub fn stream_message(i: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|j| ((i * 7 + j) % 251) as u8).collect()
}

/// Total payload bytes of `count` messages of a size range.
pub fn stream_bytes(count: u64, min: usize, max: usize) -> u64 {
    (0..count).map(|i| stream_len(i, min, max) as u64).sum()
}

/// The directory cargo put this test's executable in (`target/<profile>/deps`).
fn deps_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    exe.parent().expect("deps directory").to_path_buf()
}

/// The `peer` example, built with the same profile as this test. `cargo test` builds the
/// examples before running tests; a narrower command (`cargo test --test x`) may not, so it is
/// built here if missing.
pub fn rust_peer() -> PathBuf {
    let deps = deps_dir();
    let examples = deps.parent().expect("profile directory").join("examples");
    let peer = examples.join("peer");
    if !peer.exists() {
        let release = deps.parent().and_then(Path::file_name) == Some("release".as_ref());
        let mut build = Command::new(env!("CARGO"));
        build
            .args(["build", "--example", "peer"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build --example peer");
        assert!(status.success(), "cargo build --example peer failed");
    }
    assert!(peer.exists(), "{} is missing", peer.display());
    peer
}

/// A child process that is killed if it is still running when dropped.
pub struct Running {
    pub what: String,
    child: Option<Child>,
}

impl Running {
    /// Starts `command` with stdout and stderr captured.
    pub fn start(what: impl Into<String>, mut command: Command) -> Running {
        let what = what.into();
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Running {
            what,
            child: Some(child),
        }
    }

    /// Waits for the process to exit, killing it after `limit` (a guard against hangs only).
    pub fn finish(mut self, limit: Duration) -> Output {
        let mut child = self.child.take().expect("child");
        let deadline = Instant::now() + limit;
        // Drain stdout/stderr on threads so a chatty child never blocks on a full pipe.
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let out = std::thread::spawn(move || read_all(stdout));
        let err = std::thread::spawn(move || read_all(stderr));
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for child") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} did not finish within {limit:?}; killed it. stderr: {}",
                    self.what,
                    String::from_utf8_lossy(&err.join().unwrap_or_default())
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        Output {
            status,
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn read_all(mut from: impl std::io::Read) -> Vec<u8> {
    let mut all = Vec::new();
    let _ = from.read_to_end(&mut all);
    all
}

/// The figures of a peer's JSON line.
#[derive(Debug, PartialEq)]
pub struct PeerReport {
    pub role: String,
    pub messages: u64,
    pub bytes: u64,
}

/// Checks that a peer succeeded and printed exactly one well-formed JSON line; returns it.
pub fn peer_report(what: &str, output: &Output) -> PeerReport {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
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
    let field = |key: &str| -> &str {
        let start = line
            .find(&format!("\"{key}\":"))
            .unwrap_or_else(|| panic!("{what}: no {key} in {line}"))
            + key.len()
            + 3;
        let rest = &line[start..];
        let end = rest.find([',', '}']).expect("end of field");
        rest[..end].trim_matches('"')
    };
    let keys = ["role", "messages", "bytes", "seconds", "msgs_per_sec"];
    let expected_shape = format!(
        "{{{}}}",
        keys.iter()
            .map(|k| format!(
                "\"{k}\":{}",
                if *k == "role" {
                    format!("\"{}\"", field(k))
                } else {
                    field(k).to_owned()
                }
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_eq!(
        line, expected_shape,
        "{what}: keys must be exactly {keys:?} in order"
    );
    field("seconds")
        .parse::<f64>()
        .unwrap_or_else(|_| panic!("{what}: seconds is not a number in {line}"));
    field("msgs_per_sec")
        .parse::<f64>()
        .unwrap_or_else(|_| panic!("{what}: msgs_per_sec is not a number in {line}"));
    PeerReport {
        role: field("role").to_owned(),
        messages: field("messages").parse().expect("messages"),
        bytes: field("bytes").parse().expect("bytes"),
    }
}

/// Runs the Rust `peer` with `args` as the user and group `nobody` (65534); only root can.
///
/// The binary is copied to a fresh directory first, since the checkout may sit below a
/// directory `nobody` cannot enter.
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
    let output = Running::start("peer as nobody", command).finish(Duration::from_secs(120));
    let _ = std::fs::remove_dir_all(&dir);
    output
}
