//! Property test: random sequences of every write and read form, checked step by step against
//! a `VecDeque` model of the ring. Capacities from 8 to 4096, message sizes from 0 to the
//! capacity (so empty, too-large and full writes all occur), and start indices anywhere,
//! often just below 2^32 so that the indices wrap during the run.

use std::collections::VecDeque;

use proptest::prelude::*;
use shm_ring::{BufferTooSmall, ProducerOptions, ShmConsumer, TryReadError, TryWriteError};
use support::segment::unique_name;
use support::try_take;

#[derive(Debug, Clone)]
enum Op {
    Write(usize),
    ReserveCommit(usize),
    ReserveDrop(usize),
    WriteBatch(Vec<usize>),
    Read,
    ReadInto,
    ReadIntoSlice(usize),
    ReadWith,
    Peek,
    ReadBatch(usize),
}

fn op(capacity: usize) -> impl Strategy<Value = Op> {
    let size = 0..=capacity;
    prop_oneof![
        3 => size.clone().prop_map(Op::Write),
        1 => size.clone().prop_map(Op::ReserveCommit),
        1 => size.clone().prop_map(Op::ReserveDrop),
        1 => prop::collection::vec(size.clone(), 0..6).prop_map(Op::WriteBatch),
        2 => Just(Op::Read),
        1 => Just(Op::ReadInto),
        1 => size.prop_map(Op::ReadIntoSlice),
        1 => Just(Op::ReadWith),
        1 => Just(Op::Peek),
        1 => (0usize..5).prop_map(Op::ReadBatch),
    ]
}

fn case() -> impl Strategy<Value = (usize, u32, Vec<Op>)> {
    let start = prop_oneof![any::<u32>(), (u32::MAX - 8192)..=u32::MAX];
    (8usize..=4096, start).prop_flat_map(|(requested, start)| {
        // The capacity is the request rounded up to a power of two.
        let capacity = requested.next_power_of_two();
        (
            Just(requested),
            Just(start),
            prop::collection::vec(op(capacity), 1..60),
        )
    })
}

/// What the ring should hold: the messages in order, and the bytes they take.
struct Model {
    capacity: usize,
    queue: VecDeque<Vec<u8>>,
    used: usize,
    /// Counts messages ever made, so each has distinct contents.
    made: u32,
}

impl Model {
    fn message(&mut self, len: usize) -> Vec<u8> {
        self.made += 1;
        let seed = self.made;
        (0..len)
            .map(|j| (seed.wrapping_mul(31).wrapping_add(j as u32 * 7) % 256) as u8)
            .collect()
    }

    /// What writing a message of `len` bytes must do.
    fn expect_write(&self, len: usize) -> Result<(), TryWriteError> {
        let max = self.capacity - 4;
        if len == 0 {
            Err(TryWriteError::Empty)
        } else if len > max {
            Err(TryWriteError::TooLarge {
                len,
                max,
                needed_capacity: Some((len + 4).next_power_of_two()),
            })
        } else if 4 + len > self.capacity - self.used {
            Err(TryWriteError::Full)
        } else {
            Ok(())
        }
    }

    fn push(&mut self, message: Vec<u8>) {
        self.used += 4 + message.len();
        self.queue.push_back(message);
    }

    fn pop(&mut self) -> Option<Vec<u8>> {
        let message = self.queue.pop_front()?;
        self.used -= 4 + message.len();
        Some(message)
    }
}

