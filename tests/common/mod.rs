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

/// Wire facts of docs/PROTOCOL.md ("shm_ring's extension"), written out here from the
/// document, so that the tests hold the crate to it rather than to its own constants.
pub mod wire {
    /// The `reserved` word of a shm_ring producer's header: the bytes `SRX1`.
    pub const EXTENSION_MARKER: u32 = 0x3158_5253;
    /// Length of the extension block: one cache line.
    pub const EXTENSION_LEN: usize = 64;
    /// Offset of the producer's flag byte in the extension block.
    pub const PRODUCER_FLAGS: usize = 0;
    /// Offset of the consumer's flag byte in the extension block.
    pub const CONSUMER_FLAGS: usize = 1;
    /// Flag bit: sleeping on the other side's index word.
    pub const FLAG_SLEEPING: u8 = 0x01;
    /// Flag bit: holds its liveness lock.
    pub const FLAG_LOCKED: u8 = 0x02;
    /// Flag bit: its process can be fenced with `membarrier`.
    pub const FLAG_BARRIER: u8 = 0x04;

    /// Where the extension block of a ring of `capacity` bytes starts: the first 64-byte
    /// boundary at or after the end of the data area.
    pub fn extension_offset(capacity: u32) -> usize {
        (16 + capacity as usize).next_multiple_of(EXTENSION_LEN)
    }

    /// The size of the object a shm_ring producer makes for a ring of `capacity` bytes: up to
    /// the end of the extension block.
    pub fn segment_len(capacity: u32) -> usize {
        extension_offset(capacity) + EXTENSION_LEN
    }
}

/// The next message copied out, or `None` when none is waiting: `try_read` as the tests
/// compare it. Corruption fails the test.
pub fn try_take(consumer: &mut shm_ring::ShmConsumer) -> Option<Vec<u8>> {
    match consumer.try_read() {
        Ok(message) => Some(message.into_vec()),
        Err(shm_ring::TryReadError::Empty) => None,
        Err(e) => panic!("try_read failed: {e}"),
    }
}

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

/// Removes the named segment when dropped, so a failing test leaves nothing behind.
pub struct Removes(pub String);

