//! Checking the issuer's own tokens: signature or store, then revocation and accounts.

use std::borrow::Cow;
use std::fmt;
use std::future::{Future as _, IntoFuture as _};

use super::TokenIssuer;
use crate::accounts::UserRegistry;
use crate::extract::{Credential, Scheme};
use crate::maybe_ready::{MaybeReady, MaybeReadyFuture};
use crate::principal::{Identity, Principal, PrincipalKind};
use crate::store::StoreError;
use crate::verify::{
    ReusableVerification, Reuse, Revalidation, Verification, Verified, Verifier, VerifyError,
    digest,
};

/// What the issuer knows of a live token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The client it was issued to.
    pub client_id: String,
    /// Its subject.
    pub subject: String,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// Issued at (Unix seconds).
    pub issued_at: Option<u64>,
    /// Expires at (Unix seconds).
    pub expires_at: u64,
    /// Its id (`jti`).
    pub token_id: Option<String>,
    /// Whether it is a JWT (else opaque).
    pub is_jwt: bool,
}

impl TokenIssuer {
    /// What the issuer knows of `token` if it is live: issued here, signature valid, not
    /// expired, not revoked, its client and user enabled. Otherwise why not (a description
    /// safe to show); [`VerifyError::Unavailable`] when a store could not answer.
    ///
    /// `Ready` when every answer is in memory (always, in memory mode); await it either way.
    pub fn inspect(&self, token: &str) -> MaybeReady<Result<TokenInfo, VerifyError>> {
        let issuer = self.clone();
        self.decode_own(token)
            .and_then(move |decoded| match decoded {
                Err(e) => MaybeReady::Ready(Err(e)),
                Ok(info) => issuer
                    .check_live(&info)
                    .map(move |live| live.map(|()| info)),
            })
    }

    /// Decodes a token of this issuer's, checking signature (or store) and expiry only.
    fn decode_own(&self, token: &str) -> MaybeReady<Result<TokenInfo, VerifyError>> {
        if crate::verify::looks_like_jwt(token) {
            return MaybeReady::Ready(self.jwt_verifier().verify_token(token).map(|identity| {
                let issued_at = identity.issued_at();
                TokenInfo {
                    client_id: identity
                        .client_id()
                        .unwrap_or(identity.subject())
                        .to_owned(),
                    subject: identity.subject().to_owned(),
                    scopes: identity.scopes().to_vec(),
                    issued_at,
                    expires_at: identity.expires_at().unwrap_or(0),
                    token_id: identity.token_id().map(str::to_owned),
                    is_jwt: true,
                }
            }));
        }
        let clock = self.clock().clone();
        self.tokens().opaque(&digest(token)).map(move |found| {
            let record =
                found?.ok_or_else(|| VerifyError::invalid("the token is unknown or revoked"))?;
            if clock.unix_seconds() >= record.expires_at {
                return Err(VerifyError::invalid("the token has expired"));
            }
            Ok(TokenInfo {
                client_id: record.client_id.clone(),
                subject: record.subject.clone(),
                scopes: record.scopes.clone(),
                issued_at: Some(record.issued_at),
                expires_at: record.expires_at,
                token_id: Some(record.token_id.clone()),
                is_jwt: false,
            })
        })
    }

    fn check_live(&self, info: &TokenInfo) -> MaybeReady<Result<(), VerifyError>> {
        let jti = info.token_id.as_deref().filter(|_| info.is_jwt);
        let kind = PrincipalKind::of_token(&info.subject, Some(&info.client_id));
        self.check_live_parts(&info.client_id, &info.subject, kind, jti)
    }

    /// Revocation (by `jti`, for JWTs) and accounts: the checks every request pays. The three
    /// store reads start together; when all are answered from memory the answer is `Ready`,
    /// with no allocation, else one future waits for the cold ones. The user check applies
    /// only to a user's token (its subject is not its client): client `1001`'s own token is
    /// not user `1001`'s, and disabling that user does not touch it (the namespaces are
    /// separate, see [`PrincipalKind`]). A store that cannot answer is
    /// [`VerifyError::Unavailable`] (503), never a pass.
    fn check_live_parts(
        &self,
        client_id: &str,
        subject: &str,
        kind: PrincipalKind,
        jti: Option<&str>,
    ) -> MaybeReady<Result<(), VerifyError>> {
        let revoked = match jti {
            Some(jti) => self.tokens().is_revoked(jti),
            None => MaybeReady::Ready(Ok(false)),
        };
        let active = self.clients().is_active(client_id);
        let disabled = match self.users() {
            Some(users) if kind == PrincipalKind::User => user_disabled(users, subject),
            _ => MaybeReady::Ready(Ok(false)),
        };
        join3(revoked, active, disabled).map(|(revoked, active, disabled)| {
            if revoked? {
                return Err(VerifyError::invalid("the token was revoked"));
            }
            if !active? {
                return Err(VerifyError::invalid("the client is disabled or unknown"));
            }
            if disabled? {
                return Err(VerifyError::invalid("the account is disabled"));
            }
            Ok(())
        })
    }

