//! Scene buffers and descriptors: round trips, the JSON both languages write and accept, and
//! hostile descriptors and segments (each a typed error, no panic, no allocation beyond the
//! limit). The `blob` programs are tested in tests/blob.rs.
#![cfg(feature = "json")]
#![cfg_attr(not(target_os = "linux"), allow(unused_imports, dead_code))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{json, Value};
use shm_ring::{
    BufferOpenError, BufferReadError, Compression, DescriptorError, SceneBuffer, SceneDescriptor,
    SceneKind, SceneOptions, SceneReadError, SharedBuffer,
};
use support::process::output_text;
use support::raw::Raw;
use support::segment::unique_name;
use support::tools::python3;

// --- the largest allocation of this thread --------------------------------------------------

/// The system allocator, noting the largest block each thread asks for: how a test shows that
/// a hostile size claim allocated nothing of that size.
struct Noting;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to `System` unchanged; the thread-local `Cell` is
// const-initialised and has no destructor, so touching it never allocates or recurses.
unsafe impl GlobalAlloc for Noting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(layout.size())));
        // SAFETY: the caller's contract for `alloc` is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through `alloc` above) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(new_size)));
        // SAFETY: as for `dealloc`; the caller's contract for `realloc` is `System`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Noting = Noting;

/// Runs `f` and returns its result with the largest block this thread allocated meanwhile.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|largest| largest.set(0));
    let out = f();
    (out, LARGEST.with(Cell::get))
}

// --- helpers --------------------------------------------------------------------------------

fn options(kind: SceneKind, source: &str, lz4: bool) -> SceneOptions {
    SceneOptions {
        kind,
        source: source.to_owned(),
        lz4,
        ttl: None,
    }
}

/// A descriptor's JSON as a mutable value.
fn document(scene: &SceneBuffer) -> Value {
    serde_json::from_str(&scene.descriptor().to_json()).expect("a descriptor is JSON")
}