impl Drop for Removes {
    fn drop(&mut self) {
        remove(&self.0);
    }
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
/// whatever it likes into the header and data area. A segment made with [`Raw::create`] is
/// removed when the `Raw` is dropped.
pub struct Raw {
    file: File,
    created: Option<String>,
}

impl Drop for Raw {
    fn drop(&mut self) {
        if let Some(name) = &self.created {
            remove(name);
        }
    }
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
            created: None,
        }
    }

    /// Creates (replacing) a segment of `size` zero bytes with mode 0600, removed on drop.
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
            created: Some(name.to_owned()),
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

    /// Bytes of memory the object has allocated (as opposed to its size, which may be sparse).
    pub fn allocated(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        self.file.metadata().expect("stat").blocks() * 512
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

/// A child process with its output drained on threads (so a chatty child never blocks on a
/// full pipe); killed if still running when dropped.
pub struct Running {
    pub what: String,
    child: Child,
    stdout: Option<std::thread::JoinHandle<Vec<u8>>>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
    status: Option<std::process::ExitStatus>,
}

impl Running {
    /// Starts `command` with stdout and stderr captured.
    pub fn start(what: impl Into<String>, mut command: Command) -> Running {
        let what = what.into();
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        Running {
            what,
            child,
            stdout: Some(std::thread::spawn(move || read_all(stdout))),
            stderr: Some(std::thread::spawn(move || read_all(stderr))),
            status: None,
        }
    }

    /// The exit status, if the process has exited.
    pub fn poll(&mut self) -> Option<std::process::ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("wait for child");
        }
        self.status
    }

    /// Kills the process (SIGKILL) if it is still running.
    pub fn kill(&mut self) {
        if self.poll().is_none() {
            let _ = self.child.kill();
            self.status = Some(self.child.wait().expect("wait for killed child"));
        }
    }

    fn output(mut self) -> Output {
        let status = self.poll().expect("collect only after exit");
        Output {
            status,
            stdout: self
                .stdout
                .take()
                .map(|t| t.join().unwrap_or_default())
                .unwrap_or_default(),
            stderr: self
                .stderr
                .take()
                .map(|t| t.join().unwrap_or_default())
                .unwrap_or_default(),
        }
    }

    /// Waits for the process to exit, killing it after `limit` (a guard against hangs only).
    pub fn finish(mut self, limit: Duration) -> Output {
        let deadline = Instant::now() + limit;
        while self.poll().is_none() {
            if Instant::now() >= deadline {
                self.kill();
                let what = self.what.clone();
                let output = self.output();
                panic!(
                    "{what} did not finish within {limit:?}; killed it. stderr: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.output()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

fn read_all(mut from: impl std::io::Read) -> Vec<u8> {
    let mut all = Vec::new();
    let _ = from.read_to_end(&mut all);
    all
}

/// Polls `ready` until it holds, panicking after `limit` (a guard against hangs only).
pub fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "gave up after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A guard against hangs in tests that wait for one event.
pub const HANG_GUARD: Duration = Duration::from_secs(120);

/// The futex system call's number, as `/proc/<pid>/task/<tid>/syscall` shows it.
#[cfg(target_arch = "x86_64")]
const FUTEX_SYSCALL: &str = "202";
#[cfg(target_arch = "aarch64")]
const FUTEX_SYSCALL: &str = "98";

/// Whether thread `tid` of this process is blocked in the futex system call.
pub fn in_futex_wait(tid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall"))
        .map(|text| text.split_whitespace().next() == Some(FUTEX_SYSCALL))
        .unwrap_or(false)
}

/// The calling thread's id.
pub fn gettid() -> i32 {
    rustix::thread::gettid().as_raw_nonzero().get()
}

/// Runs `f` on a new thread, and returns that thread's id (once it has started) and its handle:
/// for tests that wait until the thread is blocked in the kernel.
pub fn spawn_reporting_tid<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> (i32, std::thread::JoinHandle<T>) {
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        tid_tx.send(gettid()).expect("report the thread id");
        f()
    });
    (tid_rx.recv().expect("the thread id"), handle)
}

/// Waits until thread `tid` sleeps in `FUTEX_WAIT`, and, given the offset of its flag byte in
/// the segment behind `raw`, until that byte says so too (a ring without the extension block
/// has no flag byte to look at).
pub fn wait_until_asleep(raw: &Raw, tid: i32, flag_offset: Option<usize>) {
    wait_until(
        "the blocked thread to sleep in FUTEX_WAIT",
        HANG_GUARD,
        || {
            let flagged = flag_offset.map_or(true, |offset| {
                raw.bytes(offset as u64, 1)[0] & wire::FLAG_SLEEPING != 0
            });
            flagged && in_futex_wait(tid)
        },
    );
}

/// Which peer starts first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Order {
    /// The consumer is started before the producer, so it has to wait for the segment.
    ConsumerFirst,
    /// The consumer is started only once the producer's segment exists.
    ProducerFirst,
}

/// The hang guard for one conformance run: far above any healthy run on a loaded machine.
pub const RUN_LIMIT: Duration = Duration::from_secs(300);

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

/// How long [`run_pair`] lets one peer go on after the other failed.
const FAILURE_GRACE: Duration = Duration::from_secs(10);

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
        let failed = |s: Option<std::process::ExitStatus>| s.is_some_and(|s| !s.success());
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
    pub role: String,
    pub messages: u64,
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
/// contract: `{"role":R,"messages":N,"bytes":B,"seconds":S,"msgs_per_sec":X}` with `S` to 6
/// decimals and `X` to 1 decimal, equal to `N / S` (0.0 when `S` is 0). Returns its figures.
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
    let bad = || -> ! { panic!("{what}: not the contract's JSON line: {line}") };
    let body = line
        .strip_prefix("{\"role\":\"")
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or_else(|| bad());
    let (role, rest) = body.split_once("\",\"messages\":").unwrap_or_else(|| bad());
    let (messages, rest) = rest.split_once(",\"bytes\":").unwrap_or_else(|| bad());
    let (bytes, rest) = rest.split_once(",\"seconds\":").unwrap_or_else(|| bad());
    let (seconds, rate) = rest
        .split_once(",\"msgs_per_sec\":")
        .unwrap_or_else(|| bad());
    let decimals = |number: &str| number.split_once('.').map_or(0, |(_, frac)| frac.len());
    assert_eq!(decimals(seconds), 6, "{what}: seconds in {line}");
    assert_eq!(decimals(rate), 1, "{what}: msgs_per_sec in {line}");
    let messages: u64 = messages.parse().unwrap_or_else(|_| bad());
    let seconds: f64 = seconds.parse().unwrap_or_else(|_| bad());
    let rate: f64 = rate.parse().unwrap_or_else(|_| bad());
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
        bytes: bytes.parse().unwrap_or_else(|_| bad()),
    }
}

