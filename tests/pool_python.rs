//! One buffer pool shared by Rust and Python processes: references published in one language
//! and resolved in the other (binary and JSON forms), payloads of 0 bytes, 1 byte, exactly the
//! slot size and one byte more, stale references, blocked acquires woken by the other
//! language's release, and Python holders killed while they hold a slot.
//!
//! The Python side is interop/python/tests/pool_peer.py. The tests synchronise on the lines it
//! prints, on `waitpid`, on the pool's `waiters` word and the kernel's report of a thread
//! asleep in `futex`, never on sleeps. Needs `python3` (3.8 or newer) on PATH; its absence is a
//! failure, not a skip.
#![cfg(unix)]
#![cfg_attr(not(target_os = "linux"), allow(unused_imports, dead_code))]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};

use shm_ring::{BufferPool, PoolRef, PublishError, ResolveError, POOL_HOLDERS};
use support::process::{wait_until, HANG_GUARD};
use support::segment::unique_name;
use support::tools::{python3, root};

const SLOT: usize = 4096;

/// What pool_peer.py and tests/pool.rs write: `len` bytes that depend on `seed`.
fn payload(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

fn publish(pool: &BufferPool, seed: u8, len: usize) -> PoolRef {
    let mut loan = pool.try_acquire().expect("a free slot");
    loan[..len].copy_from_slice(&payload(seed, len));
    loan.publish(len as u64).expect("publish")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The string after `"key": "` in a one-line JSON report (JSON text inside it is escaped).
fn json_str(report: &str, key: &str) -> String {
    let tag = format!("\"{key}\": \"");
    let start = report
        .find(&tag)
        .unwrap_or_else(|| panic!("no {key} in {report:?}"))
        + tag.len();
    let mut out = String::new();
    let mut chars = report[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return out,
            '\\' => out.push(chars.next().expect("an escaped character")),
            c => out.push(c),
        }
    }
    panic!("no closing quote for {key} in {report:?}")
}

/// The two forms of a reference, as the peer passes them on its command line.
#[derive(Clone, Copy, Debug)]
enum Form {
    Binary,
    Json,
}

fn encode(reference: &PoolRef, form: Form) -> String {
    match form {
        Form::Binary => hex(&reference.to_bytes()),
        Form::Json => reference.to_json(),
    }
}

/// pool_peer.py running with piped stdin and stdout; killed if the test ends before it does.
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn start(args: &[&str]) -> Peer {
        let mut child = python3()
            .arg(root().join("interop/python/tests/pool_peer.py"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pool_peer.py");
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
            panic!(
                "the peer ended ({status}) without a line; stderr: {}",
                self.stderr()
            );
        }
        line.trim_end().to_owned()
    }

    fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(stderr) = self.child.stderr.as_mut() {
            let _ = std::io::Read::read_to_string(stderr, &mut text);
        }
        text
    }

    fn go_on(&mut self) {
        let stdin = self.stdin.as_mut().expect("stdin");
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the peer to exit; its status and stderr.
    fn exit(mut self) -> (std::process::ExitStatus, String) {
        drop(self.stdin.take());
        let status = self.child.wait().expect("wait for the peer");
        (status, self.stderr())
    }

    fn finish(self) {
        let (status, stderr) = self.exit();
        assert!(status.success(), "the peer failed ({status}): {stderr}");
    }

    /// SIGKILLs the peer and reaps it: once this returns, the kernel has dropped its locks.
    fn kill(&mut self) {
        self.child.kill().expect("kill the peer");
        self.child.wait().expect("reap the peer");
    }

    fn pid(&self) -> u32 {
        self.child.id()
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

/// Runs the peer to its end: its one line of output, or a panic with its stderr.
fn run(args: &[&str]) -> String {
    let mut peer = Peer::start(args);
    let line = peer.line();
    peer.finish();
    line
}

/// Runs the peer expecting it to fail: its stderr.
fn run_failing(args: &[&str]) -> String {
    let (status, stderr) = Peer::start(args).exit();
    assert_eq!(
        status.code(),
        Some(1),
        "expected a failure; stderr: {stderr}"
    );
    stderr
}

// --- payloads both ways -----------------------------------------------------------------------

#[test]
fn python_resolves_what_rust_published_and_returns_the_slot() {
    let name = unique_name("pypool-r2p");
    let pool = BufferPool::create(&name, 2, SLOT as u64).unwrap();
    for form in [Form::Binary, Form::Json] {
        for len in [0, 1, SLOT] {
            let reference = publish(&pool, len as u8, len);
            let report = run(&["resolve", &name, &encode(&reference, form)]);
            assert_eq!(
                unhex(&json_str(&report, "hex")),
                payload(len as u8, len),
                "{form:?}, {len} bytes"
            );
            // Released in the Python process: the slot is back, and the reference is spent.
            assert_eq!(pool.available(), 2, "{form:?}, {len} bytes");
            assert!(matches!(
                pool.resolve(&reference),
                Err(ResolveError::Stale { .. })
            ));
        }
    }
}

#[test]
fn rust_resolves_what_python_published() {
    let name = unique_name("pypool-p2r");
    let pool = BufferPool::create(&name, 2, SLOT as u64).unwrap();
    for form in [Form::Binary, Form::Json] {
        for len in [0, 1, SLOT] {
            let seed = (len as u8).to_string();
            let report = run(&["publish", &name, &seed, &len.to_string()]);
            let reference = match form {
                Form::Binary => PoolRef::from_bytes(&unhex(&json_str(&report, "bytes"))).unwrap(),
                Form::Json => PoolRef::from_json(&json_str(&report, "json")).unwrap(),
            };
            assert_eq!(reference.len(), len as u64);
            assert_eq!(pool.available(), 1, "the published slot is taken");
            let view = pool.resolve(&reference).unwrap();
            assert_eq!(
                &*view,
                &payload(len as u8, len)[..],
                "{form:?}, {len} bytes"
            );
            drop(view);
            assert_eq!(pool.available(), 2);
        }
    }
}

#[test]
fn one_byte_past_the_slot_is_a_clear_error_in_both_languages() {
    let name = unique_name("pypool-big");
    let pool = BufferPool::create(&name, 1, SLOT as u64).unwrap();
    let past = (SLOT + 1).to_string();
    let stderr = run_failing(&["publish", &name, "1", &past]);
    assert!(
        stderr.contains("PublishTooLargeError")
            && stderr.contains(&format!(
                "cannot publish {past} bytes from a {SLOT}-byte slot"
            )),
        "{stderr}"
    );
    assert_eq!(
        pool.available(),
        1,
        "the refused slot went back to the pool"
    );
    let loan = pool.try_acquire().unwrap();
    match loan.publish(SLOT as u64 + 1) {
        Err(PublishError::TooLarge { len, slot_size, .. }) => {
            assert_eq!((len, slot_size), (SLOT as u64 + 1, SLOT as u64))
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(pool.available(), 1);
}

// --- stale references -------------------------------------------------------------------------

#[test]
fn a_reference_to_a_recycled_slot_is_stale_in_both_languages() {
    let name = unique_name("pypool-stale");
    let pool = BufferPool::create(&name, 1, 64).unwrap();
    // Rust publishes, Python reads it; then the slot is refilled by Rust.
    let old = publish(&pool, 1, 10);
    run(&["resolve", &name, &encode(&old, Form::Binary)]);
    let new = publish(&pool, 2, 10);
    for form in [Form::Binary, Form::Json] {
        let stderr = run_failing(&["resolve", &name, &encode(&old, form)]);
        assert!(stderr.starts_with("StaleError"), "{form:?}: {stderr}");
    }
    assert!(matches!(
        pool.resolve(&old),
        Err(ResolveError::Stale { .. })
    ));
    // The new reference still reads the new payload, in Python.
    let report = run(&["resolve", &name, &encode(&new, Form::Json)]);
    assert_eq!(unhex(&json_str(&report, "hex")), payload(2, 10));

    // Python publishes, Rust reads it, and a Python publisher refills the slot.
    let report = run(&["publish", &name, "3", "10"]);
    let old = PoolRef::from_json(&json_str(&report, "json")).unwrap();
    drop(pool.resolve(&old).unwrap());
    let report = run(&["publish", &name, "4", "10"]);
    let new = PoolRef::from_json(&json_str(&report, "json")).unwrap();
    assert_eq!(new.generation(), old.generation() + 1);
    match pool.resolve(&old) {
        Err(ResolveError::Stale {
            generation,
            current,
            state,
            ..
        }) => assert_eq!(
            (generation, current, state),
            (old.generation(), new.generation(), "published")
        ),
        other => panic!("expected Stale, got {other:?}"),
    }
    assert_eq!(&*pool.resolve(&new).unwrap(), &payload(4, 10)[..]);
}

// --- exhaustion and blocking ------------------------------------------------------------------

/// Whether the main thread of process `pid` is in the futex system call.
#[cfg(target_os = "linux")]
fn process_in_futex_wait(pid: u32) -> bool {
    #[cfg(target_arch = "x86_64")]
    const FUTEX: &str = "202";
    #[cfg(target_arch = "aarch64")]
    const FUTEX: &str = "98";
    std::fs::read_to_string(format!("/proc/{pid}/syscall"))
        .map(|text| text.split_whitespace().next() == Some(FUTEX))
        .unwrap_or(false)
}

/// The pool's `waiters` word (offset 28): blocked acquirers that are about to sleep or asleep.
fn waiters(name: &str) -> u32 {
    support::raw::Raw::open(name).word(28)
}

#[cfg(target_os = "linux")]
#[test]
fn a_blocked_python_acquire_wakes_when_rust_releases() {
    let name = unique_name("pypool-pyblock");
    let pool = BufferPool::create(&name, 1, 64).unwrap();
    let loan = pool.try_acquire().unwrap();
    let generation = loan.generation();
    let stderr = run_failing(&["publish", &name, "1", "1"]);
    assert!(stderr.starts_with("PoolExhaustedError"), "{stderr}");
    let mut peer = Peer::start(&["acquire", &name]);
    wait_until(
        "the Python acquire to sleep in FUTEX_WAIT",
        HANG_GUARD,
        || waiters(&name) == 1 && process_in_futex_wait(peer.pid()),
    );
    drop(loan);
    assert_eq!(peer.line(), format!("acquired 0 {}", generation + 1));
    peer.finish();
    assert_eq!(pool.available(), 1);
}

#[cfg(target_os = "linux")]
#[test]
fn a_blocked_rust_acquire_wakes_when_python_releases() {
    use support::futex::{in_futex_wait, spawn_reporting_tid};

    let name = unique_name("pypool-rblock");
    let pool = std::sync::Arc::new(BufferPool::create(&name, 1, 64).unwrap());
    let reference = publish(&pool, 9, 64);
    let mut peer = Peer::start(&["hold", &name, &encode(&reference, Form::Json)]);
    assert_eq!(peer.line(), "resolved 64");
    assert!(pool.try_acquire().is_err(), "every slot is taken");
    let waiting = pool.clone();
    let (tid, blocked) = spawn_reporting_tid(move || {
        waiting
            .acquire(HANG_GUARD)
            .map(|loan| loan.generation())
            .map_err(|e| e.to_string())
    });
    wait_until(
        "the Rust acquire to sleep in FUTEX_WAIT",
        HANG_GUARD,
        || in_futex_wait(tid),
    );
    peer.go_on();
    assert_eq!(peer.line(), "released");
    assert_eq!(
        blocked.join().unwrap().expect("the blocked acquire"),
        reference.generation() + 1
    );
    peer.finish();
}

// --- crashes ----------------------------------------------------------------------------------

#[cfg(target_os = "linux")]
#[test]
fn a_slot_held_by_a_killed_python_reader_is_available_again() {
    let name = unique_name("pypool-rkill");
    let pool = BufferPool::create(&name, 1, 64).unwrap();
    let reference = publish(&pool, 5, 64);
    let mut peer = Peer::start(&["hold", &name, &encode(&reference, Form::Binary)]);
    assert_eq!(peer.line(), "resolved 64");
    assert!(
        pool.try_acquire().is_err(),
        "a live reader's slot was reclaimed"
    );
    assert_eq!(pool.available(), 0);
    peer.kill();
    // Reaped: its liveness lock is gone, so the next acquire reclaims the slot at once.
    let loan = pool.try_acquire().expect("the killed reader's slot");
    assert_eq!(loan.generation(), reference.generation() + 1);
    drop(loan);
    assert_eq!(pool.available(), 1);
    // And a Python acquirer reclaims such a slot just as well.
    let reference = publish(&pool, 6, 64);
    let mut peer = Peer::start(&["hold", &name, &encode(&reference, Form::Json)]);
    assert_eq!(peer.line(), "resolved 64");
    peer.kill();
    assert_eq!(
        run(&["acquire", &name]),
        format!("acquired 0 {}", reference.generation() + 1)
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_killed_python_writer_never_makes_its_slot_readable() {
    let name = unique_name("pypool-wkill");
    let pool = BufferPool::create(&name, 1, 1024).unwrap();
    let mut peer = Peer::start(&["fill-and-die", &name]);
    let line = peer.line();
    let fields: Vec<u64> = line
        .strip_prefix("filling ")
        .unwrap_or_else(|| panic!("{line}"))
        .split(' ')
        .map(|f| f.parse().unwrap())
        .collect();
    let (slot, generation, half) = (fields[0] as u32, fields[1], fields[2]);
    peer.kill();
    for len in [0, half, 1024] {
        let forged = PoolRef::new(&name, slot, generation, len).unwrap();
        match pool.resolve(&forged) {
            Err(ResolveError::NotPublished { generation: g, .. }) => assert_eq!(g, generation),
            other => panic!("len {len}: expected NotPublished, got {other:?}"),
        }
    }
    // A Python process that opens the pool now takes the dead writer's holder entry, and
    // frees the slot it left before anything else: the half-filled generation is stale.
    let forged = PoolRef::new(&name, slot, generation, half).unwrap();
    let stderr = run_failing(&["resolve", &name, &encode(&forged, Form::Json)]);
    assert!(stderr.starts_with("StaleError"), "{stderr}");
    assert_eq!(pool.available(), 1);
    let loan = pool
        .try_acquire()
        .expect("the dead writer's slot, reclaimed");
    assert_eq!((loan.slot(), loan.generation()), (slot, generation + 1));
    drop(loan);
    let forged = PoolRef::new(&name, slot, generation, half).unwrap();
    assert!(matches!(
        pool.resolve(&forged),
        Err(ResolveError::Stale { .. })
    ));
}

/// Rust and Python handles claim entries of one holder table: a Rust handle that opens the
/// pool after a Python writer died takes the dead writer's entry and frees its slot first, and
/// a Python handle is refused, naming the count, when Rust handles hold every entry.
#[cfg(target_os = "linux")]
#[test]
fn rust_and_python_handles_share_one_holder_table() {
    let name = unique_name("pypool-holders");
    let pool = BufferPool::create(&name, 1, 1024).unwrap();
    let mut peer = Peer::start(&["fill-and-die", &name]);
    let line = peer.line();
    assert!(line.starts_with("filling "), "{line}");
    let info = shm_ring::inspect(&name).unwrap().pool.unwrap();
    assert_eq!(info.live_holders, Some(2));
    peer.kill();
    assert_eq!(pool.available(), 0);
    let reused = BufferPool::open(&name).unwrap();
    assert_eq!(
        pool.available(),
        1,
        "the new holder of the entry adopted the dead Python writer's slot"
    );
    let mut handles = vec![reused];
    while handles.len() + 1 < POOL_HOLDERS as usize {
        handles.push(BufferPool::open(&name).unwrap());
    }
    let stderr = run_failing(&["acquire", &name]);
    assert!(
        stderr.starts_with("PoolHoldersFullError") && stderr.contains(&POOL_HOLDERS.to_string()),
        "{stderr}"
    );
    handles.pop();
    assert_eq!(run(&["acquire", &name]), "acquired 0 2");
}

// --- the JSON form ----------------------------------------------------------------------------

#[test]
fn rust_and_python_write_the_same_json() {
    let cases = [
        ("frames", 0, 0, 0),
        ("a", 3, 17, 1024),
        (
            "srp-0000abcd0123456789ab",
            u32::MAX,
            (1 << 53) + 1,
            u64::MAX,
        ),
        ("x.y_z-9", 65_535, (1 << 56) - 1, (1 << 46) + 3),
    ];
    for (pool, slot, generation, len) in cases {
        let reference = PoolRef::new(pool, slot, generation, len).unwrap();
        let python = run(&[
            "to-json",
            pool,
            &slot.to_string(),
            &generation.to_string(),
            &len.to_string(),
        ]);
        assert_eq!(python, reference.to_json());
        assert_eq!(PoolRef::from_json(&python).unwrap(), reference);
    }
}

#[test]
fn rust_and_python_accept_and_refuse_the_same_json() {
    let good =
        r#"{"format":"shm_ring.pool_ref","version":1,"pool":"p","slot":1,"generation":2,"len":3}"#;
    // The first `ACCEPTED` are valid; every other one is refused.
    const ACCEPTED: usize = 4;
    let documents = [
        good.to_owned(),
        // Order and white space do not matter.
        r#" { "len": 3, "generation": 2, "slot": 1, "pool": "p", "version": 1, "format": "shm_ring.pool_ref" } "#.to_owned(),
        // Exact integers above 2^53.
        good.replace(r#""len":3"#, r#""len":18446744073709551615"#),
        good.replace(r#""generation":2"#, r#""generation":9007199254740993"#),
        // Everything below is refused.
        good.replace(r#""len":3"#, r#""len":18446744073709551616"#),
        good.replace(r#""generation":2"#, r#""generation":72057594037927936"#),
        good.replace(r#""slot":1"#, r#""slot":4294967296"#),
        good.replace(r#""slot":1"#, r#""slot":1.0"#),
        good.replace(r#""slot":1"#, r#""slot":1e0"#),
        good.replace(r#""slot":1"#, r#""slot":-1"#),
        good.replace(r#""slot":1"#, r#""slot":-0"#),
        good.replace(r#""slot":1"#, r#""slot":01"#),
        good.replace(r#""slot":1"#, r#""slot":"1""#),
        good.replace(r#""slot":1"#, r#""slot":true"#),
        good.replace(r#""slot":1"#, r#""slot":null"#),
        good.replace(r#""version":1"#, r#""version":2"#),
        good.replace(r#""version":1"#, r#""version":1.5"#),
        good.replace(r#""format":"shm_ring.pool_ref""#, r#""format":"other""#),
        good.replace(r#""pool":"p""#, r#""pool":"/p""#),
        good.replace(r#""pool":"p""#, r#""pool":"a/b""#),
        good.replace(r#""pool":"p""#, r#""pool":"""#),
        good.replace(r#""pool":"p""#, r#""pool":"0123456789012345678901234567890""#),
        good.replace(r#","len":3"#, ""),
        good.replace(r#""len":3"#, r#""len":3,"extra":0"#),
        good.replace(r#""len":3"#, r#""len":3,"len":4"#),
        good.replace('}', ""),
        "[]".to_owned(),
        "null".to_owned(),
        String::new(),
    ];
    let mut peer = Peer::start(&["from-json"]);
    {
        let stdin = peer.stdin.as_mut().unwrap();
        for document in &documents {
            writeln!(stdin, "{document}").unwrap();
        }
    }
    drop(peer.stdin.take());
    for (index, document) in documents.iter().enumerate() {
        let python = peer.line();
        let rust = PoolRef::from_json(document);
        assert_eq!(rust.is_ok(), index < ACCEPTED, "{document}: {rust:?}");
        match &rust {
            Ok(reference) => {
                assert_eq!(python, format!("ok {}", reference.to_json()), "{document}")
            }
            Err(error) => assert!(
                python.starts_with("error "),
                "Rust refuses {document} ({error}), Python says {python}"
            ),
        }
    }
    peer.finish();
}
