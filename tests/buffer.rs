//! Shared buffers across processes and languages: Rust and Python reading what the other
//! wrote, the torn-read test (a writer alternating two payloads at full speed, a reader in
//! another process), and hostile headers.
//!
//! Needs `python3` (3.8 or newer) on PATH; its absence is a failure, not a skip.

#![cfg_attr(not(target_os = "linux"), allow(unused_imports, dead_code))]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use proptest::prelude::*;
use shm_ring::{
    BufferOpenError, BufferReadError, BufferWriteError, SharedBuffer, MAX_BUFFER_CAPACITY,
};
use support::raw::Raw;
use support::tools::{python3, root};

/// Payload A of the torn-read test: `LEN_A` bytes of 0xA5; payload B: `LEN_B` bytes of 0x5A.
const LEN_A: usize = 1000;
const LEN_B: usize = 3000;

fn name(what: &str) -> String {
    format!("buf-{what}-{}", std::process::id())
}

/// The bytes the Python peer's `write` command writes.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + 3) & 0xff) as u8).collect()
}

fn peer(args: &[&str]) -> Command {
    let mut command = python3();
    command
        .arg(root().join("interop/python/tests/buffer_peer.py"))
        .args(args);
    command
}

/// The unsigned number after `"key":` in a one-line JSON report.
fn json_u64(report: &str, key: &str) -> u64 {
    let tag = format!("\"{key}\":");
    let start = report
        .find(&tag)
        .unwrap_or_else(|| panic!("no {key} in {report:?}"))
        + tag.len();
    let digits: String = report[start..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("{key} in {report:?}"))
}

