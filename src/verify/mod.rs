//! Stage 2: turning a credential into a [`Principal`].
//!
//! A [`Verifier`] answers, for one credential, with a principal or a [`VerifyError`] that
//! tells an invalid credential (401) from a backend that could not be asked (503). Ready-made
//! verifiers:
//!
//! - [`JwtVerifier`]: JWTs through `jsonwebtoken`, with per-key algorithm allow-lists;
//! - [`ApiKeyVerifier`]: API keys kept as SHA-256 digests (from bearer carriers too, opt-in;
//!   they verify as API keys all the same);
//! - [`BasicVerifier`]: user names and argon2 password hashes, checked under a
//!   [`HashingPool`] (a bound on concurrent argon2 work);
//! - [`FirstMatch`]: the first verifier that recognises the credential decides.
//!
//! Closures are verifiers too:
//!
//! ```
//! use tower_gatekeeper::extract::{Credential, Source};
//! use tower_gatekeeper::principal::{Identity, Principal};
//! use tower_gatekeeper::verify::{Verifier, VerifyError};
//!
//! let only_demo = |c: Credential<'static>| async move {
//!     match c.token() {
//!         Some("demo") => Ok(Principal::new(Identity::new("demo-user"))),
//!         _ => Err(VerifyError::invalid("unknown token")),
//!     }
//! };
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let p = only_demo.verify(&Credential::bearer("demo", Source::Header)).await.unwrap();
//! assert_eq!(p.subject(), "demo-user");
//! # });
//! ```

mod api_key;
#[cfg(feature = "basic")]
mod basic;
mod cache;
pub(crate) use cache::Lookup;
#[cfg(feature = "basic")]
mod hashing;
#[cfg(feature = "introspection")]
mod introspection;
mod jwks;
mod jwt;
mod remote;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

pub use api_key::{ApiKeyStore, ApiKeyVerifier};
#[cfg_attr(not(feature = "issuer"), allow(unused_imports))]
pub(crate) use api_key::{HexDigest, digest, parse_hex_digest};
#[cfg(feature = "basic")]
pub(crate) use basic::check_phc;
#[cfg(feature = "issuer")]
pub(crate) use basic::password_matches;
#[cfg(feature = "basic")]
pub use basic::{BasicUsers, BasicVerifier, hash_password};
pub use cache::{
    CacheConfig, CacheStats, CachedVerifier, Reuse, Revalidation, Verified, VerifiedCache,
};
#[cfg(feature = "basic")]
pub use hashing::{HashingBusy, HashingPool, HashingPoolBuilder};
#[cfg(feature = "issuer")]
pub(crate) use hashing::{MAX_ARGON2_BLOCKS, with_deadline};
#[cfg(feature = "introspection")]
pub use introspection::{IntrospectionVerifier, IntrospectionVerifierBuilder};
pub use jwks::{JwksVerifier, JwksVerifierBuilder};
pub(crate) use jwt::claims;
pub use jwt::{JwtKey, JwtVerifier, JwtVerifierBuilder, KeyError, looks_like_jwt};
#[cfg(feature = "reqwest")]
pub use remote::ReqwestClient;
pub use remote::{ClientAuth, FetchError, HttpClient, HttpResponse};

use crate::clock::Clock;
use crate::error::AuthError;
use crate::extract::Credential;
use crate::maybe_ready::MaybeReady;
use crate::principal::Principal;

/// Why a credential was not turned into a principal.
#[derive(Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// This verifier does not handle this kind of credential; a [`FirstMatch`] tries the next.
    NotApplicable,
    /// The credential is invalid, expired, revoked, or its account is disabled (401).
    Invalid(Cow<'static, str>),
    /// The verifier could not decide: its backend is unreachable (503).
    Unavailable(Cow<'static, str>),
}

impl VerifyError {
    /// An invalid credential; `description` is shown to the client, so never put the
    /// credential in it.
    pub fn invalid(description: impl Into<Cow<'static, str>>) -> Self {
        Self::Invalid(description.into())
    }

    /// An unreachable backend.
    pub fn unavailable(description: impl Into<Cow<'static, str>>) -> Self {
        Self::Unavailable(description.into())
    }
}

impl fmt::Debug for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotApplicable => f.write_str("NotApplicable"),
            Self::Invalid(d) => write!(f, "Invalid({d:?})"),
            Self::Unavailable(d) => write!(f, "Unavailable({d:?})"),
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotApplicable => f.write_str("credential not accepted"),
            Self::Invalid(d) => write!(f, "invalid credential: {d}"),
            Self::Unavailable(d) => write!(f, "verifier unavailable: {d}"),
        }
    }
}

