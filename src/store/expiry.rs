//! Forgetting what has expired without scanning: a queue of (expiry, key) that writers feed and
//! drain a little at a time. Readers never touch it; they treat an expired record as absent.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Mutex;

/// How many expired keys one write removes at most (amortised O(log n) per write).
const SWEEP_PER_WRITE: usize = 32;

/// The earliest expiry first.
type Heap = BinaryHeap<Reverse<(u64, Box<str>)>>;

/// Keys by the time they expire (Unix seconds).
#[derive(Default)]
pub(crate) struct ExpiryQueue {
    heap: Mutex<Heap>,
}

impl ExpiryQueue {
    /// Remembers that `key` expires at `at`.
    pub(crate) fn push(&self, at: u64, key: &str) {
        self.heap
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Reverse((at, key.into())));
    }

    /// Takes up to a write's share of the keys that expired by `now`. The caller checks each
    /// one against its current record (a key may have been replaced since it was queued).
    pub(crate) fn due(&self, now: u64) -> Vec<(u64, Box<str>)> {
        let mut heap = self.heap.lock().unwrap_or_else(|p| p.into_inner());
        let mut due = Vec::new();
        while due.len() < SWEEP_PER_WRITE {
            match heap.peek() {
                Some(Reverse((at, _))) if *at <= now => {
                    let Reverse(entry) = heap.pop().expect("peeked");
                    due.push(entry);
                }
                _ => break,
            }
        }
        due
    }

    /// How many keys are queued.
    pub(crate) fn len(&self) -> usize {
        self.heap.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yields_only_what_is_due_in_order() {
        let q = ExpiryQueue::default();
        q.push(30, "c");
        q.push(10, "a");
        q.push(20, "b");
        assert!(q.due(9).is_empty());
        let due: Vec<_> = q.due(20).into_iter().map(|(_, k)| k).collect();
        assert_eq!(due, [Box::from("a"), Box::from("b")]);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn a_write_drains_a_bounded_share() {
        let q = ExpiryQueue::default();
        for i in 0..100 {
            q.push(1, &i.to_string());
        }
        assert_eq!(q.due(5).len(), SWEEP_PER_WRITE);
        assert_eq!(q.len(), 100 - SWEEP_PER_WRITE);
    }
}
