//! JWTs signed by another authorization server, with keys from its JWKS URL.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use jsonwebtoken::{Algorithm, DecodingKey, decode_header};
use serde_json::Value;

use super::jwt::looks_like_jwt;
use super::remote::{FetchError, HttpClient};
use super::{JwtKey, JwtVerifier, JwtVerifierBuilder, Verification, Verifier, VerifyError};
use crate::clock::{Clock, SharedClock};
use crate::extract::{Credential, Scheme};
use crate::maybe_ready::{BoxFuture, MaybeReady};
use crate::principal::Principal;

/// The deadline of one key (or discovery) fetch unless configured.
const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The claim checks of a JWKS verifier: everything a [`JwtVerifierBuilder`] sets but keys.
type Template = Arc<dyn Fn() -> JwtVerifierBuilder + Send + Sync>;

struct KeySet {
    verifier: JwtVerifier,
    kids: HashSet<String>,
    unnamed: bool,
    fetched_at: u64,
}

struct Inner {
    url: String,
    client: Arc<dyn HttpClient>,
    template: Template,
    clock: SharedClock,
    ttl: u64,
    cooldown: u64,
    max_stale: u64,
    fetch_timeout: Duration,
    keys: ArcSwapOption<KeySet>,
    /// When a fetch was last started (successful or not), for the cooldown.
    last_attempt: AtomicU64,
    /// When a fetch last failed (0 after a success).
    last_failure: AtomicU64,
    /// How many fetches were made (for tests and metrics).
    fetches: AtomicU64,
    /// Held only while fetching: one fetch at a time; readers never touch it.
    refresh: tokio::sync::Mutex<()>,
}

/// Verifies JWTs against the keys an authorization server publishes (RFC 7517 JWK Set).
///
/// Keys are fetched through a pluggable [`HttpClient`], cached for a TTL (5 minutes by
/// default), refetched when a token names an unknown `kid` — at most once per cooldown (30 s),
/// so a storm of made-up `kid`s costs one fetch — and kept when a refetch fails, for a bounded
/// time (1 hour past the TTL), after which requests get 503. Readers load the current key set
/// without a lock; only the fetch itself is serialised, and it has a deadline
/// ([`fetch_timeout`](JwksVerifierBuilder::fetch_timeout), 5 s by default, whatever the
/// [`HttpClient`] does): a request waiting for keys waits at most that long, then gets 503 (or
/// the last good keys, while they may still be used). The deadline uses Tokio's timer: run it in
/// a runtime with time enabled (`#[tokio::main]` and `#[tokio::test]` have it).
///
/// Each JWK's `use` (must be `sig` when present), `alg` (the only algorithm the key may verify;
/// when absent, the one its `kty`/`crv` implies: RS256, ES256, ES384 or EdDSA) and `kty` are
/// honoured; symmetric (`oct`) keys are never accepted from a JWKS, and `jku`, `x5u` or an
/// embedded `jwk` in a token header are never fetched or trusted.
///
/// ```no_run
/// use std::sync::Arc;
/// use tower_gatekeeper::verify::{JwksVerifier, JwtVerifier, ReqwestClient};
///
/// let verifier = JwksVerifier::builder("https://auth.example/.well-known/jwks.json", ReqwestClient::new())
///     .claims(|| JwtVerifier::builder().issuer("https://auth.example").audience("orders-api"))
///     .build();
/// ```
#[derive(Clone)]
pub struct JwksVerifier {
    inner: Arc<Inner>,
}

impl fmt::Debug for JwksVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksVerifier")
            .field("url", &self.inner.url)
            .field("ttl", &self.inner.ttl)
            .field("cooldown", &self.inner.cooldown)
            .field("fetches", &self.inner.fetches.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Builds a [`JwksVerifier`].
#[must_use]
pub struct JwksVerifierBuilder {
    url: String,
    client: Arc<dyn HttpClient>,
    template: Template,
    clock: SharedClock,
    ttl: Duration,
    cooldown: Duration,
    max_stale: Duration,
    fetch_timeout: Duration,
}

impl fmt::Debug for JwksVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksVerifierBuilder")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl JwksVerifierBuilder {
    /// The claim checks (`iss`, `aud`, leeway, required claims, `typ`), as a builder without
    /// keys.
    pub fn claims(
        mut self,
        template: impl Fn() -> JwtVerifierBuilder + Send + Sync + 'static,
    ) -> Self {
        self.template = Arc::new(template);
        self
    }
    /// How long fetched keys are used before they are refetched (default 5 minutes).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }
    /// The least time between two fetches (default 30 s).
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }
    /// How long past the TTL the last good keys stay in use while fetches fail (default 1 h).
    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        self.max_stale = max_stale;
        self
    }
    /// The clock (also used for `exp` and `nbf`).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }
    /// The deadline of one key fetch, whatever the [`HttpClient`]'s own (default 5 s). Requests
    /// waiting for a fetch wait at most this long.
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }
    /// Builds the verifier. Keys are fetched on first use.
    pub fn build(self) -> JwksVerifier {
        JwksVerifier {
            inner: Arc::new(Inner {
                url: self.url,
                client: self.client,
                template: self.template,
                clock: self.clock,
                ttl: self.ttl.as_secs(),
                cooldown: self.cooldown.as_secs(),
                max_stale: self.max_stale.as_secs(),
                fetch_timeout: self.fetch_timeout,
                keys: ArcSwapOption::empty(),
                last_attempt: AtomicU64::new(0),
                last_failure: AtomicU64::new(0),
                fetches: AtomicU64::new(0),
                refresh: tokio::sync::Mutex::new(()),
            }),
        }
    }
}