/// Bytes that LZ4 cannot shrink (a xorshift stream).
fn noise(len: usize, mut state: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// What `SceneDescriptor::from_json` made of a text, in the words of
/// interop/python/tests/descriptor_peer.py.
fn classify(text: &str) -> String {
    match SceneDescriptor::from_json(text) {
        Ok(descriptor) => format!("ok {}", descriptor.to_json()),
        Err(DescriptorError::Json { .. }) => "json".to_owned(),
        Err(DescriptorError::WrongSchema { .. }) => "schema".to_owned(),
        Err(DescriptorError::Invalid { field, .. }) => format!("invalid {field}"),
        Err(other) => format!("unexpected {other:?}"),
    }
}

/// The Python side's verdict on each text, by interop/python/tests/descriptor_peer.py.
fn python_classify(texts: &[String]) -> Vec<String> {
    let mut child = python3()
        .args(["interop/python/tests/descriptor_peer.py", "classify"])
        .current_dir(support::tools::root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start descriptor_peer.py");
    let mut input = String::new();
    for text in texts {
        input.push_str(&serde_json::to_string(text).expect("a string is JSON"));
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("stdin");
    let feeder = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child
        .wait_with_output()
        .expect("wait for descriptor_peer.py");
    feeder
        .join()
        .expect("feeder")
        .expect("write to descriptor_peer.py");
    assert!(
        output.status.success(),
        "descriptor_peer.py classify failed: {}",
        output_text(&output)
    );
    let lines: Vec<String> = String::from_utf8(output.stdout)
        .expect("UTF-8 from Python")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), texts.len(), "one verdict per text");
    lines
}

/// A valid descriptor's document whose segment need not exist.
fn valid_document() -> Value {
    json!({
        "schema": "shm_ring/scene_buffer/2",
        "segment": "srb-0000abcd0123456789ab",
        "layout_version": 1,
        "capacity": 64,
        "sequence": 2,
        "kind": "Geometry",
        "source": "Maya",
        "created_unix_ms": 1_700_000_000_000u64,
        "ttl_ms": null,
        "length": 64,
        "stored_length": 64,
        "compression": "none",
        "crc32": 12345
    })
}

fn with(mut document: Value, field: &str, value: Value) -> String {
    document[field] = value;
    document.to_string()
}

fn without(mut document: Value, field: &str) -> String {
    document.as_object_mut().expect("object").remove(field);
    document.to_string()
}

// --- round trips ----------------------------------------------------------------------------

#[test]
fn payloads_of_0_1_and_many_bytes_round_trip_with_and_without_lz4() {
    let payloads = [
        Vec::new(),
        vec![7],
        vec![0; 1 << 20],
        noise(100_000, 1),
        b"abc".repeat(5000),
    ];
    for lz4 in [false, true] {
        for payload in &payloads {
            let scene =
                SceneBuffer::write(payload, &options(SceneKind::Geometry, "Maya", lz4)).unwrap();
            let reader = SceneBuffer::open_json(&scene.descriptor().to_json()).unwrap();
            assert_eq!(
                reader.read().unwrap(),
                *payload,
                "lz4 {lz4}, {} bytes",
                payload.len()
            );
            assert_eq!(reader.len(), payload.len() as u64);
            assert_eq!(
                (reader.kind(), reader.source()),
                (&SceneKind::Geometry, "Maya")
            );
        }
    }
}

#[test]
fn lz4_is_kept_only_when_smaller_and_the_choice_is_in_the_descriptor() {
    let zeros =
        SceneBuffer::write(&[0; 300_000], &options(SceneKind::Arbitrary, "", true)).unwrap();
    let d = zeros.descriptor();
    assert_eq!(d.compression, Compression::Lz4);
    assert!(
        d.stored_length < 2000 && d.capacity == d.stored_length,
        "{d:?}"
    );
    let random = noise(4096, 7);
    let noisy = SceneBuffer::write(&random, &options(SceneKind::Arbitrary, "", true)).unwrap();
    let d = noisy.descriptor();
    assert_eq!(
        (d.compression, d.stored_length, d.length),
        (Compression::None, 4096, 4096)
    );
    let empty = SceneBuffer::write(b"", &options(SceneKind::Arbitrary, "", true)).unwrap();
    assert_eq!(empty.descriptor().compression, Compression::None);
    // The checksum is of the stored bytes (the LZ4 block here), as Python's zlib.crc32
    // computes it.
    let block = SharedBuffer::open(zeros.name()).unwrap().read().unwrap();
    assert_eq!(block.len() as u64, zeros.descriptor().stored_length);
    assert_eq!(zeros.descriptor().crc32, crc32_bitwise(&block));
    assert_ne!(zeros.descriptor().crc32, crc32_bitwise(&[0; 300_000]));
}

/// zlib's CRC-32 of `bytes`, bit by bit (an independent computation).
fn crc32_bitwise(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn user_defined_kinds_and_metadata_survive_the_descriptor() {
    let options = SceneOptions {
        kind: SceneKind::custom("usd:stage/v2").unwrap(),
        source: "Blender é中 \"quoted\"".to_owned(),
        lz4: false,
        ttl: Some(Duration::from_secs(3600)),
    };
    let scene = SceneBuffer::write(b"stage", &options).unwrap();
    let json = scene.descriptor().to_json();
    let back = SceneDescriptor::from_json(&json).unwrap();
    assert_eq!(back, *scene.descriptor());
    assert_eq!(back.to_json(), json);
    assert_eq!(back.ttl_ms, Some(3_600_000));
    assert_eq!(back.kind.as_str(), "usd:stage/v2");
    let reader = SceneBuffer::open(&back).unwrap();
    assert_eq!(reader.read().unwrap(), b"stage");
}

#[test]
fn shared_buffer_descriptors_name_the_segment_and_check_its_capacity() {
    let mut writer = SharedBuffer::create_unique(128).unwrap();
    writer.write(b"payload").unwrap();
    let json = writer.descriptor();
    assert_eq!(
        json,
        format!(
            r#"{{"schema":"shm_ring/shared_buffer/1","segment":"{}","layout_version":1,"capacity":128}}"#,
            writer.name()
        )
    );
    assert_eq!(
        SharedBuffer::open_descriptor(&json)
            .unwrap()
            .read()
            .unwrap(),
        b"payload"
    );
    let smaller = json.replace("\"capacity\":128", "\"capacity\":256");
    match SharedBuffer::open_descriptor(&smaller) {
        Err(BufferOpenError::DescriptorMismatch {
            field: "capacity",
            descriptor: 256,
            segment: 128,
            ..
        }) => {}
        other => panic!("expected DescriptorMismatch, got {other:?}"),
    }
    let scene_json = SceneBuffer::write(b"x", &SceneOptions::default())
        .unwrap()
        .descriptor()
        .to_json();
    assert!(matches!(
        SharedBuffer::open_descriptor(&scene_json),
        Err(BufferOpenError::Descriptor(DescriptorError::Json { .. }))
    ));
}

// --- the same documents in Rust and Python --------------------------------------------------

// Needs python3, and under Wine there is no Windows Python to run (README, Limits).
#[cfg(unix)]
#[test]
fn python_and_rust_write_the_same_descriptor_text() {
    // Python's descriptors, parsed and written again by Rust: the same text.
    let output = python3()
        .args(["interop/python/tests/descriptor_peer.py", "make"])
        .current_dir(support::tools::root())
        .output()
        .expect("run descriptor_peer.py make");
    assert!(output.status.success(), "{}", output_text(&output));
    let texts: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(texts.len(), 5, "{texts:?}");
    for text in &texts {
        let descriptor = SceneDescriptor::from_json(text)
            .unwrap_or_else(|e| panic!("Rust refuses Python's {text}: {e}"));
        assert_eq!(descriptor.to_json(), *text);
    }
    // Rust's descriptors, parsed and written again by Python: the same text.
    let cases: Vec<(Vec<u8>, SceneOptions)> = vec![
        (Vec::new(), SceneOptions::default()),
        (b"x".to_vec(), options(SceneKind::Geometry, "Maya", false)),
        (
            vec![0; 65536],
            options(SceneKind::Screenshot, "Blender é中", true),
        ),
        (
            b"abc".repeat(10),
            SceneOptions {
                kind: SceneKind::custom("usd:stage/v2").unwrap(),
                source: "a \"quoted\" \\ name".into(),
                lz4: false,
                ttl: Some(Duration::from_millis(60_000)),
            },
        ),
    ];
    let rust_texts: Vec<String> = cases
        .iter()
        .map(|(data, options)| {
            SceneBuffer::write(data, options)
                .unwrap()
                .descriptor()
                .to_json()
        })
        .collect();
    for (text, verdict) in rust_texts.iter().zip(python_classify(&rust_texts)) {
        assert_eq!(verdict, format!("ok {text}"));
    }
}

/// Documents every reader must refuse (or accept), each with what Rust makes of it.
fn hand_made_corpus() -> Vec<String> {
    let v = valid_document;
    let mut texts = vec![
        v().to_string(),
        String::new(),
        "{".into(),
        "[]".into(),
        "null".into(),
        "{}".into(),
        format!("{} x", v()),
        // Repeated, unknown and missing fields.
        v().to_string().replacen(
            "\"kind\":\"Geometry\"",
            "\"kind\":\"Geometry\",\"kind\":\"Geometry\"",
            1,
        ),
        with(v(), "extra", json!(1)),
        without(v(), "crc32"),
        without(v(), "ttl_ms"),
        // Wrong types.
        with(v(), "capacity", json!("64")),
        with(v(), "capacity", json!(64.0)),
        with(v(), "capacity", json!(-1)),
        with(v(), "capacity", json!(true)),
        with(v(), "crc32", json!(4_294_967_296u64)),
        with(v(), "layout_version", json!(4_294_967_296u64)),
        with(v(), "sequence", json!(null)),
        with(v(), "kind", json!(1)),
        with(v(), "ttl_ms", json!("1")),
        v().to_string().replace("\"crc32\":12345", "\"crc32\":1e3"),
        v().to_string().replace("\"crc32\":12345", "\"crc32\":NaN"),
        v().to_string()
            .replace("\"crc32\":12345", "\"crc32\":18446744073709551616"),
        v().to_string()
            .replace("\"source\":\"Maya\"", "\"source\":\"\\ud800\""),
        // Values no descriptor has.
        with(v(), "schema", json!("shm_ring/shared_buffer/1")),
        with(v(), "schema", json!("shm_ring/scene_buffer/2")),
        with(v(), "segment", json!("")),
        with(v(), "segment", json!("/srb-x")),
        with(v(), "segment", json!("a/b")),
        with(v(), "segment", json!("..")),
        with(v(), "segment", json!("x".repeat(31))),
        with(v(), "layout_version", json!(2)),
        with(v(), "capacity", json!(0)),
        with(v(), "capacity", json!((1u64 << 46) + 1)),
        with(v(), "sequence", json!(3)),
        with(v(), "kind", json!("")),
        with(v(), "kind", json!("two words")),
        with(v(), "kind", json!("k".repeat(65))),
        with(v(), "kind", json!("usd:stage/v2")),
        with(v(), "source", json!("a\u{7}b")),
        with(v(), "source", json!("é".repeat(129))),
        with(v(), "source", json!("é".repeat(128))),
        with(v(), "compression", json!("zstd")),
        with(v(), "compression", json!("LZ4")),
        with(v(), "length", json!(65)),
        with(v(), "stored_length", json!(65)),
        with(v(), "ttl_ms", json!(u64::MAX)),
    ];
    let lz4 = |length: u64, stored: u64| {
        let mut d = v();
        d["compression"] = json!("lz4");
        d["length"] = json!(length);
        d["stored_length"] = json!(stored);
        d.to_string()
    };
    texts.extend([
        lz4(1 << 40, 16),
        lz4(16 * 255, 16),
        lz4(16 * 255 + 1, 16),
        lz4(16, 16),
        lz4(1, 0),
        lz4(u64::MAX, 64),
    ]);
    texts
}

/// Deterministic mutations of a valid document: each field replaced by a value of another
/// type or an edge value, fields dropped, texts cut short.
fn generated_corpus(count: usize) -> Vec<String> {
    let fields = [
        "schema",
        "segment",
        "layout_version",
        "capacity",
        "sequence",
        "kind",
        "source",
        "created_unix_ms",
        "ttl_ms",
        "length",
        "stored_length",
        "compression",
        "crc32",
    ];
    let values = [
        json!(null),
        json!(true),
        json!(0),
        json!(1),
        json!(2),
        json!(255),
        json!(4_294_967_295u64),
        json!(4_294_967_296u64),
        json!(u64::MAX),
        json!(-1),
        json!(0.5),
        json!(""),
        json!("lz4"),
        json!("none"),
        json!("Geometry"),
        json!("srb-1"),
        json!([]),
        json!({}),
    ];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = |below: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % below as u64) as usize
    };
    (0..count)
        .map(|_| {
            let mut d = valid_document();
            if next(2) == 0 {
                d["compression"] = json!("lz4");
                d["stored_length"] = json!(16);
            }
            for _ in 0..1 + next(2) {
                let field = fields[next(fields.len())];
                match next(8) {
                    0 => {
                        d.as_object_mut().unwrap().remove(field);
                    }
                    _ => d[field] = values[next(values.len())].clone(),
                }
            }
            let text = d.to_string();
            if next(10) == 0 {
                let cut = next(text.len());
                text[..cut].to_owned()
            } else {
                text
            }
        })
        .collect()
}