/// The string after `"key": "` in a one-line JSON report.
fn json_str<'a>(report: &'a str, key: &str) -> &'a str {
    let tag = format!("\"{key}\": \"");
    let start = report
        .find(&tag)
        .unwrap_or_else(|| panic!("no {key} in {report:?}"))
        + tag.len();
    let end = report[start..].find('"').expect("closing quote") + start;
    &report[start..end]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A child peer with piped stdin and stdout, killed if the test fails before it ends.
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn start(mut command: Command) -> Peer {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the peer");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Peer {
            child,
            stdin,
            stdout,
        }
    }

    /// The next line the peer prints; panics with its stderr if it ended instead.
    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read the peer");
        if line.is_empty() {
            let status = self.child.wait().expect("wait for the peer");
            let mut stderr = String::new();
            std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut stderr)
                .unwrap();
            panic!("the peer ended ({status}) without a line; stderr: {stderr}");
        }
        line.trim_end().to_owned()
    }

    /// Sends one line, then waits for the peer to exit successfully.
    fn finish(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let status = self.child.wait().expect("wait for the peer");
        assert!(status.success(), "the peer failed: {status}");
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// --- Rust <-> Python ------------------------------------------------------------------------

const CAPACITY: u64 = 4096;

// Needs python3, and under Wine there is no Windows Python to run (README, Limits).
#[cfg(unix)]
#[test]
fn python_reads_what_rust_wrote() {
    for len in [0, 1, CAPACITY as usize] {
        let name = name(&format!("r2p-{len}"));
        let mut buffer = SharedBuffer::create(&name, CAPACITY).unwrap();
        let payload = pattern(len);
        assert_eq!(buffer.write(&payload).unwrap(), len as u64);
        let out = peer(&["read", &name]).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let report = String::from_utf8(out.stdout).unwrap();
        assert_eq!(json_u64(&report, "len"), len as u64, "{report}");
        assert_eq!(json_str(&report, "hex"), hex(&payload), "{len} bytes");
    }
}

#[test]
fn rust_refuses_a_payload_one_byte_past_the_capacity() {
    let mut buffer = SharedBuffer::create(&name("over"), CAPACITY).unwrap();
    buffer.write(b"kept").unwrap();
    match buffer.write(&pattern(CAPACITY as usize + 1)) {
        Err(BufferWriteError::TooLarge { len, capacity, .. }) => {
            assert_eq!((len, capacity), (CAPACITY + 1, CAPACITY))
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(buffer.read().unwrap(), b"kept");
}

// Needs python3, and under Wine there is no Windows Python to run (README, Limits).
#[cfg(unix)]
#[test]
fn python_reads_a_buffer_rust_created_with_its_payload() {
    for len in [0, 1, CAPACITY as usize] {
        let name = name(&format!("filled-{len}"));
        let payload = pattern(len);
        let mut buffer = SharedBuffer::create_filled(&name, CAPACITY, &payload).unwrap();
        let out = peer(&["read", &name]).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let report = String::from_utf8(out.stdout).unwrap();
        assert_eq!(json_u64(&report, "len"), len as u64, "{report}");
        assert_eq!(json_str(&report, "hex"), hex(&payload), "{len} bytes");
        buffer.write(b"next").unwrap(); // the creator goes on writing as usual
        assert_eq!(SharedBuffer::open(&name).unwrap().read().unwrap(), b"next");
    }
    let over = name("filled-over");
    match SharedBuffer::create_filled(&over, CAPACITY, &pattern(CAPACITY as usize + 1)) {
        Err(BufferOpenError::PayloadTooLarge { len, capacity }) => {
            assert_eq!((len, capacity), (CAPACITY + 1, CAPACITY))
        }
        other => panic!("expected PayloadTooLarge, got {other:?}"),
    }
    assert!(matches!(
        SharedBuffer::open(&over),
        Err(BufferOpenError::NotFound { .. })
    ));
}

/// A Python reader spins on opening each new buffer's name while Rust creates it with a
/// 16 MiB payload: it must find it missing or not ready until the payload is whole, never
/// part of it or none of it.
// Needs python3, and under Wine there is no Windows Python to run (README, Limits).
#[cfg(unix)]
#[test]
fn a_reader_opening_a_fresh_buffer_early_sees_its_whole_payload() {
    const ROUNDS: usize = 6;
    const LEN: usize = 16 << 20;
    let base = name("early");
    let ramp: Vec<u8> = (0..LEN).map(|i| i as u8).collect();
    let mut reader = Peer::start(peer(&[
        "early-read",
        &base,
        &ROUNDS.to_string(),
        &LEN.to_string(),
    ]));
    assert_eq!(reader.line(), "ready");
    for round in 0..ROUNDS {
        let buffer =
            SharedBuffer::create_filled(&format!("{base}-{round}"), LEN as u64, &ramp).unwrap();
        assert_eq!(reader.line(), "whole", "round {round}");
        drop(buffer);
    }
    reader.finish();
}

// Needs python3, and under Wine there is no Windows Python to run (README, Limits).
#[cfg(unix)]
#[test]
fn rust_reads_what_python_wrote() {
    for len in [0, 1, CAPACITY as usize] {
        let name = name(&format!("p2r-{len}"));
        let mut writer = Peer::start(peer(&[
            "write",
            &name,
            &CAPACITY.to_string(),
            &len.to_string(),
        ]));
        assert_eq!(writer.line(), "ready");
        let reader = SharedBuffer::open(&name).unwrap();
        assert_eq!(reader.capacity(), CAPACITY);
        assert_eq!(reader.data_len().unwrap(), len as u64);
        assert_eq!(reader.read().unwrap(), pattern(len), "{len} bytes");
        // SAFETY: nothing writes the buffer until this loop's next round.
        let view = unsafe { reader.read_in_place() }.unwrap();
        assert_eq!(&*view, &pattern(len)[..]);
        view.verify().unwrap();
        writer.finish();
    }
}

// Needs python3, and under Wine there is no Windows Python to run (README, Limits).
#[cfg(unix)]
#[test]
fn python_refuses_a_payload_one_byte_past_the_capacity() {
    let name = name("p-over");
    let out = peer(&[
        "write",
        &name,
        &CAPACITY.to_string(),
        &(CAPACITY + 1).to_string(),
    ])
    .stdin(Stdio::null())
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("PayloadTooLargeError: a 4097-byte payload does not fit")
            && stderr.contains("capacity is 4096 bytes"),
        "{stderr}"
    );
}

// --- torn reads -----------------------------------------------------------------------------

/// What a reader saw: whole copies of A and of B, and anything else (must stay 0).
#[derive(Debug, Default)]
struct Seen {
    a: u64,
    b: u64,
    bad: u64,
    contended: u64,
}

impl Seen {
    fn count(&mut self, result: Result<Vec<u8>, BufferReadError>) {
        match result {
            Ok(data) if data.len() == LEN_A && data.iter().all(|&b| b == 0xa5) => self.a += 1,
            Ok(data) if data.len() == LEN_B && data.iter().all(|&b| b == 0x5a) => self.b += 1,
            Ok(_) => self.bad += 1,
            Err(BufferReadError::Contended { .. }) => self.contended += 1,
            Err(other) => panic!("unexpected read error: {other}"),
        }
    }

    fn done(&self, wanted: u64) -> bool {
        self.bad > 0 || (self.a >= wanted && self.b >= wanted)
    }
}

/// Writes A and B in turn, as fast as it can, until `stop`; returns the number of writes.
fn spawn_writer(
    mut buffer: SharedBuffer,
    stop: Arc<AtomicBool>,
    writes: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let payloads = [vec![0xa5u8; LEN_A], vec![0x5au8; LEN_B]];
        let mut count = 0u64;
        while !stop.load(Ordering::Relaxed) {
            buffer.write(&payloads[(count & 1) as usize]).unwrap();
            count += 1;
        }
        writes.store(count, Ordering::Relaxed);
    })
}

