//! A child process that talks to its test line by line: the test binary itself started again
//! in the role of one of its ignored tests, or another program (a Python peer). The child
//! announces each step with [`say`] (`tag` or `tag value`) and waits for the test's go-ahead
//! with [`wait_for_parent`]; the test reads the announcements with [`ChildRole::line`].

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// A child process in a role, killed and reaped if the test ends before it does.
pub struct ChildRole {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl ChildRole {
    /// This test binary started again to run only the ignored test `role`, with `env` set.
    pub fn of_this_test(role: &str, env: &[(&str, &str)]) -> ChildRole {
        let mut command = Command::new(std::env::current_exe().expect("the test binary"));
        command.args([
            role,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ]);
        command.envs(env.iter().copied());
        ChildRole::spawn(command)
    }

    /// `command` started with its standard input and output piped to the test.
    pub fn spawn(mut command: Command) -> ChildRole {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the child");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        ChildRole {
            child,
            stdin,
            stdout,
        }
    }

    /// What follows `tag ` (or nothing, for a bare `tag`) in the next line that has it; the
    /// test harness prints other lines too, and may have begun the line ("test NAME ... ")
    /// without ending it. Panics if the child ends first.
    pub fn line(&mut self, tag: &str) -> String {
        loop {
            let mut line = String::new();
            self.stdout.read_line(&mut line).expect("read the child");
            if line.is_empty() {
                let status = self.child.wait().expect("wait for the child");
                panic!("the child ended ({status}) before saying {tag:?}");
            }
            let line = line.trim_end();
            let mut from = 0;
            while let Some(at) = line[from..].find(tag) {
                let rest = &line[from + at + tag.len()..];
                if rest.is_empty() || rest.starts_with(' ') {
                    return rest.trim().to_owned();
                }
                from += at + tag.len();
            }
        }
    }

    /// Tells the child to go on (it waits in [`wait_for_parent`]).
    pub fn go_on(&mut self) {
        let stdin = self.stdin.as_mut().expect("stdin");
        stdin.write_all(b"go\n").expect("write to the child");
        stdin.flush().expect("write to the child");
    }

    /// Kills the child and reaps it: once this returns, the kernel has dropped its locks.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill the child");
        self.child.wait().expect("reap the child");
    }

    /// Closes the child's standard input, waits for it and asserts that it succeeded.
    pub fn finish(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().expect("wait for the child");
        assert!(status.success(), "the child failed: {status}");
    }
}

impl Drop for ChildRole {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// In a child: announces `line` to the test at once (one line on standard output).
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").expect("write to the test");
    out.flush().expect("write to the test");
}

/// In a child: waits until the test calls [`ChildRole::go_on`].
pub fn wait_for_parent() {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .expect("read from the test");
}