/// The repository's root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `python3`, ready to import `shm_ring` from interop/python. Fails the test with what to
/// install if there is no `python3`.
pub fn python3() -> Command {
    static CHECKED: std::sync::Once = std::sync::Once::new();
    CHECKED.call_once(|| {
        let found = Command::new("python3").arg("--version").output();
        if !found.is_ok_and(|out| out.status.success()) {
            panic!(
                "python3 not found: install Python 3.8 or newer (e.g. apt-get install python3) \
                 to run the interoperability tests"
            );
        }
    });
    let mut command = Command::new("python3");
    command.env("PYTHONPATH", root().join("interop").join("python"));
    command
}

/// The C++ compiler: `$CXX`, or `g++`. Fails the test with what to install if missing.
pub fn cxx() -> String {
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "g++".to_owned());
    match Command::new(&cxx).arg("--version").output() {
        Ok(out) if out.status.success() => cxx,
        _ => panic!(
            "{cxx} not found: install a C++14 compiler (e.g. apt-get install g++) to build the \
             C++ peer"
        ),
    }
}

/// Compiles `source` (relative to interop/cpp) with `flags` into `CARGO_TARGET_TMPDIR/cpp/name`
/// and returns the executable; fails the test with the compiler's output if that fails.
pub fn build_cpp(source: &str, name: &str, flags: &[&str]) -> PathBuf {
    build_cpp_with(&cxx(), "c++14", source, name, flags)
}

/// [`build_cpp`] with the compiler `compiler` and the language standard `std` (`-std=`).
pub fn build_cpp_with(
    compiler: &str,
    std: &str,
    source: &str,
    name: &str,
    flags: &[&str],
) -> PathBuf {
    let cpp = root().join("interop").join("cpp");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cpp");
    std::fs::create_dir_all(&dir).expect("create the C++ build directory");
    let exe = dir.join(name);
    let out = Command::new(compiler)
        .arg(format!("-std={std}"))
        .args(flags)
        .arg("-I")
        .arg(cpp.join("include"))
        .arg(cpp.join(source))
        .arg("-o")
        .arg(&exe)
        .arg("-pthread")
        .output()
        .expect("run the C++ compiler");
    assert!(
        out.status.success(),
        "building {source} with {compiler} -std={std} {flags:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    exe
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
                static PEER: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
                Command::new(PEER.get_or_init(|| build_cpp("examples/peer.cpp", "peer", &["-O2"])))
            }
        }
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
    let output = Running::start("peer as nobody", command).finish(RUN_LIMIT);
    let _ = std::fs::remove_dir_all(&dir);
    output
}
