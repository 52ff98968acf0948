//! Tower layers that authenticate and authorize calls to published APIs.
//!
//! A [`GatekeeperLayer`] runs every request through one pipeline, each stage a trait with
//! ready implementations, usable through the layer's builder or on its own:
//!
//! ```text
//! request ─► extract ─► verify ─► impersonate / tenant ─► grant check ─► inject Principal ─► inner service
//!               │          │               │                    │
//!           Credential  Principal    effective user         API grant
//! ```
//!
//! | stage | module | what it does |
//! | --- | --- | --- |
//! | extract | [`extract`] | finds one credential: `Authorization: Bearer` / `Basic`, a named header (`X-API-Key`), a query parameter, a form or JSON body field; two are refused (RFC 6750 §2) |
//! | verify | [`verify`] | turns it into a [`Principal`]: JWTs (HS\*, RS\*, PS\*, ES\*, EdDSA), JWKS, API keys, Basic users (feature `basic`), RFC 7662 introspection (feature `introspection`), chains, your own |
//! | impersonate | [`impersonate`] | `sudo=…` and `tenantId=…` / `tenantCode=…`: act as a user inside a tenant, keeping the caller as the actor |
//! | grant check | [`grant`] | per-API grants with their lifecycle (authorize, renew, revoke with notice, apply, approve) |
//! | inject | [`principal`] | the [`Principal`] lands in the request extensions and, with feature `axum`, in handlers as an extractor |
//!
//! Refusals follow RFC 6750 and RFC 6749 (401 with `WWW-Authenticate`, 400 `invalid_request`,
//! 403 `insufficient_scope`, 503 when a backend is down, 413 and 408 for bodies), rendered in
//! one place ([`error`]); their body format is pluggable. Secrets never reach `Debug`, logs or
//! error texts.
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower_gatekeeper::extract::CredentialSources;
//! use tower_gatekeeper::verify::JwtVerifier;
//! use tower_gatekeeper::{GatekeeperLayer, Principal};
//!
//! let verifier = JwtVerifier::builder()
//!     .hs256(b"a secret of at least thirty-two bytes!")
//!     .issuer("https://auth.example")
//!     .audience("orders-api")
//!     .build()
//!     .expect("valid key");
//!
//! let app: Router = Router::new()
//!     .route("/whoami", get(|p: Principal| async move { p.subject().to_owned() }))
//!     // `route_layer`: only matched routes are guarded; other paths stay a plain 404.
//!     .route_layer(
//!         GatekeeperLayer::builder(verifier)
//!             .realm("orders")
//!             .sources(CredentialSources::new().query("access_token"))
//!             .require_scopes(["orders:read"])
//!             .build(),
//!     );
//! ```
//!
//! The layer fits `Router::layer` and `Router::route_layer`, a single `MethodRouter`, a
//! `tower::ServiceBuilder` beside tower-http's layers, and any tower service whose request
//! body implements `http_body::Body`.
//!
//! # The token side
//!
//! With feature `issuer`, [`issuer`] adds an authorization server of its own: the RFC 6749
//! §4.4 client-credentials token endpoint (RFC 9068 JWTs or opaque tokens), a token check,
//! RFC 7662 introspection, RFC 7009 revocation and RFC 8414 metadata, each a tower service
//! mounted where you choose, and admin services for grants and accounts.
//!
//! # Discovery
//!
//! [`discovery::ProtectedResourceMetadata`] serves RFC 9728 metadata for a resource server,
//! and [`GatekeeperBuilder::resource_metadata`] points every `Bearer` challenge at it; the
//! issuer's RFC 8414 metadata is `issuer::MetadataEndpoint`.
//!
//! # Features
//!
//! | feature | default | adds |
//! | --- | --- | --- |
//! | `axum` | yes | `Principal` / `Option<Principal>` extractors, `IntoResponse` for [`AuthError`] |
//! | `basic` | no | `BasicVerifier`, `BasicUsers`, `hash_password`, the `HashingPool` bound on argon2 work, `accounts::UserRegistry` (`argon2`, `getrandom`) |
//! | `issuer` | no | the token side above (implies `basic`) |
//! | `introspection` | no | `IntrospectionVerifier` with a bounded, coalescing cache (`moka`) |
//! | `reqwest` | no | `ReqwestClient`, an [`HttpClient`](verify::HttpClient) on reqwest + rustls for JWKS and introspection |
//! | `config` | no | `config::Config`: the whole setup (issuer, clients, users, tenants, APIs, grants, API keys, store) from one TOML file, built in one call (implies `issuer` and `axum`; `toml`) |
//! | `metrics` | no | counters and a latency histogram through the `metrics` facade: names in the `metrics` module |
//!
//! The default build is a resource server. Everything else is opt-in, and each feature builds
//! on its own without warnings (the CI checks each).
//!
//! # Guides
//!
//! The repository's `docs/` directory (shipped in the crate's source too) explains the
//! design: `getting-started.md`, `configuration.md` (the TOML format of `config`, which the quickstart reads),
//! `architecture.md`, `security.md` (every security decision and why), `tokens.md`,
//! `grants.md`, `impersonation.md`, `performance.md`, `migrating.md` (from tower-http's
//! auth layers and from jwt-authorizer) and `observability.md` (the decision span, audit
//! records and metrics).

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

#[cfg(feature = "basic")]
pub mod accounts;
pub mod clock;
#[cfg(feature = "config")]
pub mod config;
pub mod discovery;
pub mod error;
pub mod extract;
pub mod grant;
#[cfg(feature = "tonic")]
pub mod grpc;
pub mod impersonate;
#[cfg(feature = "issuer")]
mod json;
pub mod layer;
mod maybe_ready;
#[cfg(feature = "metrics")]
pub mod metrics;
mod observe;
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
#[cfg(feature = "axum")]
pub use layer::{AxumGatekeeper, AxumGatekeeperLayer};
pub use layer::{Gatekeeper, GatekeeperBuilder, GatekeeperLayer};
pub use maybe_ready::{BoxFuture, MaybeReady, MaybeReadyFuture};
pub use principal::Principal;

/// The README's examples run as doc tests, so that what it shows compiles.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
