//! JWT verification through `jsonwebtoken`.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, decode_header};
use serde_json::{Map, Value};

use super::{Verification, Verifier, VerifyError};
use crate::clock::{Clock, SharedClock};
use crate::extract::{Credential, Scheme};
use crate::maybe_ready::MaybeReady;
use crate::principal::{Identity, Principal, numeric_date};

/// A key configuration error, raised when a verifier or issuer is built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The allow-list is empty.
    NoAlgorithms,
    /// An algorithm of another family than the key's (e.g. `RS256` for an HMAC secret).
    WrongFamily(Algorithm),
    /// An HMAC secret shorter than the output of its hash (RFC 7518 §3.2).
    HmacSecretTooShort {
        /// The algorithm whose hash is longer than the secret.
        algorithm: Algorithm,
        /// The minimum length in bytes.
        minimum: usize,
    },
    /// The PEM or DER could not be read as a key of that type.
    InvalidKey(String),
    /// The verifier has no key.
    NoKeys,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoAlgorithms => f.write_str("the key's algorithm allow-list is empty"),
            Self::WrongFamily(a) => write!(f, "algorithm {a:?} does not match the key's family"),
            Self::HmacSecretTooShort { algorithm, minimum } => write!(
                f,
                "an HMAC secret for {algorithm:?} must be at least {minimum} bytes long"
            ),
            Self::InvalidKey(why) => write!(f, "invalid key: {why}"),
            Self::NoKeys => f.write_str("the verifier has no key"),
        }
    }
}

impl std::error::Error for KeyError {}

fn hmac_min_len(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    }
}

/// One verification key: the key, the algorithms it may verify, and an optional `kid`.
#[derive(Clone)]
pub struct JwtKey {
    kid: Option<String>,
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl JwtKey {
    /// A key from a `jsonwebtoken` [`DecodingKey`] with an explicit allow-list.
    ///
    /// Refuses an empty list, algorithms of another family than the key, and HMAC secrets
    /// shorter than their hash output.
    pub fn new(key: DecodingKey, algorithms: &[Algorithm]) -> Result<Self, KeyError> {
        if algorithms.is_empty() {
            return Err(KeyError::NoAlgorithms);
        }
        for &alg in algorithms {
            if alg.family() != key.family() {
                return Err(KeyError::WrongFamily(alg));
            }
            if key.family() == jsonwebtoken::AlgorithmFamily::Hmac {
                let len = key.try_get_as_bytes().map(<[u8]>::len).unwrap_or(0);
                let minimum = hmac_min_len(alg);
                if len < minimum {
                    return Err(KeyError::HmacSecretTooShort {
                        algorithm: alg,
                        minimum,
                    });
                }
            }
        }
        Ok(Self {
            kid: None,
            key,
            algorithms: algorithms.to_vec(),
        })
    }

    /// An HMAC secret for `algorithms` (HS256/384/512).
    pub fn hmac(secret: &[u8], algorithms: &[Algorithm]) -> Result<Self, KeyError> {
        Self::new(DecodingKey::from_secret(secret), algorithms)
    }

    /// An RSA public key in PEM for `algorithms` (RS*, PS*).
    pub fn rsa_pem(pem: &[u8], algorithms: &[Algorithm]) -> Result<Self, KeyError> {
        let key =
            DecodingKey::from_rsa_pem(pem).map_err(|e| KeyError::InvalidKey(e.to_string()))?;
        Self::new(key, algorithms)
    }

    /// An EC public key in PEM for `algorithms` (ES256/384).
    pub fn ec_pem(pem: &[u8], algorithms: &[Algorithm]) -> Result<Self, KeyError> {
        let key = DecodingKey::from_ec_pem(pem).map_err(|e| KeyError::InvalidKey(e.to_string()))?;
        Self::new(key, algorithms)
    }

    /// An Ed25519 public key in PEM (EdDSA).
    pub fn ed_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let key = DecodingKey::from_ed_pem(pem).map_err(|e| KeyError::InvalidKey(e.to_string()))?;
        Self::new(key, &[Algorithm::EdDSA])
    }

    /// Names the key; tokens whose header carries this `kid` are checked with it.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The key id.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The allowed algorithms.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }
}

struct Config {
    keys: Vec<JwtKey>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: u64,
    required: Vec<String>,
    typ: Option<String>,
    clock: SharedClock,
}