// Needs python3, and under Wine there is no Windows Python to run (README, Limits).
#[cfg(unix)]
#[test]
fn python_and_rust_accept_and_refuse_the_same_documents() {
    let mut texts = hand_made_corpus();
    texts.extend(generated_corpus(400));
    let python = python_classify(&texts);
    let mut differences = Vec::new();
    for (text, verdict) in texts.iter().zip(&python) {
        let rust = classify(text);
        if rust != *verdict {
            differences.push(format!("{text}\n  Rust:   {rust}\n  Python: {verdict}"));
        }
    }
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
    // The corpus has each kind of verdict.
    let verdicts: Vec<String> = texts.iter().map(|t| classify(t)).collect();
    let mut counts = std::collections::BTreeMap::new();
    for verdict in &verdicts {
        let kind = if verdict.starts_with("ok ") {
            "ok"
        } else {
            verdict.as_str()
        };
        *counts.entry(kind).or_insert(0) += 1;
    }
    println!(
        "{} documents, the same verdict in both languages: {counts:?}",
        texts.len()
    );
    for kind in [
        "ok",
        "json",
        "schema",
        "invalid length",
        "invalid segment",
        "invalid kind",
    ] {
        assert!(
            verdicts.iter().any(|v| v.starts_with(kind)),
            "no {kind} verdict"
        );
    }
}