/// The algorithm a JWK may verify, or `None` when it must not be used for signatures.
fn jwk_algorithm(jwk: &Value) -> Option<Algorithm> {
    if jwk.get("use").is_some_and(|u| u != "sig") {
        return None;
    }
    let kty = jwk.get("kty")?.as_str()?;
    let implied = match (kty, jwk.get("crv").and_then(Value::as_str)) {
        ("RSA", _) => Algorithm::RS256,
        ("EC", Some("P-256")) => Algorithm::ES256,
        ("EC", Some("P-384")) => Algorithm::ES384,
        ("OKP", Some("Ed25519")) => Algorithm::EdDSA,
        // Symmetric keys never come from a JWKS; other curves are not supported.
        _ => return None,
    };
    let alg = match jwk.get("alg") {
        None => implied,
        Some(alg) => Algorithm::from_str(alg.as_str()?).ok()?,
    };
    // The algorithm must belong to the key type.
    (alg.family() == implied.family()).then_some(alg)
}

/// Parses a JWK Set document into keys; unusable keys are skipped.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<Vec<JwtKey>, FetchError> {
    let doc: Value =
        serde_json::from_slice(body).map_err(|_| FetchError("the JWKS is not JSON".into()))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| FetchError("the JWKS has no keys array".into()))?;
    let mut out = Vec::new();
    for jwk in keys {
        let Some(alg) = jwk_algorithm(jwk) else {
            continue;
        };
        let Ok(parsed) = serde_json::from_value::<jsonwebtoken::jwk::Jwk>(jwk.clone()) else {
            continue;
        };
        let Ok(key) = DecodingKey::from_jwk(&parsed) else {
            continue;
        };
        let Ok(mut key) = JwtKey::new(key, &[alg]) else {
            continue;
        };
        if let Some(kid) = jwk.get("kid").and_then(Value::as_str) {
            key = key.with_kid(kid);
        }
        out.push(key);
    }
    Ok(out)
}

impl JwksVerifier {
    /// Starts a verifier for the JWK Set at `url`, fetched with `client`. Without
    /// [`claims`](JwksVerifierBuilder::claims), `exp` is required and nothing else is checked.
    pub fn builder(url: impl Into<String>, client: impl HttpClient) -> JwksVerifierBuilder {
        JwksVerifierBuilder {
            url: url.into(),
            client: Arc::new(client),
            template: Arc::new(JwtVerifier::builder),
            clock: crate::clock::system(),
            ttl: Duration::from_secs(300),
            cooldown: Duration::from_secs(30),
            max_stale: Duration::from_secs(3600),
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
        }
    }

