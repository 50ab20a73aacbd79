//! The `blob` programs (the Rust example and `python3 -m shm_ring.blob`) in every direction,
//! their error exits, and shared-buffer descriptors and acknowledgements across processes.
//!
//! The LZ4 cases with a Python end need Python's `lz4` package. .ci/run installs it and sets
//! SHM_RING_REQUIRE_LZ4=1, which makes its absence a failure; elsewhere those cases are
//! reported as skipped, saying what to install.
#![cfg(all(unix, feature = "json"))]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use shm_ring::SharedBuffer;
use support::process::{output_text, HANG_GUARD};
use support::raw::Raw;
use support::segment::exists;
use support::tools::{example, python3, target_tmpdir};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Lang {
    Rust,
    Python,
}

const LANGS: [Lang; 2] = [Lang::Rust, Lang::Python];

/// The blob program of `lang`, with `args`.
fn blob(lang: Lang, args: &[&str]) -> Command {
    let mut command = match lang {
        Lang::Rust => Command::new(example("blob")),
        Lang::Python => {
            let mut command = python3();
            command.args(["-m", "shm_ring.blob"]);
            command
        }
    };
    command.args(args);
    command
}

/// Whether Python's `lz4` package is installed; where SHM_RING_REQUIRE_LZ4=1, its absence
/// fails the test.
fn python_has_lz4() -> bool {
    let found = python3()
        .args(["-c", "import lz4.block"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        let message = "the Python package lz4 is not installed: pip install lz4 (or \
                       pip install ./interop/python[lz4]; .ci/run installs it)";
        assert!(
            std::env::var("SHM_RING_REQUIRE_LZ4").as_deref() != Ok("1"),
            "{message}"
        );
        eprintln!("skipped: {message}; the LZ4 cases with a Python end did not run");
    }
    found
}

/// A file under the target directory holding `data`.
fn file_with(tag: &str, data: &[u8]) -> PathBuf {
    let dir = target_tmpdir().join("blob");
    std::fs::create_dir_all(&dir).expect("make the scratch directory");
    let path = dir.join(format!("{}-{tag}", std::process::id()));
    std::fs::write(&path, data).expect("write the scratch file");
    path
}

/// A `blob write` process whose first line (the descriptor) has been read.
struct Writer {
    child: Child,
    stdout: BufReader<ChildStdout>,
    descriptor: String,
}

impl Writer {
    fn start(lang: Lang, args: &[&str]) -> Writer {
        let mut child = blob(lang, args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {lang:?} blob writer: {e}"));
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut descriptor = String::new();
        stdout
            .read_line(&mut descriptor)
            .expect("read the descriptor line");
        let mut writer = Writer {
            child,
            stdout,
            descriptor: String::new(),
        };
        if !descriptor.ends_with('\n') {
            let output = writer.finish();
            panic!(
                "the {lang:?} blob writer printed no descriptor line: {}",
                output_text(&output)
            );
        }
        writer.descriptor = descriptor.trim_end().to_owned();
        writer
    }

    fn segment(&self) -> String {
        let value: serde_json::Value =
            serde_json::from_str(&self.descriptor).expect("the descriptor is JSON");
        value["segment"].as_str().expect("a segment").to_owned()
    }

    /// Waits for the writer to exit (killing it after the hang guard) and returns its output
    /// after the descriptor line.
    fn finish(mut self) -> Output {
        let deadline = Instant::now() + HANG_GUARD;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the writer") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let mut stderr = Vec::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    let _ = pipe.read_to_end(&mut stderr);
                }
                panic!(
                    "the blob writer did not exit within {HANG_GUARD:?}; killed it. stderr: {}",
                    String::from_utf8_lossy(&stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let mut stdout = Vec::new();
        let _ = self.stdout.read_to_end(&mut stdout);
        let mut stderr = Vec::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_end(&mut stderr);
        }
        Output {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha256_hex(data: &[u8]) -> String {
    hmac_sha256::Hash::hash(data)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Asserts a failed run: exit status 1, nothing on stdout, one line on stderr containing
/// each of `words`. Returns that line.
fn assert_one_line_failure(what: &str, output: &Output, words: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{what}: expected exit 1: {}",
        output_text(output)
    );
    assert!(
        output.stdout.is_empty(),
        "{what}: wrote to stdout: {}",
        output_text(output)
    );
    assert!(
        stderr.ends_with('\n') && stderr.matches('\n').count() == 1,
        "{what}: stderr is not one line: {stderr:?}"
    );
    for word in words {
        assert!(
            stderr.contains(word),
            "{what}: {stderr:?} does not say {word:?}"
        );
    }
    stderr.trim_end().to_owned()
}

/// Payloads: empty, one byte, compressible, incompressible.
fn payloads() -> Vec<(&'static str, Vec<u8>)> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let noise = (0..65_536)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    vec![
        ("empty", Vec::new()),
        ("one", vec![42]),
        ("text", b"vertex 1.0 2.0 3.0\n".repeat(10_000)),
        ("noise", noise),
    ]
}

#[test]
fn every_direction_hands_over_the_bytes_with_and_without_lz4() {
    let python_lz4 = python_has_lz4();
    let mut runs = 0;
    for writer_lang in LANGS {
        for reader_lang in LANGS {
            for lz4 in [false, true] {
                if lz4
                    && !python_lz4
                    && (writer_lang == Lang::Python || reader_lang == Lang::Python)
                {
                    continue;
                }
                for (i, (tag, payload)) in payloads().into_iter().enumerate() {
                    let what = format!("{writer_lang:?} -> {reader_lang:?}, lz4 {lz4}, {tag}");
                    let file = file_with(tag, &payload);
                    let mut args = vec!["write", "--kind", "Geometry", "--source", "Maya"];
                    if lz4 {
                        args.push("--lz4");
                    }
                    let file_arg = file.to_str().unwrap().to_owned();
                    args.push(&file_arg);
                    let writer = Writer::start(writer_lang, &args);
                    let value: serde_json::Value =
                        serde_json::from_str(&writer.descriptor).unwrap();
                    assert_eq!(value["kind"], "Geometry", "{what}");
                    assert_eq!(value["source"], "Maya", "{what}");
                    assert_eq!(value["length"], payload.len() as u64, "{what}");
                    let compressed = value["compression"] == "lz4";
                    assert_eq!(compressed, lz4 && (*tag == *"text"), "{what}: {value}");
                    // Alternate how the reader is asked: payload or digest, text or @FILE.
                    let descriptor_file =
                        file_with(&format!("{tag}.json"), writer.descriptor.as_bytes());
                    let at_file = format!("@{}", descriptor_file.display());
                    let descriptor_arg = if i % 2 == 0 {
                        writer.descriptor.clone()
                    } else {
                        at_file
                    };
                    let sha256 = i % 2 == 1 || i == 2;
                    let mut read_args = vec!["read"];
                    if sha256 {
                        read_args.push("--sha256");
                    }
                    read_args.push(&descriptor_arg);
                    let read = blob(reader_lang, &read_args)
                        .output()
                        .expect("run the reader");
                    assert!(
                        read.status.success(),
                        "{what}: reader failed: {}",
                        output_text(&read)
                    );
                    assert!(read.stderr.is_empty(), "{what}: {}", output_text(&read));
                    if sha256 {
                        assert_eq!(
                            String::from_utf8_lossy(&read.stdout),
                            format!("{}\n", sha256_hex(&payload)),
                            "{what}"
                        );
                    } else {
                        assert!(read.stdout == payload, "{what}: another payload came out");
                    }
                    let segment = writer.segment();
                    let done = writer.finish();
                    assert!(
                        done.status.success(),
                        "{what}: writer: {}",
                        output_text(&done)
                    );
                    assert!(
                        done.stderr.is_empty() && done.stdout.is_empty(),
                        "{what}: {}",
                        output_text(&done)
                    );
                    assert!(!exists(&segment), "{what}: the writer left {segment}");
                    runs += 1;
                }
            }
        }
    }
    println!("{runs} hand-overs");
}

#[test]
fn keep_leaves_the_segment_and_exits_at_once() {
    for lang in LANGS {
        let file = file_with("keep", b"kept bytes");
        let output = blob(lang, &["write", "--keep", file.to_str().unwrap()])
            .output()
            .expect("run the writer");
        assert!(
            output.status.success(),
            "{lang:?}: {}",
            output_text(&output)
        );
        let descriptor = String::from_utf8(output.stdout).unwrap();
        assert!(descriptor.ends_with('\n') && descriptor.matches('\n').count() == 1);
        let value: serde_json::Value = serde_json::from_str(&descriptor).unwrap();
        let segment = value["segment"].as_str().unwrap().to_owned();
        let _removes = support::segment::Removes(segment.clone());
        assert!(exists(&segment), "{lang:?}: --keep removed {segment}");
        for reader in LANGS {
            let read = blob(reader, &["read", descriptor.trim_end()])
                .output()
                .unwrap();
            assert!(read.status.success(), "{reader:?}: {}", output_text(&read));
            assert_eq!(read.stdout, b"kept bytes");
        }
    }
}

#[test]
fn failures_exit_1_with_one_line_on_stderr() {
    let file = file_with("fail", &[9; 1000]);
    let file = file.to_str().unwrap();
    for lang in LANGS {
        // A payload left in place, then tampered with.
        let kept = blob(lang, &["write", "--keep", file]).output().unwrap();
        assert!(kept.status.success(), "{}", output_text(&kept));
        let descriptor = String::from_utf8(kept.stdout)
            .unwrap()
            .trim_end()
            .to_owned();
        let mut value: serde_json::Value = serde_json::from_str(&descriptor).unwrap();
        let segment = value["segment"].as_str().unwrap().to_owned();
        let _removes = support::segment::Removes(segment.clone());
        Raw::open(&segment).set_bytes(64 + 10, &[0]);
        let failures: Vec<(&str, Vec<String>, Vec<&str>)> = vec![
            ("no command", vec![], vec![]),
            ("unknown command", vec!["send".into()], vec![]),
            (
                "unknown flag",
                vec!["read".into(), "--bogus".into(), "{}".into()],
                vec!["bogus"],
            ),
            ("write without a file", vec!["write".into()], vec![]),
            (
                "missing file",
                vec!["write".into(), "/nonexistent/blob".into()],
                vec!["/nonexistent/blob"],
            ),
            (
                "bad kind",
                vec![
                    "write".into(),
                    "--kind".into(),
                    "two words".into(),
                    file.into(),
                ],
                vec!["kind"],
            ),
            (
                "not JSON",
                vec!["read".into(), "{not json".into()],
                vec!["descriptor"],
            ),
            (
                "missing descriptor file",
                vec!["read".into(), "@/nonexistent/d.json".into()],
                vec!["/nonexistent/d.json"],
            ),
            (
                "wrong field type",
                vec![
                    "read".into(),
                    descriptor.replace("\"layout_version\":1", "\"layout_version\":\"1\""),
                ],
                vec!["descriptor"],
            ),
            (
                "tampered payload",
                vec!["read".into(), "--sha256".into(), descriptor.clone()],
                vec!["CRC-32"],
            ),
            (
                "missing segment",
                vec![
                    "read".into(),
                    descriptor.replace(&segment, "srb-nobody-here"),
                ],
                vec!["srb-nobody-here"],
            ),
        ];
        value["compression"] = serde_json::json!("lz4");
        value["length"] = serde_json::json!(1u64 << 40);
        let huge = value.to_string();
        for (what, args, words) in failures
            .iter()
            .map(|(w, a, words)| (*w, a.clone(), words.clone()))
            .chain([("1 TiB claim", vec!["read".to_owned(), huge], vec!["length"])])
        {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = blob(lang, &args).output().unwrap();
            let line = assert_one_line_failure(&format!("{lang:?}: {what}"), &output, &words);
            println!("{lang:?} {what}: {line}");
        }
    }
}

#[test]
fn a_writer_gives_up_when_its_segment_is_removed() {
    let file = file_with("removed", b"nobody will read this");
    for lang in LANGS {
        let writer = Writer::start(lang, &["write", file.to_str().unwrap()]);
        shm_ring::remove_forced(&writer.segment()).expect("remove the writer's segment");
        let output = writer.finish();
        assert_one_line_failure(&format!("{lang:?} writer"), &output, &["removed"]);
    }
}

#[test]
fn python_without_lz4_says_what_to_install() {
    let file = file_with("nolz4", &[0; 10_000]);
    let writer = Writer::start(Lang::Rust, &["write", "--lz4", file.to_str().unwrap()]);
    let blocked = "import sys; sys.modules['lz4'] = None; sys.modules['lz4.block'] = None; \
                   from shm_ring.blob import main; sys.exit(main(sys.argv[1:]))";
    let output = python3()
        .args(["-c", blocked, "read", &writer.descriptor])
        .output()
        .unwrap();
    assert_one_line_failure("Python reader without lz4", &output, &["pip install lz4"]);
    let output = python3()
        .args(["-c", blocked, "write", "--lz4", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_one_line_failure("Python writer without lz4", &output, &["pip install lz4"]);
    // The Rust reader still reads it, and the writer exits.
    let read = blob(Lang::Rust, &["read", "--sha256", &writer.descriptor])
        .output()
        .unwrap();
    assert!(read.status.success(), "{}", output_text(&read));
    assert!(writer.finish().status.success());
}

#[test]
fn shared_buffer_descriptors_and_acknowledgements_cross_languages() {
    // Rust writes, Python opens by descriptor, reads and acknowledges.
    let mut buffer = SharedBuffer::create_unique(64).unwrap();
    buffer.write(b"from Rust").unwrap();
    let seen = buffer.acknowledgements();
    let script = "import sys; from shm_ring import SharedBuffer\n\
                  b = SharedBuffer.open_descriptor(sys.argv[1])\n\
                  sys.stdout.write(b.read().decode()); b.acknowledge()";
    let output = python3()
        .args(["-c", script, &buffer.descriptor()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", output_text(&output));
    assert_eq!(output.stdout, b"from Rust");
    assert_eq!(
        buffer.wait_acknowledged(seen, Duration::ZERO),
        Some(seen + 1)
    );

    // Python writes and sleeps until Rust acknowledges.
    let script = "import sys; from shm_ring import SharedBuffer\n\
                  b = SharedBuffer.create(None, 32); b.write(b'from Python')\n\
                  print(b.descriptor(), flush=True)\n\
                  sys.exit(0 if b.wait_acknowledged(0, 120) == 1 else 3)";
    let mut child = python3()
        .args(["-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let reader =
        SharedBuffer::open_descriptor(line.trim_end()).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    assert_eq!(reader.read().unwrap(), b"from Python");
    reader.acknowledge();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", output_text(&output));
}

#[test]
fn a_writer_stopped_by_a_signal_removes_its_segment() {
    use rustix::process::{kill_process, Pid, Signal};
    let file = file_with("signal", b"nobody will read this either");
    for lang in LANGS {
        for signal in [Signal::TERM, Signal::INT, Signal::HUP] {
            let writer = Writer::start(lang, &["write", file.to_str().unwrap()]);
            let segment = writer.segment();
            let _removes = support::segment::Removes(segment.clone());
            assert!(exists(&segment));
            kill_process(Pid::from_child(&writer.child), signal).expect("signal the writer");
            let output = writer.finish();
            let what = format!("{lang:?} writer stopped by {signal:?}");
            assert_one_line_failure(&what, &output, &["interrupted"]);
            assert!(!exists(&segment), "{what}: left {segment}");
        }
    }
}