/// How many whole copies of each payload a reader must see: bounded by counts, not time.
const WANTED_RUST: u64 = 20_000;
const WANTED_PYTHON: u64 = 500;

/// The reader half of `a_rust_reader_in_another_process_never_sees_a_torn_payload`, run in a
/// child process of the test binary.
#[test]
#[ignore = "the reader process of the torn-read test; run by it"]
fn torn_read_child() {
    let name = std::env::var("SHM_BUFFER_TORN_NAME").expect("started by the torn-read test");
    let reader = SharedBuffer::open(&name).unwrap();
    let mut seen = Seen::default();
    while !seen.done(WANTED_RUST) {
        seen.count(reader.read());
    }
    println!(
        "torn-read-report a={} b={} bad={} contended={}",
        seen.a, seen.b, seen.bad, seen.contended
    );
}

#[test]
fn a_rust_reader_in_another_process_never_sees_a_torn_payload() {
    let name = name("torn-rr");
    let buffer = SharedBuffer::create(&name, LEN_B as u64).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = spawn_writer(buffer, stop.clone(), writes.clone());
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["torn_read_child", "--exact", "--ignored", "--nocapture"])
        .env("SHM_BUFFER_TORN_NAME", &name);
    let mut reader = Peer::start(command);
    let report = loop {
        let line = reader.line();
        if let Some(report) = line.strip_prefix("torn-read-report ") {
            break report.to_owned();
        }
    };
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    reader.finish();
    let field = |key: &str| -> u64 {
        report
            .split(' ')
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {report:?}"))
    };
    println!(
        "Rust reader: {report}; the writer wrote {} times",
        writes.load(Ordering::Relaxed)
    );
    assert_eq!(field("bad"), 0, "torn or mixed reads: {report}");
    assert!(
        field("a") >= WANTED_RUST && field("b") >= WANTED_RUST,
        "{report}"
    );
}

// Needs python3, and under Wine there is no Windows Python to run (README, Limits).
#[cfg(unix)]
#[test]
fn a_python_reader_never_sees_a_torn_payload_from_a_rust_writer() {
    let name = name("torn-rp");
    let buffer = SharedBuffer::create(&name, LEN_B as u64).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = spawn_writer(buffer, stop.clone(), writes.clone());
    let mut reader = Peer::start(peer(&[
        "torn-read",
        &name,
        &WANTED_PYTHON.to_string(),
        &LEN_A.to_string(),
        &LEN_B.to_string(),
    ]));
    let report = reader.line();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    reader.finish();
    println!(
        "Python reader: {report}; the Rust writer wrote {} times",
        writes.load(Ordering::Relaxed)
    );
    assert_eq!(json_u64(&report, "bad"), 0, "torn or mixed reads: {report}");
    assert!(json_u64(&report, "a") >= WANTED_PYTHON && json_u64(&report, "b") >= WANTED_PYTHON);
}

