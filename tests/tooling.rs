//! The repository as a newcomer meets it: a crate that depends on shm_ring alone, the example
//! programs' `--help`, the build commands the C++ README gives and what the README says about
//! depending on the crate and running the Python module. Everything these tests build goes
//! under `CARGO_TARGET_TMPDIR`; none of them writes into the source tree.

// The newcomer's tools (cargo, g++, python3, symlinks) are the host's; under Wine there are none.
#![cfg(not(windows))]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::process::output_text;
use support::tools::{example, root};

/// A directory of this test's own under the target directory, emptied of `clear` first.
fn scratch(name: &str, clear: bool) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    if clear && dir.exists() {
        std::fs::remove_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot empty {}: {e}", dir.display()));
    }
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot make {}: {e}", dir.display()));
    dir
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

fn run(command: &mut Command, what: &str) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"))
}

// ------------------------------------------------------------------ a dependent crate

/// tests/derive_crate derives `Pod` and `Zeroable` through `shm_ring::bytemuck` and has no
/// other dependency, so it fails to build if the re-export or its `derive` feature goes. With
/// the default features only, it also checks that LZ4 is refused with a typed error naming
/// the `lz4` feature (the tests of this package always have LZ4).
/// It is built from a copy whose path dependency points here, with this repository's lock
/// file, so that the source tree gets neither a `Cargo.lock` nor a `target/`.
#[test]
fn a_crate_depending_only_on_shm_ring_derives_pod_through_the_reexport() {
    let source = root().join("tests/derive_crate");
    let copy = scratch("derive_crate", false);
    let manifest = read(&source.join("Cargo.toml"));
    let dependency = r#"shm_ring = { path = "../.." }"#;
    assert!(
        manifest.contains(dependency),
        "tests/derive_crate/Cargo.toml no longer says {dependency}"
    );
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] table");
    let named: Vec<&str> = dependencies
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with('['))
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    assert_eq!(
        named,
        [dependency],
        "tests/derive_crate must depend on shm_ring alone"
    );
    write(
        &copy.join("Cargo.toml"),
        &manifest.replace(dependency, &format!("shm_ring = {{ path = {:?} }}", root())),
    );
    std::fs::create_dir_all(copy.join("src")).expect("src directory");
    write(
        &copy.join("src/main.rs"),
        &read(&source.join("src/main.rs")),
    );
    write(&copy.join("Cargo.lock"), &read(&root().join("Cargo.lock")));
    let out = run(
        Command::new(env!("CARGO"))
            .args(["run", "--quiet", "--manifest-path"])
            .arg(copy.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(copy.join("target")),
        "cargo run for tests/derive_crate",
    );
    let text = output_text(&out);
    assert!(
        out.status.success()
            && text.contains("derived Pod and Zeroable through shm_ring::bytemuck")
            && text.contains("without the lz4 feature, LZ4 is refused"),
        "tests/derive_crate failed ({}):\n{text}",
        out.status
    );
}

// ------------------------------------------------------------------ the examples' --help

/// `--help` prints the usage on stdout and exits 0; `-h` does the same.
fn assert_help(program: &Path, usage: &str) {
    for flag in ["--help", "-h"] {
        let out = run(Command::new(program).arg(flag), "the example");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.starts_with(usage),
            "{} {flag}: expected exit 0 and a usage line starting {usage:?}, got {}:\n{}",
            program.display(),
            out.status,
            output_text(&out)
        );
    }
}

#[test]
fn peer_help_prints_the_usage() {
    assert_help(
        &example("peer"),
        "usage: peer producer|consumer --name NAME --count N (--size S | --min-size A --max-size B) [--capacity BYTES] [--timeout-ms T] [--no-verify] [--start-index I] [--zero-copy] [--batch]\n",
    );
}

#[test]
fn peer_without_a_role_still_fails_with_the_usage() {
    let out = run(&mut Command::new(example("peer")), "the peer");
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("peer: usage: peer producer|consumer"),
        "{}",
        output_text(&out)
    );
}

#[test]
fn quickstart_help_shows_both_modes() {
    assert_help(
        &example("quickstart"),
        "usage: quickstart [consumer NAME]\n",
    );
}

#[test]
fn blob_help_prints_the_usage() {
    assert_help(
        &example("blob"),
        "usage: blob write [--kind K] [--source S] [--lz4] [--keep] FILE | blob read [--sha256] DESCRIPTOR\n",
    );
}

// ------------------------------------------------------------------ the C++ README

/// The shell commands of a markdown file's `sh` blocks, continuation lines joined, by block.
fn sh_blocks(markdown: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```sh" {
            continue;
        }
        let mut block = Vec::new();
        let mut command = String::new();
        for line in lines.by_ref() {
            if line.trim() == "```" {
                break;
            }
            let line = line.split(" #").next().unwrap_or("").trim();
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            match line.strip_suffix('\\') {
                Some(start) => command.push_str(start),
                None => {
                    command.push_str(line);
                    block.push(std::mem::take(&mut command));
                }
            }
        }
        blocks.push(block);
    }
    blocks
}

