//! Waiting for the other side: the one place that decides how a blocking call waits.
//!
//! A blocking call first retries while spinning, then yields its time slice, then sleeps for
//! growing intervals, so a short wait costs little latency and a long one little CPU.

use std::thread;
use std::time::{Duration, Instant};

use crossbeam_utils::Backoff;

/// The first sleep once spinning and yielding have not helped.
const FIRST_SLEEP: Duration = Duration::from_micros(10);
/// The longest single sleep; bounds the extra latency of a long wait.
const LONGEST_SLEEP: Duration = Duration::from_millis(1);

/// Calls `attempt` until it returns `Some`, an error, or `timeout` has passed (then
/// `on_timeout`). `attempt` always runs at least once, even with a zero timeout. A timeout too
/// large to represent as a deadline waits forever.
pub(crate) fn retry<T, E>(
    timeout: Duration,
    on_timeout: E,
    mut attempt: impl FnMut() -> Result<Option<T>, E>,
) -> Result<T, E> {
    if let Some(done) = attempt()? {
        return Ok(done);
    }
    let deadline = Instant::now().checked_add(timeout);
    let backoff = Backoff::new();
    let mut sleep = FIRST_SLEEP;
    loop {
        let now = Instant::now();
        let left = match deadline {
            Some(deadline) if now >= deadline => return Err(on_timeout),
            Some(deadline) => deadline - now,
            None => Duration::MAX,
        };
        if backoff.is_completed() {
            thread::sleep(sleep.min(left));
            sleep = (sleep * 2).min(LONGEST_SLEEP);
        } else {
            backoff.snooze();
        }
        if let Some(done) = attempt()? {
            return Ok(done);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn succeeds_as_soon_as_the_attempt_does() {
        let mut calls = 0;
        let result: Result<u32, &str> = retry(Duration::from_secs(60), "timeout", || {
            calls += 1;
            Ok((calls == 5).then_some(calls))
        });
        assert_eq!(result, Ok(5));
    }

    #[test]
    fn a_zero_timeout_tries_once() {
        let mut calls = 0;
        let result: Result<(), &str> = retry(Duration::ZERO, "timeout", || {
            calls += 1;
            Ok(None)
        });
        assert_eq!(result, Err("timeout"));
        assert_eq!(calls, 1);
    }

    #[test]
    fn gives_up_after_the_timeout() {
        let start = Instant::now();
        let result: Result<(), &str> = retry(Duration::from_millis(20), "timeout", || Ok(None));
        assert_eq!(result, Err("timeout"));
        assert!(start.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn errors_end_the_wait() {
        let result: Result<(), &str> = retry(Duration::from_secs(60), "timeout", || Err("broken"));
        assert_eq!(result, Err("broken"));
    }
}
