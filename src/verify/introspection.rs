//! RFC 7662: asking the authorization server about a token, with a bounded cache.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::future::Cache;
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

use super::api_key::digest;
use super::remote::{ClientAuth, FetchError, HttpClient};
use super::{Verification, Verifier, VerifyError};
use crate::clock::{Clock, SharedClock};
use crate::extract::{Credential, Scheme, is_b64token};
use crate::maybe_ready::MaybeReady;
use crate::principal::{Identity, Principal, numeric_date};

/// A cached answer: the identity of an active token (until its `exp`), or inactive.
#[derive(Clone)]
struct Answer {
    identity: Option<Arc<Identity>>,
    /// Unix seconds after which the answer must not be used.
    valid_until: u64,
}

/// Why a call gave no active answer. Shared by every request waiting on the same call.
#[derive(Debug)]
enum NoAnswer {
    /// The server said the token is not active (or it failed our checks): 401.
    Inactive,
    /// Too many calls in flight, and no slot freed within the queue timeout: 503, no call made.
    Busy,
    /// The call failed or timed out: 503.
    Failed(FetchError),
}

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inactive => f.write_str("the token is not active"),
            Self::Busy => f.write_str("too many introspection calls in flight"),
            Self::Failed(e) => write!(f, "{e}"),
        }
    }
}

/// Cache lifetimes follow each entry's own `valid_until` (unix seconds on the verifier's clock).
struct UntilExpiry {
    clock: SharedClock,
}

impl UntilExpiry {
    fn left(&self, valid_until: u64) -> Option<Duration> {
        Some(Duration::from_secs(
            valid_until.saturating_sub(self.clock.unix_seconds()),
        ))
    }
}

impl Expiry<[u8; 32], Answer> for UntilExpiry {
    fn expire_after_create(&self, _: &[u8; 32], answer: &Answer, _: Instant) -> Option<Duration> {
        self.left(answer.valid_until)
    }
}

impl Expiry<[u8; 32], u64> for UntilExpiry {
    fn expire_after_create(&self, _: &[u8; 32], until: &u64, _: Instant) -> Option<Duration> {
        self.left(*until)
    }
}

struct Inner {
    url: String,
    auth: ClientAuth,
    client: Arc<dyn HttpClient>,
    /// Active answers only: junk never lands here, so a flood cannot evict them.
    cache: Cache<[u8; 32], Answer>,
    /// Inactive answers: token digest -> valid until. Smaller, separate, short-lived.
    negative: Cache<[u8; 32], u64>,
    /// Permits for calls in flight.
    calls: Semaphore,
    queue_timeout: Duration,
    call_timeout: Duration,
    max_token_len: usize,
    issuers: Vec<String>,
    audiences: Vec<String>,
    positive_ttl: u64,
    negative_ttl: u64,
    clock: SharedClock,
}

/// Verifies tokens by asking their authorization server (RFC 7662 introspection).
///
/// The call is a `POST` with client authentication; `active` must be the JSON boolean `true`,
/// and `exp`, `iss` and `aud` are checked. An unreachable server, a timeout, a non-200 answer
/// or an unreadable one gives 503 (fail closed), and is not cached.
///
/// Every call costs the authorization server work, and every distinct token a client makes up
/// would cost one call, so calls are bounded:
///
/// - **Before any call**, a token that cannot be valid is refused (401): one that is not an
///   RFC 6750 §2.1 `b64token`, or longer than [`max_token_len`](IntrospectionVerifierBuilder::max_token_len)
///   (4 KiB by default).
/// - **Concurrency:** at most [`max_concurrent_calls`](IntrospectionVerifierBuilder::max_concurrent_calls)
///   calls are in flight (16 by default). A request that finds them all busy waits at most
///   [`queue_timeout`](IntrospectionVerifierBuilder::queue_timeout) (100 ms) for a slot, then
///   gets 503 without a call. Concurrent requests with the same token share one call.
/// - **Time:** every call has a deadline, [`call_timeout`](IntrospectionVerifierBuilder::call_timeout)
///   (5 s), whatever the [`HttpClient`] does; past it, 503.
/// - **Caching:** answers are kept by the SHA-256 of the token. Active ones never beyond their
///   `exp` (and at most 5 minutes by default), in a cache of 10 000 entries. Inactive ones for
///   30 seconds, in a *separate* cache of 1 000 entries, so a flood of junk tokens evicts only
///   other junk, never the answers for real tokens.
///
/// The timeouts use Tokio's timer: run it in a runtime with time enabled (`#[tokio::main]` and
/// `#[tokio::test]` have it).
///
/// ```no_run
/// use tower_gatekeeper::verify::{IntrospectionVerifier, ReqwestClient};
///
/// let verifier = IntrospectionVerifier::builder(
///     "https://auth.example/oauth/introspect",
///     "resource-server",
///     "its secret",
///     ReqwestClient::new(),
/// )
/// .issuer("https://auth.example")
/// .build();
/// ```
#[derive(Clone)]
pub struct IntrospectionVerifier {
    inner: Arc<Inner>,
}