impl std::error::Error for VerifyError {}

impl From<VerifyError> for AuthError {
    fn from(err: VerifyError) -> Self {
        match err {
            VerifyError::NotApplicable => {
                AuthError::invalid_token("the credential is not accepted here")
            }
            VerifyError::Invalid(d) => AuthError::invalid_token(d),
            VerifyError::Unavailable(d) => AuthError::unavailable(d),
        }
    }
}

/// What a verifier answers: a principal or an error, now or later.
pub type Verification = MaybeReady<Result<Principal, VerifyError>>;

/// What [`Verifier::verify_reusable`] answers: a principal that may be kept, or an error.
pub type ReusableVerification = MaybeReady<Result<Verified, VerifyError>>;

/// Turns a credential into a principal.
///
/// A verifier that takes a credential as another kind than what carried it (an API key sent
/// as a bearer token) says so with [`Principal::with_credential`]: the layer keeps the
/// verifier's [`scheme`](crate::principal::CredentialInfo::scheme) and sets the source. One
/// that says nothing is taken to have verified what the source carries.
///
/// Answer [`MaybeReady::Ready`] when the answer is at hand (a signature check, a map lookup):
/// the layer then runs without allocating a future. Answer [`MaybeReady::Pending`] when it
/// must wait; the future must own what it needs (use [`Credential::into_owned`]).
///
/// A verifier whose answer can be kept for the same credential says so in
/// [`verify_reusable`](Self::verify_reusable), and re-checks a kept answer on every hit in
/// [`revalidate`](Self::revalidate); the layer's [`CachedVerifier`] does the rest. By default
/// nothing is kept.
pub trait Verifier: Send + Sync + 'static {
    /// Verifies `credential`.
    fn verify(&self, credential: &Credential<'_>) -> Verification;

    /// Verifies `credential` and says whether, until when and under which stamp the answer
    /// may be served again for the same credential.
    ///
    /// The default answers like [`verify`](Self::verify) and allows no reuse: only the
    /// verifier knows what could change its answer, so it must opt in.
    fn verify_reusable(&self, credential: &Credential<'_>) -> ReusableVerification {
        self.verify(credential)
            .map(|result| result.map(Verified::once))
    }

    /// Re-checks an answer this verifier gave for `credential` before (with the
    /// [`Reuse`] stamp it gave), each time it is served again from a cache. Runs on the request
    /// path: answer from memory, without waiting (revocation lists, account flags, store
    /// generations).
    ///
    /// The cache has already checked the reuse deadline against [`clock`](Self::clock). The
    /// default: still valid.
    fn revalidate(
        &self,
        credential: &Credential<'_>,
        principal: &Principal,
        stamp: u64,
    ) -> Revalidation {
        let _ = (credential, principal, stamp);
        Revalidation::Valid
    }

    /// The clock this verifier judges expiry by; a kept answer's deadline is compared with it.
    /// The default is the system clock.
    fn clock(&self) -> &dyn Clock {
        &crate::clock::SystemClock
    }
}

impl<F, Fut> Verifier for F
where
    F: Fn(Credential<'static>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Principal, VerifyError>> + Send + 'static,
{
    fn verify(&self, credential: &Credential<'_>) -> Verification {
        MaybeReady::pending(self(credential.clone().into_owned()))
    }
}

impl<V: Verifier + ?Sized> Verifier for Arc<V> {
    fn verify(&self, credential: &Credential<'_>) -> Verification {
        (**self).verify(credential)
    }

    fn verify_reusable(&self, credential: &Credential<'_>) -> ReusableVerification {
        (**self).verify_reusable(credential)
    }

    fn revalidate(
        &self,
        credential: &Credential<'_>,
        principal: &Principal,
        stamp: u64,
    ) -> Revalidation {
        (**self).revalidate(credential, principal, stamp)
    }

    fn clock(&self) -> &dyn Clock {
        (**self).clock()
    }
}

/// Tries verifiers in order; the first that does not answer
/// [`NotApplicable`](VerifyError::NotApplicable) decides.
///
/// ```
/// use tower_gatekeeper::verify::{ApiKeyStore, ApiKeyVerifier, FirstMatch, JwtVerifier, Verifier};
/// use tower_gatekeeper::extract::{Credential, Source};
/// use tower_gatekeeper::principal::Identity;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let keys = ApiKeyStore::new();
/// keys.insert("k-123", Identity::new("svc")).await.unwrap();
/// let chain = FirstMatch::new()
///     .or(JwtVerifier::hs256(b"0123456789abcdef0123456789abcdef").unwrap())
///     .or(ApiKeyVerifier::new(keys));
/// // not a JWT: the JWT verifier passes, the key store answers
/// let answer = chain.verify(&Credential::api_key("k-123", Source::Header)).await;
/// assert_eq!(answer.unwrap().subject(), "svc");
/// # });
/// ```
#[derive(Clone, Default)]
pub struct FirstMatch {
    verifiers: Arc<[Arc<dyn Verifier>]>,
}

impl fmt::Debug for FirstMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FirstMatch({} verifiers)", self.verifiers.len())
    }
}

