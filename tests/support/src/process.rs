//! Child processes with their output drained, waiting on a condition, and a process's output
//! as text.

use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A guard against hangs in tests that wait for one event.
pub const HANG_GUARD: Duration = Duration::from_secs(120);

/// A child process with its output drained on threads (so a chatty child never blocks on a
/// full pipe); killed if still running when dropped.
pub struct Running {
    /// What the process is, for messages ("producer", "peer as nobody").
    pub what: String,
    child: Child,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    status: Option<ExitStatus>,
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

    /// The process id (to signal the process, or to look at its sockets in `/proc`).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if the process has exited.
    pub fn poll(&mut self) -> Option<ExitStatus> {
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

    /// The exit status and all the output of a process that has exited.
    pub(crate) fn output(mut self) -> Output {
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

/// A process's stdout followed by its stderr, as text: for failure messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