// --- hostile descriptors and segments -------------------------------------------------------

#[test]
fn a_descriptor_naming_a_missing_segment_is_not_found() {
    let scene = SceneBuffer::write(b"x", &SceneOptions::default()).unwrap();
    let json = scene.descriptor().to_json();
    let name = scene.name().to_owned();
    drop(scene); // removes the segment
    match SceneBuffer::open_json(&json) {
        Err(BufferOpenError::NotFound { name: missing }) => assert_eq!(missing, name),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[test]
fn a_segment_smaller_than_its_descriptor_says_is_a_typed_error() {
    let scene = SceneBuffer::write(&[5; 100], &SceneOptions::default()).unwrap();
    let mut d = document(&scene);
    d["capacity"] = json!(1u64 << 40);
    d["length"] = json!(1u64 << 40);
    d["stored_length"] = json!(1u64 << 40);
    let (result, largest) = largest_allocation(|| SceneBuffer::open_json(&d.to_string()));
    match result {
        Err(e @ BufferOpenError::DescriptorMismatch { .. }) => {
            assert!(
                e.to_string()
                    .contains("capacity 100, but its descriptor says 1099511627776"),
                "{e}"
            )
        }
        other => panic!("expected DescriptorMismatch, got {other:?}"),
    }
    assert!(largest < 1 << 16, "allocated {largest} bytes");
}

// Sizes below a page and a name made again while an earlier handle of it is open: Windows
// keeps a mapping's size in whole pages and a held name cannot be made again (the header
// checks themselves are the same code there, tested in tests/windows_shared.rs).
#[cfg(unix)]
#[test]
fn wrong_magic_wrong_version_and_a_short_segment_are_typed_errors() {
    let scene = SceneBuffer::write(&[5; 16], &SceneOptions::default()).unwrap();
    let template = document(&scene);
    let name = unique_name("scene-hostile");
    let descriptor = |segment: &str| with(template.clone(), "segment", json!(segment));

    let raw = Raw::create(&name, 64 + 16);
    raw.set_bytes(0, b"SRX1");
    raw.set_bytes(4, &1u32.to_le_bytes());
    raw.set_bytes(8, &16u64.to_le_bytes());
    assert!(matches!(
        SceneBuffer::open_json(&descriptor(&name)),
        Err(BufferOpenError::WrongMagic { .. })
    ));
    raw.set_bytes(0, b"SRBF");
    raw.set_bytes(4, &2u32.to_le_bytes());
    assert!(matches!(
        SceneBuffer::open_json(&descriptor(&name)),
        Err(BufferOpenError::UnsupportedVersion { found: 2, .. })
    ));
    drop(raw);
    let _raw = Raw::create(&name, 40);
    assert!(matches!(
        SceneBuffer::open_json(&descriptor(&name)),
        Err(BufferOpenError::TooSmall { size: 40, .. })
    ));
}

#[test]
fn a_corrupted_length_word_is_a_typed_error() {
    let scene = SceneBuffer::write(&[5; 16], &SceneOptions::default()).unwrap();
    let reader = SceneBuffer::open(scene.descriptor()).unwrap();
    let raw = Raw::open(scene.name());
    raw.set_bytes(24, &(1u64 << 40).to_le_bytes());
    let (result, largest) = largest_allocation(|| reader.read());
    assert!(
        matches!(
            result,
            Err(SceneReadError::Buffer(
                BufferReadError::LengthExceedsCapacity { .. }
            ))
        ),
        "{result:?}"
    );
    assert!(largest < 1 << 16, "allocated {largest} bytes");
    // A length word within the capacity but not the descriptor's.
    raw.set_bytes(24, &8u64.to_le_bytes());
    assert!(matches!(
        reader.read(),
        Err(SceneReadError::LengthMismatch {
            descriptor: 16,
            segment: 8,
            ..
        })
    ));
}

#[test]
fn an_lz4_size_claim_of_one_tebibyte_is_refused_before_any_allocation() {
    let scene = SceneBuffer::write(&[0; 100_000], &options(SceneKind::Geometry, "", true)).unwrap();
    assert_eq!(scene.descriptor().compression, Compression::Lz4);
    let mut d = document(&scene);
    d["length"] = json!(1u64 << 40);
    let (result, largest) = largest_allocation(|| SceneBuffer::open_json(&d.to_string()));
    match result {
        Err(BufferOpenError::Descriptor(DescriptorError::Invalid {
            field: "length",
            reason,
        })) => {
            assert!(reason.contains("1099511627776"), "{reason}")
        }
        other => panic!("expected an invalid length, got {other:?}"),
    }
    assert!(largest < 1 << 16, "allocated {largest} bytes");
    // A claim within LZ4's ratio but above the read's limit: refused by the read, before it
    // allocates.
    let mut d = document(&scene);
    let stored = d["stored_length"].as_u64().unwrap();
    d["length"] = json!(stored * 255);
    let reader = SceneBuffer::open_json(&d.to_string()).unwrap();
    let (result, largest) = largest_allocation(|| reader.read_with_limit(100_000));
    assert!(
        matches!(result, Err(SceneReadError::TooLarge { limit: 100_000, .. })),
        "{result:?}"
    );
    assert!(largest < 1 << 16, "allocated {largest} bytes");
    // Within the limit, the block does not decode to the claimed size: a typed error.
    let (result, largest) = largest_allocation(|| reader.read());
    assert!(
        matches!(result, Err(SceneReadError::Decompress { .. })),
        "{result:?}"
    );
    assert!(
        largest <= (stored * 255) as usize,
        "allocated {largest} bytes"
    );
}

#[test]
fn a_checksum_mismatch_is_a_typed_error() {
    for lz4 in [false, true] {
        let scene =
            SceneBuffer::write(&[3; 4096], &options(SceneKind::Arbitrary, "", lz4)).unwrap();
        let mut d = document(&scene);
        let crc = d["crc32"].as_u64().unwrap();
        d["crc32"] = json!(crc ^ 1);
        let reader = SceneBuffer::open_json(&d.to_string()).unwrap();
        match reader.read() {
            Err(e @ SceneReadError::ChecksumMismatch { .. }) => {
                assert!(e.to_string().contains("CRC-32"), "{e}")
            }
            other => panic!("lz4 {lz4}: expected ChecksumMismatch, got {other:?}"),
        }
    }
    // The stored bytes changed behind the seqlock's back (a hostile process): caught too.
    let scene = SceneBuffer::write(&[3; 4096], &SceneOptions::default()).unwrap();
    Raw::open(scene.name()).set_bytes(64 + 100, &[4]);
    assert!(matches!(
        scene.read(),
        Err(SceneReadError::ChecksumMismatch { .. })
    ));
}

#[test]
fn a_rewritten_buffer_makes_its_descriptor_stale() {
    let scene = SceneBuffer::write(b"first", &SceneOptions::default()).unwrap();
    let reader = SceneBuffer::open(scene.descriptor()).unwrap();
    let mut other = SharedBuffer::open(scene.name()).unwrap();
    drop(scene); // releases the writer lock (and the name; `reader` keeps the segment)
    other.write(b"other").unwrap();
    match reader.read() {
        Err(SceneReadError::Stale {
            descriptor: 2,
            segment: 4,
            ..
        }) => {}
        other => panic!("expected Stale, got {other:?}"),
    }
}

#[test]
fn an_expired_descriptor_is_a_typed_error() {
    let scene = SceneBuffer::write(b"old", &SceneOptions::default()).unwrap();
    let mut d = document(&scene);
    d["created_unix_ms"] = json!(1000);
    d["ttl_ms"] = json!(1);
    let reader = SceneBuffer::open_json(&d.to_string()).unwrap();
    assert!(matches!(
        reader.read(),
        Err(SceneReadError::Expired {
            expired_unix_ms: 1001,
            ..
        })
    ));
    d["ttl_ms"] = json!(u64::MAX); // saturates: never expires
    assert_eq!(
        SceneBuffer::open_json(&d.to_string())
            .unwrap()
            .read()
            .unwrap(),
        b"old"
    );
}

#[test]
fn an_acknowledgement_wakes_the_writer() {
    let scene = SceneBuffer::write(b"x", &SceneOptions::default()).unwrap();
    assert!(!scene.wait_acknowledged(Duration::ZERO));
    let json = scene.descriptor().to_json();
    let reader = std::thread::spawn(move || {
        let reader = SceneBuffer::open_json(&json).unwrap();
        assert_eq!(reader.read().unwrap(), b"x");
        reader.acknowledge();
    });
    assert!(scene.wait_acknowledged(support::process::HANG_GUARD));
    reader.join().unwrap();
    assert_eq!(scene.buffer().acknowledgements(), 1);
}

// --- any text ---------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// No text makes the parser panic or accept a descriptor it would not write again the same.
    #[test]
    fn any_text_is_a_descriptor_or_a_typed_error(text in ".{0,400}") {
        if let Ok(descriptor) = SceneDescriptor::from_json(&text) {
            prop_assert_eq!(SceneDescriptor::from_json(&descriptor.to_json()), Ok(descriptor));
        }
    }

    /// Any values in a valid document's fields: a typed error, or a descriptor that round-trips
    /// and whose claims hold together (what `open` and `read` rely on).
    #[test]
    fn any_field_values_are_checked(
        capacity in prop_oneof![Just(0u64), 1u64..1 << 20, Just(1 << 46), Just((1 << 46) + 1), Just(u64::MAX)],
        length in prop_oneof![0u64..1 << 20, Just(1 << 40), Just(u64::MAX)],
        stored in prop_oneof![0u64..1 << 20, Just(u64::MAX)],
        sequence in any::<u64>(),
        lz4 in any::<bool>(),
        kind in "[A-Za-z0-9 ._:/-]{0,70}",
        source in any::<String>(),
        ttl in proptest::option::of(any::<u64>()),
    ) {
        let mut d = valid_document();
        d["capacity"] = json!(capacity);
        d["length"] = json!(length);
        d["stored_length"] = json!(stored);
        d["sequence"] = json!(sequence);
        d["compression"] = json!(if lz4 { "lz4" } else { "none" });
        d["kind"] = json!(kind);
        d["source"] = json!(source);
        d["ttl_ms"] = json!(ttl);
        if let Ok(descriptor) = SceneDescriptor::from_json(&d.to_string()) {
            let written: Value = serde_json::from_str(&descriptor.to_json()).unwrap();
            prop_assert_eq!(written, d);
            prop_assert!(descriptor.stored_length <= descriptor.capacity);
            prop_assert!(descriptor.sequence % 2 == 0);
            if lz4 {
                prop_assert!(descriptor.stored_length < descriptor.length);
                prop_assert!(descriptor.length <= descriptor.stored_length * 255);
            } else {
                prop_assert_eq!(descriptor.length, descriptor.stored_length);
            }
        }
    }
}