impl FirstMatch {
    /// An empty chain; it accepts nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a verifier at the end of the chain.
    pub fn or(self, verifier: impl Verifier) -> Self {
        let mut list: Vec<Arc<dyn Verifier>> = self.verifiers.iter().cloned().collect();
        list.push(Arc::new(verifier));
        Self {
            verifiers: list.into(),
        }
    }

    fn verify_from(
        verifiers: &Arc<[Arc<dyn Verifier>]>,
        start: usize,
        credential: &Credential<'_>,
    ) -> Verification {
        for i in start..verifiers.len() {
            match verifiers[i].verify(credential) {
                MaybeReady::Ready(Err(VerifyError::NotApplicable)) => continue,
                MaybeReady::Ready(result) => return MaybeReady::Ready(result),
                MaybeReady::Pending(fut) => {
                    let credential = credential.clone().into_owned();
                    let verifiers = verifiers.clone();
                    return MaybeReady::pending(async move {
                        match fut.await {
                            Err(VerifyError::NotApplicable) => {
                                Self::verify_from(&verifiers, i + 1, &credential).await
                            }
                            other => other,
                        }
                    });
                }
            }
        }
        MaybeReady::Ready(Err(VerifyError::NotApplicable))
    }
}

impl FirstMatch {
    /// Like `verify_from`, keeping the reuse of the verifier that answered and naming it, so
    /// that a cache revalidates hits with that verifier.
    fn reusable_from(
        verifiers: &Arc<[Arc<dyn Verifier>]>,
        start: usize,
        credential: &Credential<'_>,
    ) -> ReusableVerification {
        let named = |i: usize, verified: Verified| Verified {
            reuse: verified.reuse.map(|r| r.answered_by(verifiers[i].clone())),
            principal: verified.principal,
        };
        for i in start..verifiers.len() {
            match verifiers[i].verify_reusable(credential) {
                MaybeReady::Ready(Err(VerifyError::NotApplicable)) => continue,
                MaybeReady::Ready(result) => return MaybeReady::Ready(result.map(|v| named(i, v))),
                MaybeReady::Pending(fut) => {
                    let credential = credential.clone().into_owned();
                    let verifiers = verifiers.clone();
                    return MaybeReady::pending(async move {
                        match fut.await {
                            Err(VerifyError::NotApplicable) => {
                                Self::reusable_from(&verifiers, i + 1, &credential).await
                            }
                            Ok(verified) => Ok(Verified {
                                reuse: verified.reuse.map(|r| r.answered_by(verifiers[i].clone())),
                                principal: verified.principal,
                            }),
                            Err(e) => Err(e),
                        }
                    });
                }
            }
        }
        MaybeReady::Ready(Err(VerifyError::NotApplicable))
    }
}

impl Verifier for FirstMatch {
    fn verify(&self, credential: &Credential<'_>) -> Verification {
        Self::verify_from(&self.verifiers, 0, credential)
    }

    fn verify_reusable(&self, credential: &Credential<'_>) -> ReusableVerification {
        Self::reusable_from(&self.verifiers, 0, credential)
    }

    /// Kept answers name the verifier of the chain that gave them and are revalidated by it;
    /// one that names none is verified again.
    fn revalidate(&self, _: &Credential<'_>, _: &Principal, _: u64) -> Revalidation {
        Revalidation::Stale
    }
}