impl fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionVerifier")
            .field("url", &self.inner.url)
            .field("auth", &self.inner.auth)
            .field("cached", &self.inner.cache.entry_count())
            .finish_non_exhaustive()
    }
}

/// Builds an [`IntrospectionVerifier`].
#[must_use]
pub struct IntrospectionVerifierBuilder {
    url: String,
    auth: ClientAuth,
    client: Arc<dyn HttpClient>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    capacity: u64,
    negative_capacity: u64,
    max_concurrent_calls: usize,
    queue_timeout: Duration,
    call_timeout: Duration,
    max_token_len: usize,
    positive_ttl: Duration,
    negative_ttl: Duration,
    clock: SharedClock,
}

impl fmt::Debug for IntrospectionVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionVerifierBuilder")
            .field("url", &self.url)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl IntrospectionVerifierBuilder {
    /// Requires `iss` to be `issuer` when the answer carries one (call again for several).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }
    /// Requires `aud` to contain `audience` (call again for several).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }
    /// The most active answers kept (default 10 000).
    pub fn capacity(mut self, entries: u64) -> Self {
        self.capacity = entries;
        self
    }
    /// The most inactive answers kept (default 1 000), apart from the active ones so that junk
    /// tokens cannot push them out.
    pub fn negative_capacity(mut self, entries: u64) -> Self {
        self.negative_capacity = entries;
        self
    }
    /// The most calls in flight at once (default 16; at least 1).
    pub fn max_concurrent_calls(mut self, calls: usize) -> Self {
        self.max_concurrent_calls = calls.max(1);
        self
    }
    /// How long a request waits for a call slot when all are busy before it gets 503
    /// (default 100 ms). Zero: it does not wait.
    pub fn queue_timeout(mut self, timeout: Duration) -> Self {
        self.queue_timeout = timeout;
        self
    }
    /// The deadline of each call, whatever the [`HttpClient`]'s own (default 5 s); past it,
    /// 503.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }
    /// The longest token worth asking about (default 4 096 bytes); longer ones get 401
    /// without a call.
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.max_token_len = bytes;
        self
    }
    /// The longest an active answer is kept, whatever its `exp` (default 5 minutes).
    pub fn positive_ttl(mut self, ttl: Duration) -> Self {
        self.positive_ttl = ttl;
        self
    }
    /// How long an inactive answer is kept (default 30 s).
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }
    /// The clock for `exp` and the cache's lifetimes.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }
    /// Builds the verifier.
    pub fn build(self) -> IntrospectionVerifier {
        let cache = Cache::builder()
            .max_capacity(self.capacity)
            .expire_after(UntilExpiry {
                clock: self.clock.clone(),
            })
            .build();
        let negative = Cache::builder()
            .max_capacity(self.negative_capacity)
            .expire_after(UntilExpiry {
                clock: self.clock.clone(),
            })
            .build();
        IntrospectionVerifier {
            inner: Arc::new(Inner {
                url: self.url,
                auth: self.auth,
                client: self.client,
                cache,
                negative,
                calls: Semaphore::new(self.max_concurrent_calls),
                queue_timeout: self.queue_timeout,
                call_timeout: self.call_timeout,
                max_token_len: self.max_token_len,
                issuers: self.issuers,
                audiences: self.audiences,
                positive_ttl: self.positive_ttl.as_secs(),
                negative_ttl: self.negative_ttl.as_secs(),
                clock: self.clock,
            }),
        }
    }
}

impl IntrospectionVerifier {
    /// Starts a verifier asking `url`, authenticated as `client_id` / `client_secret`.
    pub fn builder(
        url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        client: impl HttpClient,
    ) -> IntrospectionVerifierBuilder {
        IntrospectionVerifierBuilder {
            url: url.into(),
            auth: ClientAuth {
                client_id: client_id.into(),
                client_secret: client_secret.into(),
            },
            client: Arc::new(client),
            issuers: Vec::new(),
            audiences: Vec::new(),
            capacity: 10_000,
            negative_capacity: 1_000,
            max_concurrent_calls: 16,
            queue_timeout: Duration::from_millis(100),
            call_timeout: Duration::from_secs(5),
            max_token_len: 4096,
            positive_ttl: Duration::from_secs(300),
            negative_ttl: Duration::from_secs(30),
            clock: crate::clock::system(),
        }
    }

    /// How many answers are cached, active and inactive (approximately; the caches settle
    /// lazily).
    pub fn cached(&self) -> u64 {
        self.inner.cache.entry_count() + self.inner.negative.entry_count()
    }

    /// Lets the caches finish their pending evictions, then counts their entries:
    /// `(active, inactive)`.
    pub async fn settled_cache_sizes(&self) -> (u64, u64) {
        self.inner.cache.run_pending_tasks().await;
        self.inner.negative.run_pending_tasks().await;
        (
            self.inner.cache.entry_count(),
            self.inner.negative.entry_count(),
        )
    }