fn run(requested: usize, start: u32, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let name = unique_name("model");
    let mut producer = ProducerOptions::new()
        .start_index(start)
        .unlink_on_drop(true)
        .create(&name, requested)
        .expect("create");
    let mut consumer = ShmConsumer::open(&name).expect("open");
    let mut model = Model {
        capacity: producer.capacity(),
        queue: VecDeque::new(),
        used: 0,
        made: 0,
    };
    let mut buf = Vec::new();
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Write(len) => {
                let message = model.message(len);
                let expected = model.expect_write(len);
                prop_assert_eq!(
                    producer.try_write(&message),
                    expected.clone(),
                    "step {}",
                    step
                );
                if expected.is_ok() {
                    model.push(message);
                }
            }
            Op::ReserveCommit(len) | Op::ReserveDrop(len) => {
                let message = model.message(len);
                let expected = model.expect_write(len);
                match producer.try_reserve(len) {
                    Ok(mut grant) => {
                        prop_assert!(expected.is_ok(), "step {}: reserve succeeded", step);
                        let (first, second) = grant.as_mut_slices();
                        prop_assert_eq!(first.len() + second.len(), len);
                        grant.copy_from_slice(&message);
                        if matches!(op, Op::ReserveCommit(_)) {
                            grant.commit();
                            model.push(message);
                        }
                    }
                    Err(e) => prop_assert_eq!(Err(e), expected, "step {}", step),
                }
            }
            Op::WriteBatch(lens) => {
                let messages: Vec<Vec<u8>> = lens.iter().map(|&len| model.message(len)).collect();
                // The batch writes messages until one cannot be written; that one's error is
                // the result only if it is the first.
                let mut expected = Ok(0);
                for message in &messages {
                    match model.expect_write(message.len()) {
                        Ok(()) => {
                            model.push(message.clone());
                            expected = expected.map(|n| n + 1);
                        }
                        Err(e) => {
                            if expected == Ok(0) {
                                expected = Err(e);
                            }
                            break;
                        }
                    }
                }
                prop_assert_eq!(
                    producer.try_write_batch(&messages),
                    expected,
                    "step {}",
                    step
                );
            }
            Op::Read => {
                prop_assert_eq!(try_take(&mut consumer), model.pop(), "step {}", step);
            }
            Op::ReadInto => {
                let got = match consumer.try_read() {
                    Ok(grant) => {
                        buf.resize(grant.len(), 0);
                        Some(grant.into_slice(&mut buf).unwrap())
                    }
                    Err(TryReadError::Empty) => None,
                    Err(e) => panic!("step {step}: {e}"),
                };
                match model.pop() {
                    Some(message) => {
                        prop_assert_eq!(got, Some(message.len()));
                        prop_assert_eq!(&buf, &message, "step {}", step);
                    }
                    None => prop_assert_eq!(got, None),
                }
            }
            Op::ReadIntoSlice(len) => {
                let mut slice = vec![0u8; len];
                let got = match consumer.try_read() {
                    Ok(grant) => grant.into_slice(&mut slice).map(Some),
                    Err(TryReadError::Empty) => Ok(None),
                    Err(e) => panic!("step {step}: {e}"),
                };
                match model.queue.front().map(Vec::len) {
                    Some(needed) if needed > len => prop_assert_eq!(
                        got,
                        Err(BufferTooSmall {
                            needed,
                            available: len
                        }),
                        "step {}",
                        step
                    ),
                    Some(needed) => {
                        let message = model.pop().unwrap();
                        prop_assert_eq!(got, Ok(Some(needed)));
                        prop_assert_eq!(&slice[..needed], &message[..], "step {}", step);
                    }
                    None => prop_assert_eq!(got, Ok(None)),
                }
            }
            Op::ReadWith => {
                let got = consumer.try_read().ok().map(|grant| {
                    let (a, b) = grant.as_slices();
                    let message = [a, b].concat();
                    grant.commit();
                    message
                });
                prop_assert_eq!(got, model.pop(), "step {}", step);
            }
            Op::Peek => {
                // A grant dropped without commit leaves the message where it was.
                let got = consumer
                    .try_read()
                    .ok()
                    .map(|grant| grant.as_slices().0.len());
                prop_assert_eq!(got.is_some(), !model.queue.is_empty(), "step {}", step);
            }
            Op::ReadBatch(max) => {
                let mut got = Vec::new();
                let count = match consumer.try_read_batch(max, |msg| got.push(msg.to_vec())) {
                    Ok(count) => count,
                    Err(TryReadError::Empty) => 0,
                    Err(e) => panic!("step {step}: {e}"),
                };
                let expected: Vec<Vec<u8>> = (0..max).map_while(|_| model.pop()).collect();
                prop_assert_eq!(count, expected.len());
                prop_assert_eq!(got, expected, "step {}", step);
            }
        }
        prop_assert_eq!(producer.readable_bytes(), model.used, "step {}", step);
        prop_assert_eq!(consumer.readable_bytes(), model.used, "step {}", step);
    }
    // Whatever is left comes out in order.
    while let Some(message) = model.pop() {
        prop_assert_eq!(try_take(&mut consumer), Some(message));
    }
    prop_assert_eq!(try_take(&mut consumer), None);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn the_ring_behaves_like_a_queue((requested, start, ops) in case()) {
        run(requested, start, ops)?;
    }
}