    /// OpenID Connect discovery: reads `{issuer}/.well-known/openid-configuration`, checks its
    /// `issuer` is `issuer` (OIDC Discovery §4.3) and returns a builder for its `jwks_uri` that
    /// requires that `iss`. The read has the default fetch deadline (5 s).
    pub async fn discover(
        issuer: &str,
        client: impl HttpClient,
    ) -> Result<JwksVerifierBuilder, FetchError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let response = tokio::time::timeout(DEFAULT_FETCH_TIMEOUT, client.get(&url))
            .await
            .map_err(|_| FetchError("the discovery document timed out".into()))??;
        if response.status != 200 {
            return Err(FetchError(format!(
                "discovery answered {}",
                response.status
            )));
        }
        let doc: Value = serde_json::from_slice(&response.body)
            .map_err(|_| FetchError("the discovery document is not JSON".into()))?;
        if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
            return Err(FetchError(
                "the discovery document names another issuer".into(),
            ));
        }
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| FetchError("the discovery document has no jwks_uri".into()))?;
        let issuer = issuer.to_owned();
        Ok(Self::builder(jwks_uri, client)
            .claims(move || JwtVerifier::builder().issuer(issuer.clone())))
    }

    /// How many times keys were fetched.
    pub fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// Fetches the keys unless another fetch happened since `seen` or one was tried within the
    /// cooldown. Serialised: concurrent callers wait for one fetch.
    async fn refresh(inner: &Inner, seen: Option<u64>) -> Result<(), FetchError> {
        // The holder's fetch has a deadline, so this wait is bounded too; the timeout is a
        // second guard.
        let _one_at_a_time = tokio::time::timeout(inner.fetch_timeout, inner.refresh.lock())
            .await
            .map_err(|_| FetchError("waited too long for another key fetch".into()))?;
        let current = inner.keys.load().as_ref().map(|k| k.fetched_at);
        if current != seen && current.is_some() {
            return Ok(()); // someone else fetched while we waited
        }
        let now = inner.clock.unix_seconds();
        let last = inner.last_attempt.load(Ordering::Acquire);
        if last != 0 && now < last.saturating_add(inner.cooldown) {
            return Err(FetchError(
                "fetched recently; waiting for the cooldown".into(),
            ));
        }
        inner.last_attempt.store(now.max(1), Ordering::Release);
        inner.fetches.fetch_add(1, Ordering::Relaxed);
        let result = Self::fetch(inner, now).await;
        let failed_at = if result.is_err() { now.max(1) } else { 0 };
        inner.last_failure.store(failed_at, Ordering::Release);
        result
    }

    async fn fetch(inner: &Inner, now: u64) -> Result<(), FetchError> {
        let response = tokio::time::timeout(inner.fetch_timeout, inner.client.get(&inner.url))
            .await
            .map_err(|_| FetchError("the JWKS fetch timed out".into()))??;
        if response.status != 200 {
            return Err(FetchError(format!(
                "the JWKS endpoint answered {}",
                response.status
            )));
        }
        let keys = parse_jwks(&response.body)?;
        let kids = keys
            .iter()
            .filter_map(|k| k.kid().map(str::to_owned))
            .collect();
        let unnamed = keys.iter().any(|k| k.kid().is_none());
        let mut builder = (inner.template)();
        for key in keys {
            builder = builder.key(key);
        }
        let verifier = builder
            .clock(inner.clock.clone())
            .build()
            .map_err(|e| FetchError(format!("the JWKS holds no usable key: {e}")))?;
        inner.keys.store(Some(Arc::new(KeySet {
            verifier,
            kids,
            unnamed,
            fetched_at: now,
        })));
        Ok(())
    }

    async fn verify_after_refresh(
        inner: Arc<Inner>,
        token: String,
        kid: Option<String>,
        seen: Option<u64>,
    ) -> Result<Principal, VerifyError> {
        let refreshed = Self::refresh(&inner, seen).await;
        let now = inner.clock.unix_seconds();
        let keys = inner.keys.load_full();
        match (keys, refreshed) {
            (Some(keys), result) => {
                let usable = result.is_ok()
                    || now < keys.fetched_at.saturating_add(inner.ttl + inner.max_stale);
                if !usable {
                    return Err(VerifyError::unavailable(
                        "the authorization server's keys cannot be fetched",
                    ));
                }
                if !keys.knows(kid.as_deref()) {
                    return Err(VerifyError::invalid("no key is known for this token"));
                }
                keys.verifier.verify_token(&token).map(Principal::new)
            }
            (None, _) => Err(VerifyError::unavailable(
                "the authorization server's keys cannot be fetched",
            )),
        }
    }
}

impl KeySet {
    fn knows(&self, kid: Option<&str>) -> bool {
        match kid {
            Some(kid) => self.kids.contains(kid) || self.unnamed,
            None => true,
        }
    }
}

impl Verifier for JwksVerifier {
    fn verify(&self, credential: &Credential<'_>) -> Verification {
        let token = match (credential.scheme(), credential.token()) {
            (Scheme::Bearer, Some(token)) if looks_like_jwt(token) => token,
            _ => return MaybeReady::Ready(Err(VerifyError::NotApplicable)),
        };
        let Ok(header) = decode_header(token) else {
            return MaybeReady::Ready(Err(VerifyError::invalid("the token is malformed")));
        };
        let inner = &self.inner;
        let now = inner.clock.unix_seconds();
        let keys = inner.keys.load();
        let within_cooldown = |at: u64| at != 0 && now < at.saturating_add(inner.cooldown);
        let recently_tried = within_cooldown(inner.last_attempt.load(Ordering::Acquire));
        let recently_failed = within_cooldown(inner.last_failure.load(Ordering::Acquire));
        match keys.as_ref() {
            Some(keys) => {
                let fresh = now < keys.fetched_at.saturating_add(inner.ttl);
                let usable = now < keys.fetched_at.saturating_add(inner.ttl + inner.max_stale);
                // Fresh keys, or stale ones while fetches fail: no waiting, no lock.
                if fresh || (recently_failed && usable) {
                    if keys.knows(header.kid.as_deref()) {
                        return MaybeReady::Ready(
                            keys.verifier.verify_token(token).map(Principal::new),
                        );
                    }
                    // An unknown kid: the server may have rotated. Ask again, unless we just did.
                    if recently_tried {
                        return MaybeReady::Ready(Err(VerifyError::invalid(
                            "no key is known for this token",
                        )));
                    }
                } else if recently_failed {
                    return MaybeReady::Ready(Err(VerifyError::unavailable(
                        "the authorization server's keys cannot be fetched",
                    )));
                }
            }
            None if recently_failed => {
                return MaybeReady::Ready(Err(VerifyError::unavailable(
                    "the authorization server's keys cannot be fetched",
                )));
            }
            None => {}
        }
        let seen = keys.as_ref().map(|k| k.fetched_at);
        let fut: BoxFuture<_> = Box::pin(Self::verify_after_refresh(
            inner.clone(),
            token.to_owned(),
            header.kid,
            seen,
        ));
        MaybeReady::Pending(fut)
    }
}
