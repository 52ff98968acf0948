//! Jobs that hold permits of a [`HashingPool`] until released: how the tests fill the pool
//! that bounds password hashing.

#![allow(dead_code)]

use std::sync::mpsc;
use std::time::Duration;

use tower_gatekeeper::verify::{HashingBusy, HashingPool};

/// Jobs holding a permit each until released.
pub struct Hold {
    release: Vec<mpsc::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<Result<(), HashingBusy>>>,
}

impl Hold {
    /// Takes `n` permits of `pool` and returns once they are all taken.
    pub async fn take(pool: &HashingPool, n: usize) -> Self {
        let before = pool.available();
        let mut hold = Hold {
            release: Vec::new(),
            tasks: Vec::new(),
        };
        for _ in 0..n {
            let (tx, rx) = mpsc::channel::<()>();
            let pool = pool.clone();
            hold.tasks.push(tokio::spawn(async move {
                pool.run(move || {
                    let _ = rx.recv();
                })
                .await
            }));
            hold.release.push(tx);
        }
        wait_until(|| pool.available() == before - n).await;
        hold
    }

    /// Takes every permit of `pool`.
    pub async fn all(pool: &HashingPool) -> Self {
        Self::take(pool, pool.permits()).await
    }

    /// Lets the jobs finish; each must have run.
    pub async fn release(self) {
        drop(self.release);
        for task in self.tasks {
            assert_eq!(task.await.unwrap(), Ok(()));
        }
    }
}

/// Polls `condition` (bounded: 30 s) — a wait for a state, not a time assertion.
pub async fn wait_until(condition: impl Fn() -> bool) {
    for _ in 0..3000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the condition never held");
}