/// Every command of the C++ README that compiles a program of this repository writes it into
/// `interop/cpp/build/` (ignored by git), after making that directory, and the programs are
/// run from there: nothing lands in the directory the commands are typed in.
#[test]
fn cpp_readme_builds_into_the_build_directory() {
    let readme = read(&root().join("interop/cpp/README.md"));
    assert!(
        read(&root().join(".gitignore"))
            .lines()
            .any(|line| line == "/interop/cpp/build/"),
        ".gitignore must ignore /interop/cpp/build/"
    );
    let mut built = 0;
    for block in sh_blocks(&readme) {
        let mut made = false;
        for command in &block {
            let words: Vec<&str> = command.split_whitespace().collect();
            if words[..] == ["mkdir", "-p", "interop/cpp/build"] {
                made = true;
            }
            assert!(
                !words.iter().any(|w| w.starts_with("./")),
                "interop/cpp/README.md runs a program from the current directory: {command}"
            );
            let compiles_ours = matches!(words[0], "g++" | "c++" | "\"$CXX\"" | "$CXX")
                && words.iter().any(|w| w.starts_with("interop/cpp/"));
            if !compiles_ours {
                continue;
            }
            let output = words
                .windows(2)
                .find(|pair| pair[0] == "-o")
                .map(|pair| pair[1])
                .unwrap_or_else(|| panic!("no -o in: {command}"));
            assert!(
                output.starts_with("interop/cpp/build/") && made,
                "interop/cpp/README.md must `mkdir -p interop/cpp/build` and build into it: {command}"
            );
            built += 1;
        }
    }
    assert!(
        built >= 3,
        "expected the peer, unit-test and stress-test build commands, found {built}"
    );
}

/// The README's peer build, run in a scratch copy of the repository's layout, leaves only
/// `interop/cpp/build/peer` behind.
#[test]
fn cpp_readme_peer_build_leaves_nothing_else() {
    let readme = read(&root().join("interop/cpp/README.md"));
    let block = sh_blocks(&readme)
        .into_iter()
        .find(|block| {
            block
                .iter()
                .any(|c| c.contains("interop/cpp/examples/peer.cpp"))
        })
        .expect("a block that builds interop/cpp/examples/peer.cpp");
    let tree = scratch("cpp_readme_tree", true);
    std::fs::create_dir_all(tree.join("interop/cpp")).expect("scratch tree");
    for part in ["include", "examples"] {
        std::os::unix::fs::symlink(
            root().join("interop/cpp").join(part),
            tree.join("interop/cpp").join(part),
        )
        .expect("link into the scratch tree");
    }
    let build: Vec<&String> = block
        .iter()
        .filter(|c| c.starts_with("mkdir ") || c.starts_with("g++ "))
        .collect();
    assert!(build.len() >= 2, "expected mkdir and g++ in {block:?}");
    for command in build {
        let cxx = std::env::var("CXX").unwrap_or_else(|_| "g++".to_owned());
        let command = match command.strip_prefix("g++ ") {
            Some(rest) => format!("\"$CXX\" {rest}"),
            None => command.clone(),
        };
        let out = run(
            Command::new("bash")
                .args(["-c", &command])
                .env("CXX", &cxx)
                .current_dir(&tree),
            &command,
        );
        assert!(
            out.status.success(),
            "`{command}` failed (a C++14 compiler, g++ or $CXX, is needed):\n{}",
            output_text(&out)
        );
    }
    let mut left: Vec<String> = walk(&tree)
        .into_iter()
        .map(|p| p.strip_prefix(&tree).unwrap().display().to_string())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "interop",
            "interop/cpp",
            "interop/cpp/build",
            "interop/cpp/build/peer",
            "interop/cpp/examples",
            "interop/cpp/include",
        ]
    );
}

/// Every path under `dir`, without following symbolic links.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read the scratch tree") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() && !path.is_symlink() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}

// ------------------------------------------------------------------ the README

/// The README says how to depend on the crate, and every command of it that runs the Python
/// module says where the module is (it is not installed by cloning the repository).
#[test]
fn readme_gives_the_dependency_line_and_the_python_path() {
    let readme = read(&root().join("README.md"));
    assert!(
        readme.contains("```toml\n[dependencies]\nshm_ring = { path = \""),
        "README.md must show the Cargo.toml line that depends on shm_ring"
    );
    assert!(readme.contains("pip install ./interop/python"));
    let mut python = 0;
    for command in sh_blocks(&readme).concat() {
        if !command.contains("python3 -m shm_ring") {
            continue;
        }
        python += 1;
        let dir = command
            .strip_prefix("PYTHONPATH=")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| {
                panic!("README.md runs the Python module without PYTHONPATH: {command}")
            });
        assert!(
            root().join(dir).join("shm_ring/__main__.py").is_file(),
            "README.md sets PYTHONPATH={dir}, which does not hold the shm_ring package"
        );
    }
    assert!(
        python >= 1,
        "README.md shows no command running python3 -m shm_ring"
    );
}
