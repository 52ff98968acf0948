//! RFC 7662: asking the authorization server about a token, with a bounded cache.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::future::Cache;
use serde_json::{Map, Value};

use super::api_key::digest;
use super::remote::{ClientAuth, FetchError, HttpClient};
use super::{Verification, Verifier, VerifyError};
use crate::clock::{Clock, SharedClock};
use crate::extract::{Credential, Scheme};
use crate::maybe_ready::MaybeReady;
use crate::principal::{Identity, Principal, numeric_date};

/// A cached answer: the identity of an active token (until its `exp`), or inactive.
#[derive(Clone)]
struct Answer {
    identity: Option<Arc<Identity>>,
    /// Unix seconds after which the answer must not be used.
    valid_until: u64,
}

struct AnswerExpiry {
    clock: SharedClock,
}

impl Expiry<[u8; 32], Answer> for AnswerExpiry {
    fn expire_after_create(&self, _: &[u8; 32], answer: &Answer, _: Instant) -> Option<Duration> {
        Some(Duration::from_secs(
            answer.valid_until.saturating_sub(self.clock.unix_seconds()),
        ))
    }
}

struct Inner {
    url: String,
    auth: ClientAuth,
    client: Arc<dyn HttpClient>,
    cache: Cache<[u8; 32], Answer>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    positive_ttl: u64,
    negative_ttl: u64,
    clock: SharedClock,
}

/// Verifies tokens by asking their authorization server (RFC 7662 introspection).
///
/// The call is a `POST` with client authentication; `active` must be the JSON boolean `true`,
/// and `exp`, `iss` and `aud` are checked. Answers are cached by the SHA-256 of the token —
/// active ones never beyond their `exp` (and at most 5 minutes by default), inactive ones for
/// 30 seconds — in a cache of bounded size (10 000 entries by default). Concurrent requests
/// with the same token share one call. An unreachable server, a timeout, a non-200 answer or an
/// unreadable one gives 503 (fail closed), and is not cached.
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
    /// The most answers kept (default 10 000).
    pub fn capacity(mut self, entries: u64) -> Self {
        self.capacity = entries;
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
            .expire_after(AnswerExpiry {
                clock: self.clock.clone(),
            })
            .build();
        IntrospectionVerifier {
            inner: Arc::new(Inner {
                url: self.url,
                auth: self.auth,
                client: self.client,
                cache,
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
            positive_ttl: Duration::from_secs(300),
            negative_ttl: Duration::from_secs(30),
            clock: crate::clock::system(),
        }
    }

    /// How many answers are cached (approximately; the cache settles lazily).
    pub fn cached(&self) -> u64 {
        self.inner.cache.entry_count()
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
        let inner = self.inner.clone();
        let token = token.to_owned();
        MaybeReady::pending(async move {
            let key = digest(&token);
            let lookup = || async {
                inner
                    .cache
                    .try_get_with(key, async { Self::ask(&inner, &token).await })
                    .await
                    .map_err(|e| {
                        VerifyError::unavailable(format!("token introspection failed: {e}"))
                    })
            };
            let mut answer = lookup().await?;
            // Never beyond exp, whatever the cache did: a stale answer is asked again.
            if inner.clock.unix_seconds() >= answer.valid_until {
                inner.cache.invalidate(&key).await;
                answer = lookup().await?;
            }
            match answer.identity {
                Some(identity) if inner.clock.unix_seconds() < answer.valid_until => {
                    Ok(Principal::new(identity))
                }
                _ => Err(VerifyError::invalid("the token is not active")),
            }
        })
    }
}