/// Verifies JWT bearer tokens.
///
/// The algorithm is never taken from the token alone: the token's `alg` must be in the
/// allow-list of the key chosen by its `kid` (or of the only key able to check it). `jku`,
/// `x5u` and embedded `jwk` headers are ignored. `exp` is required by default; `nbf`, `iss`
/// and `aud` are checked when present or configured, with leeway.
///
/// ```
/// use jsonwebtoken::{encode, EncodingKey, Header};
/// use tower_gatekeeper::extract::{Credential, Source};
/// use tower_gatekeeper::verify::{JwtVerifier, Verifier};
///
/// let secret = b"0123456789abcdef0123456789abcdef";
/// let verifier = JwtVerifier::builder()
///     .hs256(secret)
///     .issuer("https://issuer.example")
///     .audience("orders-api")
///     .build()
///     .unwrap();
///
/// let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 60;
/// let claims = serde_json::json!({
///     "sub": "app-1", "iss": "https://issuer.example", "aud": "orders-api", "exp": exp, "scope": "read write"
/// });
/// let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(secret)).unwrap();
///
/// let answer = verifier.verify(&Credential::bearer(token, Source::Header));
/// # let answer = tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async { answer.await });
/// assert_eq!(answer.unwrap().scopes(), ["read", "write"]);
/// ```
#[derive(Clone)]
pub struct JwtVerifier {
    config: Arc<Config>,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("keys", &self.config.keys)
            .field("issuers", &self.config.issuers)
            .field("audiences", &self.config.audiences)
            .field("leeway", &self.config.leeway)
            .field("required", &self.config.required)
            .field("typ", &self.config.typ)
            .finish()
    }
}

/// Builds a [`JwtVerifier`].
#[must_use]
pub struct JwtVerifierBuilder {
    keys: Vec<JwtKey>,
    error: Option<KeyError>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: u64,
    required: Vec<String>,
    typ: Option<String>,
    clock: SharedClock,
}

impl fmt::Debug for JwtVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifierBuilder")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A builder with no keys, `exp` required and 30 seconds of leeway.
    pub fn builder() -> JwtVerifierBuilder {
        JwtVerifierBuilder {
            keys: Vec::new(),
            error: None,
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway: 30,
            required: vec!["exp".to_owned()],
            typ: None,
            clock: crate::clock::system(),
        }
    }

    /// A verifier for HS256 tokens signed with `secret` (at least 32 bytes).
    pub fn hs256(secret: &[u8]) -> Result<Self, KeyError> {
        Self::builder().hs256(secret).build()
    }

    /// A verifier for RS256 tokens signed by the key whose public half is `pem`.
    pub fn rs256_pem(pem: &[u8]) -> Result<Self, KeyError> {
        Self::builder()
            .key(JwtKey::rsa_pem(pem, &[Algorithm::RS256])?)
            .build()
    }

    pub(crate) fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<&JwtKey, VerifyError> {
        let keys = &self.config.keys;
        // A token's kid picks the key of that name; keys without a name stand for any kid,
        // as long as exactly one of them can check the token's algorithm.
        let named = kid.and_then(|kid| keys.iter().find(|k| k.kid.as_deref() == Some(kid)));
        let key = match named {
            Some(key) => Some(key),
            None => {
                let mut able = keys
                    .iter()
                    .filter(|k| (kid.is_none() || k.kid.is_none()) && k.algorithms.contains(&alg));
                match (able.next(), able.next()) {
                    (Some(k), None) => Some(k),
                    (Some(_), Some(_)) => {
                        return Err(VerifyError::invalid(
                            "the token has no known key id and several keys could verify it",
                        ));
                    }
                    _ => None,
                }
            }
        };
        let key = key.ok_or_else(|| VerifyError::invalid("no key is known for this token"))?;
        if !key.algorithms.contains(&alg) {
            return Err(VerifyError::invalid(
                "the token's algorithm is not allowed for its key",
            ));
        }
        Ok(key)
    }

    /// Verifies a compact JWS and returns its identity (claims checked).
    pub fn verify_token(&self, token: &str) -> Result<Identity, VerifyError> {
        let header =
            decode_header(token).map_err(|_| VerifyError::invalid("the token is malformed"))?;
        let key = self.key_for(header.kid.as_deref(), header.alg)?;
        if let Some(expected) = &self.config.typ
            && !media_type_eq(header.typ.as_deref().unwrap_or(""), expected)
        {
            return Err(VerifyError::invalid("the token has the wrong type (typ)"));
        }
        // RFC 7515 4.1.11: extensions named critical must be understood; this verifier
        // understands none.
        if header.crit.is_some() {
            return Err(VerifyError::invalid(
                "the token names critical header extensions",
            ));
        }
        // The header was parsed once above and the key checked against the allow-list; the
        // signature is checked over `header.payload`, and the payload parsed once.
        let malformed = || VerifyError::invalid("the token is malformed");
        let (message, signature) = token.rsplit_once('.').ok_or_else(malformed)?;
        let payload = message
            .split_once('.')
            .map(|(_, p)| p)
            .ok_or_else(malformed)?;
        match jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key.key, header.alg) {
            Ok(true) => {}
            Ok(false) => return Err(VerifyError::invalid("the token signature is invalid")),
            Err(_) => return Err(malformed()),
        }
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| malformed())?;
        let claims: Map<String, Value> =
            serde_json::from_slice(&payload).map_err(|_| malformed())?;
        self.check_claims(&claims)?;
        Identity::from_claims(claims)
            .ok_or_else(|| VerifyError::invalid("the token names no subject"))
    }

    fn check_claims(&self, claims: &Map<String, Value>) -> Result<(), VerifyError> {
        let c = &self.config;
        for name in &c.required {
            if !claims.contains_key(name) {
                return Err(VerifyError::invalid(format!(
                    "the token lacks the required claim {name}"
                )));
            }
        }
        let now = c.clock.unix_seconds();
        if let Some(exp) = claims.get("exp") {
            let exp = numeric_date(exp)
                .ok_or_else(|| VerifyError::invalid("the token's exp is not a number"))?;
            if now >= exp.saturating_add(c.leeway) {
                return Err(VerifyError::invalid("the token has expired"));
            }
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = numeric_date(nbf)
                .ok_or_else(|| VerifyError::invalid("the token's nbf is not a number"))?;
            if nbf > now.saturating_add(c.leeway) {
                return Err(VerifyError::invalid("the token is not valid yet"));
            }
        }
        if !c.issuers.is_empty() {
            let iss = claims.get("iss").and_then(Value::as_str);
            if !iss.is_some_and(|iss| c.issuers.iter().any(|i| i == iss)) {
                return Err(VerifyError::invalid("the token has the wrong issuer"));
            }
        }
        if !c.audiences.is_empty() {
            let ok = crate::principal::audience_matches(claims.get("aud"), &c.audiences);
            if !ok {
                return Err(VerifyError::invalid(
                    "the token is not meant for this audience",
                ));
            }
        }
        Ok(())
    }
}