    /// Revokes `token`. With `by_client`, only a token issued to that client (RFC 7009);
    /// `Ok(false)` when the token was not live (unknown, expired, already revoked). In redis
    /// mode the revocation reaches every node's cache through the store's change notice.
    pub async fn revoke(&self, token: &str, by_client: Option<&str>) -> Result<bool, RevokeError> {
        let info = match self.decode_own(token).await {
            Ok(info) => info,
            Err(VerifyError::Unavailable(d)) => return Err(RevokeError::Unavailable(d)),
            Err(_) => return Ok(false),
        };
        if by_client.is_some_and(|c| c != info.client_id) {
            return Err(RevokeError::AnotherClient);
        }
        let now = self.clock().unix_seconds();
        let done = if info.is_jwt {
            let Some(jti) = &info.token_id else {
                return Ok(false);
            };
            self.tokens().revoke_jti(jti, info.expires_at, now).await
        } else {
            self.tokens().forget_opaque(&digest(token)).await
        };
        if done == Ok(true) {
            crate::observe::token_revoked();
        }
        done.map_err(|e| RevokeError::Unavailable(e.to_string().into()))
    }
}

/// Whether user `uid` is disabled, as the issuer's liveness checks ask it: `Ready` from memory
/// (always in memory mode); in redis mode one read when this node has not cached the user,
/// and a store that cannot answer is a `StoreError` (503), never a pass.
fn user_disabled(users: &UserRegistry, uid: &str) -> MaybeReady<Result<bool, StoreError>> {
    users.disabled(uid)
}

/// Joins three answers: `Ready` at once when all three are (no allocation), else one future
/// that drives the waiting ones together (their reads run concurrently).
fn join3<A, B, C>(a: MaybeReady<A>, b: MaybeReady<B>, c: MaybeReady<C>) -> MaybeReady<(A, B, C)>
where
    A: Send + 'static,
    B: Send + 'static,
    C: Send + 'static,
{
    match (a, b, c) {
        (MaybeReady::Ready(a), MaybeReady::Ready(b), MaybeReady::Ready(c)) => {
            MaybeReady::Ready((a, b, c))
        }
        (a, b, c) => {
            let (mut a, mut b, mut c) = (Part::new(a), Part::new(b), Part::new(c));
            MaybeReady::pending(async move {
                std::future::poll_fn(|cx| {
                    // Poll all three every time (no short-circuit).
                    let done = [a.poll(cx), b.poll(cx), c.poll(cx)];
                    if done.iter().all(|d| *d) {
                        std::task::Poll::Ready(())
                    } else {
                        std::task::Poll::Pending
                    }
                })
                .await;
                (a.take(), b.take(), c.take())
            })
        }
    }
}

/// One answer of a [`join3`].
enum Part<T> {
    Waiting(MaybeReadyFuture<T>),
    Done(Option<T>),
}

impl<T> Part<T> {
    fn new(answer: MaybeReady<T>) -> Self {
        match answer {
            MaybeReady::Ready(value) => Self::Done(Some(value)),
            pending => Self::Waiting(pending.into_future()),
        }
    }

    fn poll(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        if let Self::Waiting(future) = self {
            match std::pin::Pin::new(future).poll(cx) {
                std::task::Poll::Ready(value) => *self = Self::Done(Some(value)),
                std::task::Poll::Pending => return false,
            }
        }
        true
    }

    fn take(&mut self) -> T {
        match self {
            Self::Done(value) => value.take().expect("taken once"),
            Self::Waiting(_) => unreachable!("taken before it was done"),
        }
    }
}

/// Why [`TokenIssuer::revoke`] refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevokeError {
    /// The token was issued to another client (RFC 7009 §2.1: a client revokes only its own).
    AnotherClient,
    /// The token store could not be reached or read (answer 503 and try again); the
    /// description names the operation, never the token.
    Unavailable(Cow<'static, str>),
}

impl fmt::Display for RevokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AnotherClient => f.write_str("the token was issued to another client"),
            Self::Unavailable(d) => write!(f, "the token store is unavailable: {d}"),
        }
    }
}

impl std::error::Error for RevokeError {}

/// Verifies this issuer's tokens, JWT or opaque, with revocation and account checks.
#[derive(Clone)]
pub struct IssuerVerifier {
    issuer: TokenIssuer,
}

impl fmt::Debug for IssuerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerVerifier")
            .field("issuer", &self.issuer)
            .finish()
    }
}

