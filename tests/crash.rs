//! Crash tests: a producer or consumer process killed with SIGKILL at a chosen point.
//!
//! This file has its own small test runner (`harness = false`) because the processes to kill
//! are this very executable, started again in a child role (`SHM_RING_CRASH_CHILD`). A child
//! does its part, prints `ready`, and waits to be killed; the parent synchronises on that line
//! and on the blocked thread being asleep in the kernel, never on sleeps.
//!
//! Linux only: a killed end is found gone through open-file-description locks, and the parent
//! learns that a blocked thread sleeps from `/proc`; neither exists elsewhere, so the list of
//! cases is empty there.

#[cfg(target_os = "linux")]
#[path = "crash/cases.rs"]
mod cases;

fn main() {
    #[cfg(target_os = "linux")]
    cases::run_child_if_asked();
    #[cfg(target_os = "linux")]
    let tests = cases::TESTS;
    #[cfg(not(target_os = "linux"))]
    let tests: [(&str, fn()); 0] = [];
    // Understands what cargo passes: name filters, and --ignored (nothing here is ignored).
    let args: Vec<String> = std::env::args().skip(1).collect();
    let only_ignored = args.iter().any(|a| a == "--ignored");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let selected: Vec<_> = tests
        .iter()
        .filter(|_| !only_ignored)
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", selected.len());
    let mut failed = Vec::new();
    for (name, test) in &selected {
        let outcome = std::panic::catch_unwind(test);
        println!(
            "test {name} ... {}",
            if outcome.is_ok() { "ok" } else { "FAILED" }
        );
        if outcome.is_err() {
            failed.push(*name);
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed; 0 ignored; 0 measured; {} filtered out\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        selected.len() - failed.len(),
        failed.len(),
        tests.len() - selected.len()
    );
    if !failed.is_empty() {
        println!("failures:\n    {}", failed.join("\n    "));
        std::process::exit(101);
    }
}
