//! `out`: the local ring's messages published on a key expression, each with its sequence
//! number, then the end of the stream.

use std::time::{Duration, Instant};

use shm_ring::{ReadTimeoutError, ShmConsumer};
use zenoh::handlers::FifoChannelHandler;
use zenoh::matching::MatchingStatus;
use zenoh::qos::{CongestionControl, Priority};
use zenoh::Wait;

use crate::{fail, session, wire, Common, Failure, Report};

/// How long one read of the ring waits before the subscribers' presence is looked at again.
const SLICE: Duration = Duration::from_millis(100);

/// Runs `out` until the ring's producer is gone and everything it wrote was published.
pub(crate) fn run(ring: &str, common: &Common) -> Result<Report, Failure> {
    let timeout = Duration::from_millis(common.timeout_ms);
    let mut consumer = ShmConsumer::open_timeout(ring, timeout)
        .map_err(|e| fail(format!("cannot open the ring {ring:?}: {e}")))?;
    let session = session::open(common, consumer.capacity())?;
    let key = common.key.as_str();
    // Reliable (the only reliability of Zenoh's stable API), blocking when the link is
    // congested rather than dropping, batched (not express) for throughput.
    let publisher = session
        .declare_publisher(key)
        .congestion_control(CongestionControl::Block)
        .priority(Priority::Data)
        .express(false)
        .wait()
        .map_err(|e| fail(format!("cannot declare a publisher on {key:?}: {e}")))?;
    // Lets the far side tell that this publisher went away (crashed, or its link closed)
    // before the end of the stream.
    let _token = session
        .liveliness()
        .declare_token(key)
        .wait()
        .map_err(|e| fail(format!("cannot declare a liveliness token on {key:?}: {e}")))?;
    let matching = publisher
        .matching_listener()
        .wait()
        .map_err(|e| fail(format!("cannot watch for subscribers of {key:?}: {e}")))?;
    // Whatever is published before a subscriber exists is gone: nothing is read from the
    // ring until one is there.
    let now = publisher
        .matching_status()
        .wait()
        .map_err(|e| fail(format!("cannot tell whether {key:?} has subscribers: {e}")))?;
    if !now.matching() {
        loop {
            let status = matching
                .recv()
                .map_err(|e| fail(format!("watching for subscribers of {key:?} failed: {e}")))?;
            if status.matching() {
                break;
            }
        }
    }
    let mut started = None;
    let mut sequence = 0u64;
    let mut bytes = 0u64;
    loop {
        if gone(&matching) {
            return Err(fail(format!(
                "the subscribers of {key:?} went away after {sequence} messages had been \
                 published (some of them may not have arrived); the rest stays in the ring"
            )));
        }
        match consumer.read(SLICE) {
            Ok(message) => {
                started.get_or_insert_with(Instant::now);
                let message = message.into_vec();
                let len = message.len() as u64;
                publisher
                    .put(message)
                    .attachment(wire::encode(sequence).to_vec())
                    .wait()
                    .map_err(|e| fail(format!("cannot publish message {sequence}: {e}")))?;
                sequence += 1;
                bytes += len;
            }
            Err(ReadTimeoutError::Timeout) => {}
            Err(ReadTimeoutError::PeerGone) => break,
            Err(e) => {
                return Err(fail(format!(
                    "cannot read message {sequence} from the ring {ring:?}: {e}"
                )))
            }
        }
    }
    if gone(&matching) {
        return Err(fail(format!(
            "the subscribers of {key:?} went away after {sequence} messages had been \
             published (some of them may not have arrived)"
        )));
    }
    publisher
        .delete()
        .attachment(wire::encode(sequence).to_vec())
        .wait()
        .map_err(|e| fail(format!("cannot publish the end of the stream: {e}")))?;
    let seconds = started.map_or(0.0, |t| t.elapsed().as_secs_f64());
    // A subscriber leaves once it has the end of the stream, and the end travels behind every
    // message: when none is left, everything arrived. Closing before would drop what is still
    // queued.
    let deadline = Instant::now() + timeout;
    let mut matched = true;
    while matched {
        match matching.recv_deadline(deadline) {
            Ok(Some(status)) => matched = status.matching(),
            Ok(None) => {
                return Err(fail(format!(
                    "the subscribers of {key:?} were still there {} ms after the end of the \
                     stream was published; whether they have everything is not known",
                    common.timeout_ms
                )))
            }
            Err(e) => return Err(fail(format!("watching the subscribers failed: {e}"))),
        }
    }
    drop(publisher);
    session
        .close()
        .wait()
        .map_err(|e| fail(format!("cannot close the Zenoh session: {e}")))?;
    Ok(Report {
        messages: sequence,
        bytes,
        seconds,
    })
}

/// Whether the subscribers went away since the last look (a subscriber that leaves and comes
/// back may have missed messages in between, so it counts).
fn gone(matching: &zenoh::matching::MatchingListener<FifoChannelHandler<MatchingStatus>>) -> bool {
    let mut gone = false;
    while let Ok(Some(status)) = matching.try_recv() {
        gone |= !status.matching();
    }
    gone
}
