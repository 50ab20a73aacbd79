//! `in`: the messages published on a key expression written into a local ring, checked
//! against their sequence numbers, until the end of the stream.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use shm_ring::{ProducerOptions, ShmProducer, WaitTimeoutError, WriteTimeoutError};
use zenoh::sample::{Sample, SampleKind};
use zenoh::Wait;

use crate::{fail, session, wire, Common, Failure, Report};

/// Where the stream stands: shared by the subscriber's callbacks and the main thread.
struct Inlet {
    /// The local ring, as its producer.
    producer: ShmProducer,
    /// The sequence number of the next message.
    next: u64,
    /// Payload bytes written into the ring.
    bytes: u64,
    /// When the first message came.
    started: Option<Instant>,
    /// Set once the stream is complete (`Ok`) or broken (`Err`); later samples are ignored.
    outcome: Option<Result<(), Failure>>,
    /// How long a write into a full ring may wait.
    timeout: Duration,
}

impl Inlet {
    /// Takes one sample of the data key expression.
    fn take(&mut self, sample: &Sample) -> Result<(), Failure> {
        let next = self.next;
        let sequence = sample
            .attachment()
            .and_then(|a| wire::decode(&a.to_bytes()))
            .ok_or_else(|| {
                fail(format!(
                    "a sample came without a sequence number (an 8-byte attachment) where \
                     message {next} was expected: not a bridge's stream"
                ))
            })?;
        match sample.kind() {
            SampleKind::Put => {
                if sequence > next {
                    return Err(fail(format!(
                        "message {next} is missing: message {sequence} came instead"
                    )));
                }
                if sequence < next {
                    return Err(fail(format!(
                        "message {sequence} came again where message {next} was expected"
                    )));
                }
                let payload = sample.payload().to_bytes();
                self.started.get_or_insert_with(Instant::now);
                self.producer
                    .write(&payload, self.timeout)
                    .map_err(|e| match e {
                        WriteTimeoutError::Timeout => fail(format!(
                            "message {next}: the ring was full for {} ms (its consumer is not \
                             reading)",
                            self.timeout.as_millis()
                        )),
                        e => fail(format!(
                            "message {next}: cannot write it into the ring: {e}"
                        )),
                    })?;
                self.next += 1;
                self.bytes += payload.len() as u64;
                Ok(())
            }
            SampleKind::Delete => {
                if sequence > next {
                    return Err(fail(format!(
                        "message {next} is missing: the stream ended after {sequence} messages"
                    )));
                }
                if sequence < next {
                    return Err(fail(format!(
                        "the end of the stream says {sequence} messages, but {next} came"
                    )));
                }
                self.outcome = Some(Ok(()));
                Ok(())
            }
        }
    }
}

/// The inlet and the condition the main thread waits on for its outcome.
type Shared = Arc<(Mutex<Inlet>, Condvar)>;

fn lock(shared: &Shared) -> MutexGuard<'_, Inlet> {
    shared.0.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Records `outcome` unless one is known already, and wakes the main thread.
fn settle(shared: &Shared, inlet: &mut Inlet, outcome: Result<(), Failure>) {
    if inlet.outcome.is_none() {
        inlet.outcome = Some(outcome);
    }
    shared.1.notify_all();
}

/// Runs `in` until the end of the stream has come and the ring's consumer has read it all.
pub(crate) fn run(ring: &str, capacity: usize, common: &Common) -> Result<Report, Failure> {
    let timeout = Duration::from_millis(common.timeout_ms);
    let producer = ProducerOptions::new()
        .unlink_on_drop(true)
        .create(ring, capacity)
        .map_err(|e| fail(format!("cannot create the ring {ring:?}: {e}")))?;
    let largest_message = producer.max_message_len();
    let shared: Shared = Arc::new((
        Mutex::new(Inlet {
            producer,
            next: 0,
            bytes: 0,
            started: None,
            outcome: None,
            timeout,
        }),
        Condvar::new(),
    ));
    let session = session::open(common, largest_message)?;
    let key = common.key.as_str();
    // The callback writes straight into the ring, so the ring is the subscriber's queue: what
    // the bridge buffers is bounded by the ring's capacity (plus Zenoh's receive buffer). A
    // full ring holds the callback, which holds the link: congestion reaches the publisher.
    let data = Arc::clone(&shared);
    let subscriber = session
        .declare_subscriber(key)
        .callback(move |sample| {
            let mut inlet = lock(&data);
            if inlet.outcome.is_some() {
                return;
            }
            match inlet.take(&sample) {
                Ok(()) if inlet.outcome.is_some() => data.1.notify_all(),
                Ok(()) => {}
                Err(failure) => settle(&data, &mut inlet, Err(failure)),
            }
        })
        .wait()
        .map_err(|e| fail(format!("cannot subscribe to {key:?}: {e}")))?;
    // The publisher's liveliness token goes when it exits or its link closes: if that happens
    // before the end of the stream, the next message will never come.
    let presence = Arc::clone(&shared);
    let publisher_watch = session
        .liveliness()
        .declare_subscriber(key)
        .callback(move |sample| {
            if sample.kind() == SampleKind::Delete {
                let mut inlet = lock(&presence);
                let next = inlet.next;
                settle(
                    &presence,
                    &mut inlet,
                    Err(fail(format!(
                        "message {next} is missing: the publisher went away before the end of \
                         the stream"
                    ))),
                );
            }
        })
        .wait()
        .map_err(|e| fail(format!("cannot watch the publisher of {key:?}: {e}")))?;
    let outcome = {
        let mut inlet = lock(&shared);
        while inlet.outcome.is_none() {
            inlet = shared.1.wait(inlet).unwrap_or_else(PoisonError::into_inner);
        }
        inlet.outcome.take().expect("the loop ends once it is set")
    };
    // Leaving tells the publisher that this subscriber has the whole stream.
    let _ = publisher_watch.undeclare().wait();
    let _ = subscriber.undeclare().wait();
    let _ = session.close().wait();
    outcome?;
    let mut inlet = lock(&shared);
    let (messages, bytes) = (inlet.next, inlet.bytes);
    let seconds = inlet.started.map_or(0.0, |t| t.elapsed().as_secs_f64());
    inlet
        .producer
        .wait_until_empty(timeout)
        .map_err(|e| match e {
            WaitTimeoutError::Timeout => fail(format!(
                "the ring's consumer had not read all {messages} messages {} ms after the end of \
             the stream",
                timeout.as_millis()
            )),
            e => fail(format!("{e} before reading all {messages} messages")),
        })?;
    Ok(Report {
        messages,
        bytes,
        seconds,
    })
}