impl IssuerVerifier {
    pub(crate) fn new(issuer: TokenIssuer) -> Self {
        Self { issuer }
    }
}

/// Reuse stamps: which kind of token a kept answer is for.
const JWT: u64 = 0;
const OPAQUE: u64 = 1;

impl Verifier for IssuerVerifier {
    fn verify(&self, credential: &Credential<'_>) -> Verification {
        self.verify_reusable(credential)
            .map(|result| result.map(|verified| verified.principal))
    }

    /// Kept until the token expires; every hit is revalidated like a first check is:
    /// revocation, the client and the user (see [`revalidate`](Self::revalidate)).
    fn verify_reusable(&self, credential: &Credential<'_>) -> ReusableVerification {
        let (Scheme::Bearer, Some(token)) = (credential.scheme(), credential.token()) else {
            return MaybeReady::Ready(Err(VerifyError::NotApplicable));
        };
        let issuer = &self.issuer;
        if crate::verify::looks_like_jwt(token) {
            let (identity, reuse) = match issuer.inner.jwt.verify_token_reusable(token) {
                Ok(verified) => verified,
                Err(e) => return MaybeReady::Ready(Err(e)),
            };
            let client_id = identity.client_id().unwrap_or(identity.subject());
            // The issuer signs client-credentials tokens only (`sub` = `client_id`): a
            // client. The kind follows the claims, so a token naming a user stays a user's.
            let live = issuer.check_live_parts(
                client_id,
                identity.subject(),
                identity.kind(),
                identity.token_id(),
            );
            return live.map(move |live| {
                live.map(|()| Verified::reusable(Principal::new(identity), reuse.with_stamp(JWT)))
            });
        }
        let issuer = issuer.clone();
        self.issuer
            .tokens()
            .opaque(&digest(token))
            .and_then(move |found| {
                let record = match found {
                    Err(e) => return MaybeReady::Ready(Err(e.into())),
                    // Not ours: another verifier of a chain may know it.
                    Ok(None) => return MaybeReady::Ready(Err(VerifyError::NotApplicable)),
                    Ok(Some(record)) => record,
                };
                if issuer.clock().unix_seconds() >= record.expires_at {
                    return MaybeReady::Ready(Err(VerifyError::invalid("the token has expired")));
                }
                let kind = PrincipalKind::of_token(&record.subject, Some(&record.client_id));
                let live = issuer.check_live_parts(&record.client_id, &record.subject, kind, None);
                live.map(move |live| {
                    live.map(|()| {
                        let identity = Identity::new(record.subject.clone())
                            .with_kind(kind)
                            .with_client_id(record.client_id.clone())
                            .with_scopes(record.scopes.iter().cloned())
                            .with_expires_at(record.expires_at)
                            .with_token_id(record.token_id.clone());
                        let reuse = Reuse::until(record.expires_at).with_stamp(OPAQUE);
                        Verified::reusable(Principal::new(identity), reuse)
                    })
                })
            })
    }

    /// The checks every request pays, from memory: the `jti` not revoked (JWTs), the opaque
    /// token still stored (it is forgotten when revoked), the client active, the user enabled.
    /// What this node cannot answer from memory at once (redis mode: not cached, or its view
    /// older than the staleness bound) makes the kept answer stale: the token is verified
    /// afresh, which asks Redis, and a Redis that cannot answer is a 503, never a pass.
    fn revalidate(
        &self,
        credential: &Credential<'_>,
        principal: &Principal,
        stamp: u64,
    ) -> Revalidation {
        let issuer = &self.issuer;
        let identity = principal.identity();
        let jti = match stamp {
            JWT => identity.token_id(),
            _ => {
                // On the bytes: a hit never reads the token as text.
                let Some(token) = credential.token_bytes() else {
                    return Revalidation::Stale;
                };
                match issuer.tokens().opaque(&digest(token)) {
                    MaybeReady::Ready(Ok(Some(_))) => {}
                    MaybeReady::Ready(Ok(None)) => {
                        return Revalidation::Invalid(VerifyError::invalid(
                            "the token is unknown or revoked",
                        ));
                    }
                    MaybeReady::Ready(Err(e)) => return Revalidation::Invalid(e.into()),
                    MaybeReady::Pending(_) => return Revalidation::Stale,
                }
                None
            }
        };
        let client_id = identity.client_id().unwrap_or(identity.subject());
        match issuer.check_live_parts(client_id, identity.subject(), identity.kind(), jti) {
            MaybeReady::Ready(Ok(())) => Revalidation::Valid,
            MaybeReady::Ready(Err(error)) => Revalidation::Invalid(error),
            MaybeReady::Pending(_) => Revalidation::Stale,
        }
    }

    fn clock(&self) -> &dyn crate::clock::Clock {
        &**self.issuer.clock()
    }
}