// Needs python3, and under Wine there is no Windows Python to run (README, Limits).
#[cfg(unix)]
#[test]
fn a_rust_reader_never_sees_a_torn_payload_from_a_python_writer() {
    let name = name("torn-pr");
    let mut writer = Peer::start(peer(&[
        "torn-write",
        &name,
        &LEN_A.to_string(),
        &LEN_B.to_string(),
    ]));
    assert_eq!(writer.line(), "ready");
    let reader = SharedBuffer::open(&name).unwrap();
    let mut seen = Seen::default();
    let mut views = (0u64, 0u64); // borrows verified whole, borrows reported overwritten
    while !seen.done(WANTED_PYTHON) {
        seen.count(reader.read());
        // The borrowing read: a verified view is whole, or the overlap is reported.
        // SAFETY: the writer runs on, so this breaks `read_in_place`'s contract on
        // purpose, to show that `verify` reports every overlap; the bytes read are only
        // copied and compared, and nothing derived from an unverified copy is kept.
        if let Ok(view) = unsafe { reader.read_in_place() } {
            let copy = view.to_vec();
            match view.verify() {
                Ok(()) => {
                    views.0 += 1;
                    seen.count(Ok(copy));
                }
                Err(BufferReadError::Overwritten { .. }) => views.1 += 1,
                Err(other) => panic!("{other}"),
            }
        }
    }
    let mut stdin = writer.stdin.take().unwrap();
    stdin.write_all(b"stop\n").unwrap();
    let report = writer.line();
    drop(stdin);
    writer.finish();
    println!(
        "Rust reader of a Python writer: {seen:?}; views whole {}, overwritten {}; writer {report}",
        views.0, views.1
    );
    assert_eq!(seen.bad, 0, "torn or mixed reads: {seen:?}");
}

// --- hostile segments -----------------------------------------------------------------------

/// A segment of `size` bytes whose header says what the arguments say.
fn hostile(name: &str, size: u64, magic: &[u8; 4], version: u32, capacity: u64) -> Raw {
    let raw = Raw::create(name, size);
    if size >= 64 {
        raw.set_bytes(0, magic);
        raw.set_bytes(4, &version.to_le_bytes());
        raw.set_bytes(8, &capacity.to_le_bytes());
    }
    raw
}

// Sizes below a page and a name made again while an earlier handle of it is open: Windows
// keeps a mapping's size in whole pages and a held name cannot be made again (the header
// checks themselves are the same code there, tested in tests/windows_shared.rs).
#[cfg(unix)]
#[test]
fn hostile_headers_are_typed_errors() {
    let n = name("hostile");
    let _raw = hostile(&n, 0, b"SRBF", 1, 0);
    assert!(matches!(
        SharedBuffer::open(&n),
        Err(BufferOpenError::NotReady { .. })
    ));
    let _raw = hostile(&n, 40, b"SRBF", 1, 8);
    assert!(matches!(
        SharedBuffer::open(&n),
        Err(BufferOpenError::TooSmall { size: 40, .. })
    ));
    let _raw = hostile(&n, 64 + 16, b"SRX1", 1, 16);
    match SharedBuffer::open(&n) {
        Err(e @ BufferOpenError::WrongMagic { found, .. }) => {
            assert_eq!(found, u32::from_le_bytes(*b"SRX1"));
            assert!(e.to_string().contains("is not a shared buffer"), "{e}");
        }
        other => panic!("expected WrongMagic, got {other:?}"),
    }
    let _raw = hostile(&n, 64 + 16, b"SRBF", 2, 16);
    assert!(matches!(
        SharedBuffer::open(&n),
        Err(BufferOpenError::UnsupportedVersion {
            found: 2,
            supported: 1,
            ..
        })
    ));
    for capacity in [0, MAX_BUFFER_CAPACITY + 1, u64::MAX] {
        let _raw = hostile(&n, 64 + 16, b"SRBF", 1, capacity);
        match SharedBuffer::open(&n) {
            Err(BufferOpenError::InvalidCapacity { capacity: c, .. }) => assert_eq!(c, capacity),
            other => panic!("capacity {capacity}: expected InvalidCapacity, got {other:?}"),
        }
    }
    // A segment smaller than its header says: nothing beyond it is mapped.
    let _raw = hostile(&n, 64 + 500, b"SRBF", 1, 1 << 40);
    assert!(matches!(
        SharedBuffer::open(&n),
        Err(BufferOpenError::CapacityExceedsSize {
            capacity: 1099511627776,
            size: 564,
            ..
        })
    ));
}