/// Compares two `typ` values as media types (RFC 7515 4.1.9): case-insensitively, with an
/// optional `application/` prefix.
fn media_type_eq(a: &str, b: &str) -> bool {
    fn short(t: &str) -> &str {
        match t.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &t[12..],
            _ => t,
        }
    }
    short(a).eq_ignore_ascii_case(short(b))
}

/// Whether `token` has the shape of a compact JWS: three non-empty base64url parts.
pub fn looks_like_jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    let shape = (parts.next(), parts.next(), parts.next(), parts.next());
    matches!(shape, (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() && !s.is_empty())
}

impl Verifier for JwtVerifier {
    fn verify(&self, credential: &Credential<'_>) -> Verification {
        let token = match (credential.scheme(), credential.token()) {
            (Scheme::Bearer, Some(token)) if looks_like_jwt(token) => token,
            _ => return MaybeReady::Ready(Err(VerifyError::NotApplicable)),
        };
        MaybeReady::Ready(self.verify_token(token).map(Principal::new))
    }
}

impl JwtVerifierBuilder {
    /// Adds a key.
    pub fn key(mut self, key: JwtKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Adds an HS256 secret (at least 32 bytes, else [`build`](Self::build) fails).
    pub fn hs256(self, secret: &[u8]) -> Self {
        self.try_key(JwtKey::hmac(secret, &[Algorithm::HS256]))
    }

    /// Adds an RS256 public key in PEM.
    pub fn rs256_pem(self, pem: &[u8]) -> Self {
        self.try_key(JwtKey::rsa_pem(pem, &[Algorithm::RS256]))
    }

    fn try_key(mut self, key: Result<JwtKey, KeyError>) -> Self {
        match key {
            Ok(key) => self.keys.push(key),
            Err(e) => self.error = self.error.or(Some(e)),
        }
        self
    }

    /// Accepts tokens whose `iss` is `issuer` (call again for several); any issuer otherwise.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Accepts tokens whose `aud` contains `audience` (call again for several).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Clock skew tolerated on `exp` and `nbf` (default 30 s).
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// Claims that must be present (default: `exp`). Replaces the list.
    pub fn required_claims<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        claims: I,
    ) -> Self {
        self.required = claims.into_iter().map(Into::into).collect();
        self
    }

    /// Requires the header `typ`, e.g. `at+jwt` for RFC 9068 access tokens (the
    /// `application/` prefix and case are ignored).
    pub fn typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// The clock for `exp` and `nbf`.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the verifier; fails on an invalid key or when there is none.
    pub fn build(self) -> Result<JwtVerifier, KeyError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.keys.is_empty() {
            return Err(KeyError::NoKeys);
        }
        Ok(JwtVerifier {
            config: Arc::new(Config {
                keys: self.keys,
                issuers: self.issuers,
                audiences: self.audiences,
                leeway: self.leeway,
                required: self.required,
                typ: self.typ,
                clock: self.clock,
            }),
        })
    }
}
