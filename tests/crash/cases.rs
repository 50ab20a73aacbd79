//! The crash cases and the child roles they start.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::thread;

use shm_ring::{
    OpenError, PeerState, ProducerOptions, ReadGrant, ReadTimeoutError, Role, ShmConsumer,
    ShmProducer, WriteTimeoutError,
};
use support::futex::{spawn_reporting_tid, wait_until_asleep};
use support::process::HANG_GUARD;
use support::raw::Raw;
use support::segment::{exists, unique_name, Removes};
use support::stream::stream_message;
use support::try_take;
use support::wire::{extension_offset, CONSUMER_FLAGS, PRODUCER_FLAGS};

const CHILD_ROLE: &str = "SHM_RING_CRASH_CHILD";
const CHILD_NAME: &str = "SHM_RING_CRASH_NAME";
/// Messages the winner of a creation race writes after its pid.
const RACE_STREAM: u64 = 300;
/// Messages the forking producer writes before it forks.
const FORK_STREAM: u64 = 50;

/// Message `i` of the test stream: the conformance bytes, 1 to 40 bytes long.
fn message(i: u64) -> Vec<u8> {
    stream_message(i, (i % 40 + 1) as usize)
}

// ---------------------------------------------------------------- children

/// Says `ready` to the parent and waits to be killed.
fn ready_and_wait() -> ! {
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    loop {
        thread::park();
    }
}

fn child(role: &str, name: &str) -> ! {
    match role {
        // Commits ten messages, then dies halfway through filling an eleventh.
        "producer-mid-commit" => {
            let mut producer = ShmProducer::create(name, 4096).unwrap();
            for i in 0..10 {
                producer.try_write(&message(i)).unwrap();
            }
            let mut grant = producer.try_reserve(message(10).len()).unwrap();
            let (first, _) = grant.as_mut_slices();
            let half = first.len() / 2;
            first[..half].copy_from_slice(&message(10)[..half]);
            ready_and_wait();
        }
        // Reads three messages, then dies.
        "consumer-reads-three" => {
            let mut consumer = ShmConsumer::open_timeout(name, HANG_GUARD).unwrap();
            for i in 0..3 {
                assert_eq!(consumer.read(HANG_GUARD).unwrap().into_vec(), message(i));
            }
            ready_and_wait();
        }
        // Holds the producer role.
        "producer-holds" => {
            let _producer = ShmProducer::create(name, 4096).unwrap();
            ready_and_wait();
        }
        // Holds the consumer role.
        "consumer-holds" => {
            let _consumer = ShmConsumer::open_timeout(name, HANG_GUARD).unwrap();
            ready_and_wait();
        }
        // Waits for its standard input to close, then tries to become the producer. The
        // winner says `won` and writes its pid and the stream; the others say why not.
        "race-create" => {
            let mut go = String::new();
            std::io::stdin().read_line(&mut go).unwrap();
            let mut out = std::io::stdout().lock();
            match ShmProducer::create(name, 4096) {
                Ok(mut producer) => {
                    writeln!(out, "won").unwrap();
                    out.flush().unwrap();
                    producer
                        .write(&std::process::id().to_le_bytes(), HANG_GUARD)
                        .unwrap();
                    for i in 0..RACE_STREAM {
                        producer.write(&message(i), HANG_GUARD).unwrap();
                    }
                    producer.wait_until_empty(HANG_GUARD).unwrap();
                }
                Err(OpenError::InUse {
                    by: Role::Producer, ..
                }) => writeln!(out, "in-use").unwrap(),
                Err(e) => writeln!(out, "error: {e}").unwrap(),
            }
            std::process::exit(0);
        }
        // Creates the ring with `unlink_on_drop`, writes the stream, forks, and lets the child
        // end normally (`fork-returns`: dropping everything and exiting 0; `fork-failed-exec`:
        // after an `exec` that fails). Says `ready` once the child is gone, and keeps the
        // producer until killed.
        "fork-returns" | "fork-failed-exec" => {
            let mut producer = ProducerOptions::new()
                .unlink_on_drop(true)
                .create(name, 4096)
                .unwrap();
            for i in 0..FORK_STREAM {
                producer.try_write(&message(i)).unwrap();
            }
            // SAFETY: this process is single-threaded here (the test runner's threads are in
            // the parent test process, not in this child role), so the child may run any code.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
            if pid == 0 {
                if role == "fork-failed-exec" {
                    use std::os::unix::process::CommandExt;
                    let error = Command::new("/nonexistent/shm-ring-no-such-program").exec();
                    assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
                }
                // The child's normal end: its copy of the producer is dropped.
                drop(producer);
                std::process::exit(0);
            }
            let mut status = 0;
            // SAFETY: `pid` is our own child, and `status` outlives the call.
            let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
            assert_eq!(waited, pid);
            assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
            ready_and_wait();
        }
        other => panic!("unknown child role {other}"),
    }
}

/// Starts this executable as `role` on segment `name` and waits for its `ready`.
fn spawn_child(role: &str, name: &str) -> Child {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ROLE, role)
        .env(CHILD_NAME, name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the child");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n", "the {role} child did not get ready");
    child
}

