#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod accounts;
pub mod clock;
pub mod error;
pub mod extract;
pub mod grant;
pub mod impersonate;
pub mod layer;
mod maybe_ready;
pub mod principal;
mod service_util;
pub mod store;
pub mod verify;

#[cfg(feature = "axum")]
mod axum;
#[cfg(feature = "axum")]
pub use axum::MissingPrincipal;
#[cfg(feature = "issuer")]
pub mod issuer;

pub use error::{AuthError, ErrorKind};
pub use layer::{Gatekeeper, GatekeeperBuilder, GatekeeperLayer};
pub use maybe_ready::{BoxFuture, MaybeReady, MaybeReadyFuture};
pub use principal::Principal;
