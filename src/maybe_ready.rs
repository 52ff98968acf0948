//! [`MaybeReady`]: a result that is available now or later.
//!
//! Pipeline stages (verifiers, stores) answer with a `MaybeReady`. In-memory stages answer
//! [`MaybeReady::Ready`], and the layer then runs the whole pipeline inside `call` without
//! allocating a future; a stage that must wait (a password hash on the blocking pool, a network
//! call) answers [`MaybeReady::Pending`] with a boxed future, and only that request pays for it.
//!
//! ```
//! use tower_gatekeeper::MaybeReady;
//!
//! # tokio_test_block_on(async {
//! let now = MaybeReady::ready(2).map(|n| n * 21);
//! assert!(now.is_ready());
//! assert_eq!(now.await, 42);
//!
//! let later = MaybeReady::pending(async { 40 }).and_then(|n| MaybeReady::ready(n + 2));
//! assert!(!later.is_ready());
//! assert_eq!(later.await, 42);
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A value available now ([`Ready`](MaybeReady::Ready)) or after a future completes
/// ([`Pending`](MaybeReady::Pending)).
pub enum MaybeReady<T> {
    /// The value is here.
    Ready(T),
    /// The value comes when this future completes.
    Pending(BoxFuture<T>),
}

impl<T> fmt::Debug for MaybeReady<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ready(_) => f.write_str("MaybeReady::Ready(..)"),
            Self::Pending(_) => f.write_str("MaybeReady::Pending(..)"),
        }
    }
}

impl<T: Send + 'static> MaybeReady<T> {
    /// A value that is already known.
    pub fn ready(value: T) -> Self {
        Self::Ready(value)
    }

    /// A value that `future` will produce.
    pub fn pending(future: impl Future<Output = T> + Send + 'static) -> Self {
        Self::Pending(Box::pin(future))
    }

    /// Whether the value is available without waiting.
    pub fn is_ready(&self) -> bool {
        matches!(self, Self::Ready(_))
    }

    /// Transforms the value, synchronously when it is ready.
    pub fn map<U: Send + 'static>(self, f: impl FnOnce(T) -> U + Send + 'static) -> MaybeReady<U> {
        match self {
            Self::Ready(value) => MaybeReady::Ready(f(value)),
            Self::Pending(fut) => MaybeReady::pending(async move { f(fut.await) }),
        }
    }

    /// Continues with another step; runs it at once when this one is ready, so a chain of
    /// ready steps never allocates.
    pub fn and_then<U: Send + 'static>(
        self,
        f: impl FnOnce(T) -> MaybeReady<U> + Send + 'static,
    ) -> MaybeReady<U> {
        match self {
            Self::Ready(value) => f(value),
            Self::Pending(fut) => MaybeReady::pending(async move { f(fut.await).await }),
        }
    }
}

impl<T> IntoFuture for MaybeReady<T> {
    type Output = T;
    type IntoFuture = MaybeReadyFuture<T>;

    fn into_future(self) -> Self::IntoFuture {
        match self {
            Self::Ready(value) => MaybeReadyFuture {
                state: State::Ready(Some(value)),
            },
            Self::Pending(fut) => MaybeReadyFuture {
                state: State::Pending(fut),
            },
        }
    }
}

/// The future of a [`MaybeReady`]; a ready value is returned on the first poll, unboxed.
pub struct MaybeReadyFuture<T> {
    state: State<T>,
}

enum State<T> {
    Ready(Option<T>),
    Pending(BoxFuture<T>),
}

impl<T> fmt::Debug for MaybeReadyFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MaybeReadyFuture")
    }
}

impl<T> Unpin for MaybeReadyFuture<T> {}

impl<T> Future for MaybeReadyFuture<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match &mut self.state {
            State::Ready(value) => Poll::Ready(
                value
                    .take()
                    .expect("MaybeReadyFuture polled after completion"),
            ),
            State::Pending(fut) => fut.as_mut().poll(cx),
        }
    }
}