/// SIGKILL, and wait until the process is gone.
fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Child processes killed when the test ends, whether it passed or failed, so that a failing
/// test leaves no process behind waiting forever.
struct Reaped(Vec<Child>);

impl Drop for Reaped {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------- tests

/// The producer dies between filling a grant and committing it: the consumer gets every
/// committed message, never the partial one, and then `PeerGone` while it sleeps.
fn a_killed_producer_leaves_only_whole_messages() {
    let name = unique_name("killprod");
    let _cleanup = Removes(name.clone());
    let producer = spawn_child("producer-mid-commit", &name);
    let mut consumer = ShmConsumer::open(&name).unwrap();
    for i in 0..10 {
        assert_eq!(
            consumer.read(HANG_GUARD).unwrap().into_vec(),
            message(i),
            "message {i}"
        );
    }
    let raw = Raw::open(&name);
    let (tid, reader) = spawn_reporting_tid(move || {
        let after = consumer.read(HANG_GUARD).map(ReadGrant::into_vec);
        (after, consumer)
    });
    wait_until_asleep(&raw, tid, Some(extension_offset(4096) + CONSUMER_FLAGS));
    kill(producer);
    let (after, mut consumer) = reader.join().unwrap();
    assert_eq!(after, Err(ReadTimeoutError::PeerGone));
    assert_eq!(
        try_take(&mut consumer),
        None,
        "the partial message never appears"
    );
    assert_eq!(consumer.peer_state(), PeerState::Gone);
}

/// The producer dies halfway through a message; a new producer takes the ring over and writes
/// on after the last published message: the consumer, which stays attached, reads every
/// message once and in order, and never the partial one.
fn a_killed_producer_is_taken_over_without_loss() {
    let name = unique_name("takeover");
    let _cleanup = Removes(name.clone());
    let producer = spawn_child("producer-mid-commit", &name);
    let mut consumer = ShmConsumer::open(&name).unwrap();
    assert_eq!(consumer.read(HANG_GUARD).unwrap().into_vec(), message(0));
    assert!(
        matches!(
            ShmProducer::open(&name),
            Err(OpenError::InUse {
                by: Role::Producer,
                ..
            })
        ),
        "a live producer keeps its role"
    );
    kill(producer);
    let mut successor = ShmProducer::open(&name).expect("take over a dead producer's ring");
    assert_eq!(consumer.peer_state(), PeerState::Alive);
    assert_eq!(successor.peer_state(), PeerState::Alive);
    for i in 10..20 {
        successor.write(&message(i), HANG_GUARD).unwrap();
    }
    for i in (1..10).chain(10..20) {
        assert_eq!(
            consumer.read(HANG_GUARD).unwrap().into_vec(),
            message(i),
            "message {i}"
        );
    }
    assert_eq!(try_take(&mut consumer), None);
}

/// The consumer dies while the producer sleeps on a full ring: the producer gets `PeerGone`,
/// and a new consumer continues exactly where the dead one stopped.
fn a_killed_consumer_is_replaced_without_loss() {
    let name = unique_name("killcons");
    let mut producer = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, 256)
        .unwrap();
    for i in 0..3 {
        producer.try_write(&message(i)).unwrap();
    }
    let consumer = spawn_child("consumer-reads-three", &name);
    let mut next = 3;
    while producer.try_write(&message(next)).is_ok() {
        next += 1;
    }
    let raw = Raw::open(&name);
    let (tid, writer) =
        spawn_reporting_tid(move || (producer.write(&message(next), HANG_GUARD), producer));
    wait_until_asleep(&raw, tid, Some(extension_offset(256) + PRODUCER_FLAGS));
    kill(consumer);
    let (blocked, mut producer) = writer.join().unwrap();
    assert_eq!(blocked, Err(WriteTimeoutError::PeerGone));
    assert_eq!(producer.peer_state(), PeerState::Gone);

    let mut replacement = ShmConsumer::open(&name).unwrap();
    assert_eq!(producer.peer_state(), PeerState::Alive);
    for i in 3..next {
        assert_eq!(try_take(&mut replacement), Some(message(i)), "message {i}");
    }
    producer.write(&message(next), HANG_GUARD).unwrap();
    assert_eq!(
        replacement.read(HANG_GUARD).unwrap().into_vec(),
        message(next)
    );
}

/// A live producer in another process keeps its segment; once it is killed, the segment is
/// stale and a new producer replaces it.
fn a_live_producer_in_another_process_keeps_its_segment() {
    let name = unique_name("liveproc");
    let _cleanup = Removes(name.clone());
    let holder = spawn_child("producer-holds", &name);
    let err = ShmProducer::create(&name, 4096).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::InUse {
                by: Role::Producer,
                ..
            }
        ),
        "{err:?}"
    );
    let consumer = ShmConsumer::open(&name).unwrap();
    assert_eq!(consumer.peer_state(), PeerState::Alive);
    kill(holder);
    assert_eq!(consumer.peer_state(), PeerState::Gone);
    let _replacement = ShmProducer::create(&name, 4096).expect("a stale segment is replaced");
}