    /// Takes a call slot (waiting at most the queue timeout), asks the server within the call
    /// deadline, and files an inactive answer in the negative cache.
    async fn call(inner: &Inner, key: [u8; 32], token: &str) -> Result<Answer, NoAnswer> {
        let permit = match tokio::time::timeout(inner.queue_timeout, inner.calls.acquire()).await {
            Ok(Ok(permit)) => permit,
            _ => return Err(NoAnswer::Busy),
        };
        let answer = tokio::time::timeout(inner.call_timeout, Self::ask(inner, token)).await;
        drop(permit);
        match answer {
            Err(_) => Err(NoAnswer::Failed(FetchError(
                "the introspection call timed out".into(),
            ))),
            Ok(Err(e)) => Err(NoAnswer::Failed(e)),
            Ok(Ok(answer)) if answer.identity.is_some() => Ok(answer),
            Ok(Ok(inactive)) => {
                if inactive.valid_until > inner.clock.unix_seconds() {
                    inner.negative.insert(key, inactive.valid_until).await;
                }
                Err(NoAnswer::Inactive)
            }
        }
    }

    /// Asks the server; `Ok` holds an active identity or `None`.
    async fn ask(inner: &Inner, token: &str) -> Result<Answer, FetchError> {
        let form = [("token", token), ("token_type_hint", "access_token")];
        let response = inner
            .client
            .post_form(&inner.url, &form, Some(&inner.auth))
            .await?;
        if response.status != 200 {
            return Err(FetchError(format!(
                "introspection answered {}",
                response.status
            )));
        }
        let claims: Map<String, Value> = serde_json::from_slice(&response.body)
            .map_err(|_| FetchError("the introspection answer is not a JSON object".into()))?;
        let now = inner.clock.unix_seconds();
        let inactive = Answer {
            identity: None,
            valid_until: now + inner.negative_ttl,
        };
        match claims.get("active") {
            Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => return Ok(inactive),
            _ => {
                return Err(FetchError(
                    "the introspection answer has no boolean active".into(),
                ));
            }
        }
        let exp = match claims.get("exp") {
            None => None,
            Some(v) => {
                Some(numeric_date(v).ok_or_else(|| FetchError("exp is not a number".into()))?)
            }
        };
        if exp.is_some_and(|exp| now >= exp) {
            return Ok(inactive);
        }
        if !inner.issuers.is_empty() {
            let iss = claims.get("iss").and_then(Value::as_str);
            if iss.is_some_and(|iss| !inner.issuers.iter().any(|i| i == iss)) {
                return Ok(inactive);
            }
        }
        if !inner.audiences.is_empty() {
            let ok = crate::principal::audience_matches(claims.get("aud"), &inner.audiences);
            if !ok {
                return Ok(inactive);
            }
        }
        let Some(identity) = Identity::from_claims(claims) else {
            return Ok(inactive);
        };
        let cap = now + inner.positive_ttl;
        Ok(Answer {
            identity: Some(Arc::new(identity)),
            valid_until: exp.map_or(cap, |exp| exp.min(cap)),
        })
    }
}

impl Verifier for IntrospectionVerifier {
    fn verify(&self, credential: &Credential<'_>) -> Verification {
        let (Scheme::Bearer, Some(token)) = (credential.scheme(), credential.token()) else {
            return MaybeReady::Ready(Err(VerifyError::NotApplicable));
        };
        // Tokens that cannot be valid cost no call (RFC 6750 §2.1 b64token, bounded length).
        if token.len() > self.inner.max_token_len {
            return MaybeReady::Ready(Err(VerifyError::invalid("the token is too long")));
        }
        if !is_b64token(token) {
            return MaybeReady::Ready(Err(VerifyError::invalid("the token is malformed")));
        }
        let inner = self.inner.clone();
        let token = token.to_owned();
        MaybeReady::pending(async move {
            let key = digest(&token);
            let not_active = || VerifyError::invalid("the token is not active");
            for _ in 0..2 {
                if let Some(until) = inner.negative.get(&key).await {
                    if inner.clock.unix_seconds() < until {
                        return Err(not_active());
                    }
                    inner.negative.invalidate(&key).await;
                }
                let answer = inner
                    .cache
                    .try_get_with(key, Self::call(&inner, key, &token))
                    .await;
                let answer = match answer {
                    Ok(answer) => answer,
                    Err(why) => {
                        return Err(match *why {
                            NoAnswer::Inactive => not_active(),
                            ref other => VerifyError::unavailable(format!(
                                "token introspection failed: {other}"
                            )),
                        });
                    }
                };
                match answer.identity {
                    Some(identity) if inner.clock.unix_seconds() < answer.valid_until => {
                        return Ok(Principal::new(identity));
                    }
                    // Never beyond exp, whatever the cache did: a stale answer is asked again.
                    _ => inner.cache.invalidate(&key).await,
                }
            }
            Err(not_active())
        })
    }
}