#[test]
fn a_length_word_past_the_capacity_is_a_typed_error() {
    let n = name("length");
    let raw = hostile(&n, 64 + 16, b"SRBF", 1, 16);
    raw.set_bytes(24, &17u64.to_le_bytes());
    let reader = SharedBuffer::open(&n).unwrap();
    for result in [
        reader.read().map(drop),
        // SAFETY: no byte is read through a view.
        unsafe { reader.read_in_place() }.map(drop),
        reader.data_len().map(drop),
    ] {
        match result {
            Err(BufferReadError::LengthExceedsCapacity {
                length: 17,
                capacity: 16,
                ..
            }) => {}
            other => panic!("expected LengthExceedsCapacity, got {other:?}"),
        }
    }
    raw.set_bytes(24, &u64::MAX.to_le_bytes());
    assert!(matches!(
        reader.read(),
        Err(BufferReadError::LengthExceedsCapacity {
            length: u64::MAX,
            ..
        })
    ));
}

#[test]
fn an_odd_sequence_without_a_writer_is_writer_gone_until_the_next_write() {
    let n = name("gone");
    let raw = hostile(&n, 64 + 16, b"SRBF", 1, 16);
    raw.set_bytes(16, &7u64.to_le_bytes()); // a writer died mid-write
    let mut buffer = SharedBuffer::open(&n).unwrap();
    assert!(matches!(
        buffer.read(),
        Err(BufferReadError::WriterGone { sequence: 7, .. })
    ));
    assert!(matches!(
        // SAFETY: no view is made (the read fails).
        unsafe { buffer.read_in_place() },
        Err(BufferReadError::WriterGone { sequence: 7, .. })
    ));
    // The next writer finishes the dead one's write.
    buffer.write(b"whole").unwrap();
    assert_eq!(buffer.read().unwrap(), b"whole");
    // SAFETY: no byte is read through the view.
    assert_eq!(unsafe { buffer.read_in_place() }.unwrap().sequence(), 8);
}

#[test]
fn a_second_writer_is_refused_while_the_first_lives() {
    let n = name("writers");
    let owner = SharedBuffer::create(&n, 16).unwrap();
    let mut other = SharedBuffer::open(&n).unwrap();
    assert!(matches!(
        other.write(b"x"),
        Err(BufferWriteError::WriterInUse { .. })
    ));
    drop(owner); // removes the name on POSIX; the opened handle keeps the memory
    other.write(b"now mine").unwrap();
    assert_eq!(other.read().unwrap(), b"now mine");
    // A Windows mapping keeps its name while any handle to it is open.
    #[cfg(unix)]
    assert!(matches!(
        SharedBuffer::open(&n),
        Err(BufferOpenError::NotFound { .. })
    ));
    #[cfg(windows)]
    assert_eq!(SharedBuffer::open(&n).unwrap().read().unwrap(), b"now mine");
}

// Permission bits are POSIX's; Windows objects get an owner-only security descriptor.
#[cfg(unix)]
#[test]
fn a_buffer_is_created_0600_and_its_live_owner_is_never_replaced() {
    let n = name("mode");
    let buffer = SharedBuffer::create(&n, 16).unwrap();
    assert_eq!(Raw::open(&n).mode() & 0o777, 0o600);
    assert!(matches!(
        SharedBuffer::create(&n, 16),
        Err(BufferOpenError::InUse { .. })
    ));
    assert!(matches!(
        shm_ring::remove(&n),
        Err(shm_ring::OpenError::InUse { .. })
    ));
    drop(buffer);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any header bytes and any size: open and read return a value or a typed error.
    #[test]
    fn any_header_is_handled_without_panic(
        header in proptest::collection::vec(any::<u8>(), 64),
        valid_prefix in any::<bool>(),
        extra in 0u64..256,
    ) {
        let n = name("prop");
        let raw = Raw::create(&n, 64 + extra);
        raw.set_bytes(0, &header);
        if valid_prefix {
            raw.set_bytes(0, b"SRBF");
            raw.set_bytes(4, &1u32.to_le_bytes());
            raw.set_bytes(8, &(header[8] as u64 % 300).to_le_bytes());
        }
        if let Ok(buffer) = SharedBuffer::open(&n) {
            let len = buffer.read().map(|data| data.len() as u64);
            if let Ok(len) = len {
                prop_assert!(len <= buffer.capacity());
            }
            // SAFETY: no byte is read through the view, and nothing writes meanwhile.
            let _ = unsafe { buffer.read_in_place() }.map(|view| view.len());
        }
    }
}