/// A live consumer in another process keeps the consumer role until it dies.
fn a_live_consumer_in_another_process_keeps_its_role() {
    let name = unique_name("liveconsumer");
    let _producer = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(&name, 4096)
        .unwrap();
    let holder = spawn_child("consumer-holds", &name);
    let err = ShmConsumer::open(&name).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::InUse {
                by: Role::Consumer,
                ..
            }
        ),
        "{err:?}"
    );
    kill(holder);
    ShmConsumer::open(&name).expect("the role is free once its holder is dead");
}

/// Eight processes create the same name at once, twenty times over: every time exactly one
/// becomes the producer, the others are told a live producer has it, and a consumer reads the
/// winner's whole stream.
fn producers_racing_for_one_name_leave_exactly_one_live() {
    const RACERS: usize = 8;
    const ROUNDS: usize = 20;
    for round in 0..ROUNDS {
        let name = unique_name("race");
        let _cleanup = Removes(name.clone());
        let mut racers = Reaped(
            (0..RACERS)
                .map(|_| {
                    Command::new(std::env::current_exe().unwrap())
                        .env(CHILD_ROLE, "race-create")
                        .env(CHILD_NAME, &name)
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .spawn()
                        .expect("start a racer")
                })
                .collect(),
        );
        // Closing their standard input starts them all at once.
        for racer in &mut racers.0 {
            drop(racer.stdin.take());
        }
        let verdicts: Vec<String> = racers
            .0
            .iter_mut()
            .map(|racer| {
                let mut line = String::new();
                BufReader::new(racer.stdout.as_mut().unwrap())
                    .read_line(&mut line)
                    .unwrap();
                line.trim_end().to_owned()
            })
            .collect();
        let winners: Vec<usize> = (0..RACERS).filter(|&k| verdicts[k] == "won").collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one producer must win: {verdicts:?}"
        );
        assert!(
            verdicts.iter().all(|v| v == "won" || v == "in-use"),
            "round {round}: the losers must be told the name is in use: {verdicts:?}"
        );
        let winner = racers.0[winners[0]].id();
        let mut consumer = ShmConsumer::open_timeout(&name, HANG_GUARD).unwrap();
        assert_eq!(
            consumer.read(HANG_GUARD).unwrap().into_vec(),
            winner.to_le_bytes(),
            "round {round}: the segment under the name is the winner's"
        );
        for i in 0..RACE_STREAM {
            assert_eq!(
                consumer.read(HANG_GUARD).unwrap().into_vec(),
                message(i),
                "message {i}"
            );
        }
        for racer in &mut racers.0 {
            assert!(racer.wait().unwrap().success());
        }
    }
}

/// A child made by `fork()` that ends normally leaves the parent's segment in place, and a new
/// consumer reads the parent's whole stream.
fn a_forked_child_ending_normally_keeps_the_parents_segment() {
    for role in ["fork-returns", "fork-failed-exec"] {
        let name = unique_name("forkexit");
        let _cleanup = Removes(name.clone());
        let _parent = Reaped(vec![spawn_child(role, &name)]);
        assert!(exists(&name), "{role}: the child removed the name");
        let mut consumer = ShmConsumer::open(&name).unwrap();
        assert_eq!(consumer.peer_state(), PeerState::Alive, "{role}");
        for i in 0..FORK_STREAM {
            assert_eq!(
                try_take(&mut consumer),
                Some(message(i)),
                "{role}: message {i}"
            );
        }
    }
}

// ---------------------------------------------------------------- list

/// Becomes the child role the environment names, if any: such a process never returns.
pub(crate) fn run_child_if_asked() {
    if let Ok(role) = std::env::var(CHILD_ROLE) {
        child(
            &role,
            &std::env::var(CHILD_NAME).expect("segment name for the child"),
        );
    }
}

/// Every case, by name.
pub(crate) const TESTS: [(&str, fn()); 7] = [
    (
        "a_killed_producer_leaves_only_whole_messages",
        a_killed_producer_leaves_only_whole_messages,
    ),
    (
        "a_killed_producer_is_taken_over_without_loss",
        a_killed_producer_is_taken_over_without_loss,
    ),
    (
        "a_killed_consumer_is_replaced_without_loss",
        a_killed_consumer_is_replaced_without_loss,
    ),
    (
        "a_live_producer_in_another_process_keeps_its_segment",
        a_live_producer_in_another_process_keeps_its_segment,
    ),
    (
        "a_live_consumer_in_another_process_keeps_its_role",
        a_live_consumer_in_another_process_keeps_its_role,
    ),
    (
        "producers_racing_for_one_name_leave_exactly_one_live",
        producers_racing_for_one_name_leave_exactly_one_live,
    ),
    (
        "a_forked_child_ending_normally_keeps_the_parents_segment",
        a_forked_child_ending_normally_keeps_the_parents_segment,
    ),
];
