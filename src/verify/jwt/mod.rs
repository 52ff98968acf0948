//! JWT verification: keys from `jsonwebtoken`, each part of a token read once.
//!
//! A token is split without copying; its header is decoded and parsed once per distinct
//! header (the verifier remembers the few it has seen on validly signed tokens, with the key
//! and algorithm they select); the signature is checked with the key prepared when the
//! verifier was built (an HMAC key state, or an aws-lc-rs parsed public key); the payload is
//! decoded onto the stack and read in one pass into borrowed, typed claims — only the claims
//! this crate uses are built ([`claims`]).

pub(crate) mod claims;
mod keys;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::de::DeserializeSeed as _;
use serde_json::{Map, Value};

use super::{ReusableVerification, Reuse, Verification, Verified, Verifier, VerifyError};
use crate::clock::{Clock, SharedClock};
use crate::extract::{Credential, Scheme};
use crate::maybe_ready::MaybeReady;
use crate::principal::{Identity, Principal};
use claims::{Any, Read, ReadSeed};
use keys::Prepared;

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
    /// More than 64 required claims that the verifier does not otherwise read.
    TooManyRequiredClaims,
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
            Self::TooManyRequiredClaims => {
                f.write_str("at most 64 required claims of other names than the registered ones")
            }
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
///
/// The key is prepared for each allowed algorithm when it is made (HMAC key state, parsed
/// public key), so verifying a token never parses it again.
#[derive(Clone)]
pub struct JwtKey {
    kid: Option<String>,
    algorithms: Vec<Algorithm>,
    prepared: Arc<[(Algorithm, Prepared)]>,
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
        let prepared = algorithms
            .iter()
            .map(|&alg| (alg, Prepared::new(&key, alg)))
            .collect();
        Ok(Self {
            kid: None,
            algorithms: algorithms.to_vec(),
            prepared,
        })
    }

    fn prepared(&self, alg: Algorithm) -> Option<&Prepared> {
        self.prepared
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, p)| p)
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
    /// How to tell each required claim is present: its bit among the claims read, or its
    /// index among `required_others`.
    required_checks: Vec<Presence>,
    /// Required claims this crate does not read otherwise (their presence is recorded).
    required_others: Vec<String>,
    typ: Option<String>,
    clock: SharedClock,
    keep_claims: bool,
    /// Headers seen on validly signed tokens, with the key and algorithm they select.
    headers: [OnceLock<HeaderMemo>; HEADER_MEMOS],
}

#[derive(Debug, Clone, Copy)]
enum Presence {
    Read(u32),
    Other(usize),
}

/// Distinct token headers remembered per verifier (an issuer uses one or a few; more are
/// parsed each time, as before).
const HEADER_MEMOS: usize = 4;

/// What a header (as encoded in the token) selects; only remembered once a token with it
/// verified, so only a signer can fill the memo.
struct HeaderMemo {
    encoded: Box<[u8]>,
    key: usize,
    alg: Algorithm,
}

impl Config {
    fn remembered(&self, encoded: &[u8]) -> Option<&HeaderMemo> {
        for slot in &self.headers {
            match slot.get() {
                Some(memo) if *memo.encoded == *encoded => return Some(memo),
                Some(_) => continue,
                None => return None,
            }
        }
        None
    }

    fn remember(&self, encoded: &[u8], key: usize, alg: Algorithm) {
        if let Some(slot) = self.headers.iter().find(|s| s.get().is_none()) {
            let _ = slot.set(HeaderMemo {
                encoded: encoded.into(),
                key,
                alg,
            });
        }
    }
}

/// The JOSE header members this verifier reads (RFC 7515 §4.1); the others are skipped
/// (`jku`, `x5u` and `jwk` are never used).
#[derive(Default)]
struct JoseHeader<'a> {
    alg: Option<Cow<'a, str>>,
    kid: Option<Cow<'a, str>>,
    typ: Option<Cow<'a, str>>,
    crit: bool,
}

impl<'de> serde::Deserialize<'de> for JoseHeader<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = JoseHeader<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JOSE header")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<JoseHeader<'de>, A::Error> {
                use serde::de::Error as _;
                let mut h = JoseHeader::default();
                let (mut alg, mut kid, mut typ, mut crit) = (false, false, false, false);
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let (seen, slot) = match &*key {
                        "alg" => (&mut alg, Some(&mut h.alg)),
                        "kid" => (&mut kid, Some(&mut h.kid)),
                        "typ" => (&mut typ, Some(&mut h.typ)),
                        "crit" => (&mut crit, None),
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                            continue;
                        }
                    };
                    if std::mem::replace(seen, true) {
                        return Err(A::Error::custom("duplicate header member"));
                    }
                    let value = map.next_value::<Any<'de>>()?;
                    match (slot, value) {
                        (Some(slot), Any::Str(s)) => *slot = Some(s),
                        // `"kid": null` and `"typ": null` are as good as absent.
                        (Some(_), Any::Null) if key != "alg" => {}
                        (Some(_), _) => return Err(A::Error::custom("not a string")),
                        // A `crit` that is present (RFC 7515 §4.1.11) is refused; null is
                        // as good as absent.
                        (None, Any::Null) => {}
                        (None, _) => h.crit = true,
                    }
                }
                Ok(h)
            }
        }
        d.deserialize_map(V)
    }
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
            .field("keep_claims", &self.config.keep_claims)
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
    keep_claims: bool,
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
            keep_claims: false,
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

    /// The index of the key that checks a token with this `kid` and `alg`.
    fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<usize, VerifyError> {
        let keys = &self.config.keys;
        // A token's kid picks the key of that name; keys without a name stand for any kid,
        // as long as exactly one of them can check the token's algorithm.
        let named = kid.and_then(|kid| keys.iter().position(|k| k.kid.as_deref() == Some(kid)));
        let key = match named {
            Some(key) => Some(key),
            None => {
                let mut able = keys.iter().enumerate().filter(|(_, k)| {
                    (kid.is_none() || k.kid.is_none()) && k.algorithms.contains(&alg)
                });
                match (able.next(), able.next()) {
                    (Some((i, _)), None) => Some(i),
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
        if !keys[key].algorithms.contains(&alg) {
            return Err(VerifyError::invalid(
                "the token's algorithm is not allowed for its key",
            ));
        }
        Ok(key)
    }

    /// Reads an encoded header: the key and algorithm it selects, once `typ` and `crit`
    /// passed.
    fn read_header(&self, encoded: &[u8]) -> Result<(usize, Algorithm), VerifyError> {
        let malformed = || VerifyError::invalid("the token is malformed");
        let mut stack = [0u8; 512];
        let heap;
        let bytes: &[u8] = if encoded.len() <= 680 {
            let n = URL_SAFE_NO_PAD
                .decode_slice(encoded, &mut stack)
                .map_err(|_| malformed())?;
            &stack[..n]
        } else {
            heap = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| malformed())?;
            &heap
        };
        // RFC 7515 §5.2 step 4: the header is UTF-8 JSON. serde_json does not check the UTF-8
        // of strings it skips, so check the whole text first.
        let text = std::str::from_utf8(bytes).map_err(|_| malformed())?;
        let header: JoseHeader<'_> = serde_json::from_str(text).map_err(|_| malformed())?;
        let alg = header
            .alg
            .as_deref()
            .and_then(|a| Algorithm::from_str(a).ok())
            .ok_or_else(malformed)?;
        let key = self.key_for(header.kid.as_deref(), alg)?;
        if let Some(expected) = &self.config.typ
            && !media_type_eq(header.typ.as_deref().unwrap_or(""), expected)
        {
            return Err(VerifyError::invalid("the token has the wrong type (typ)"));
        }
        // RFC 7515 4.1.11: extensions named critical must be understood; this verifier
        // understands none.
        if header.crit {
            return Err(VerifyError::invalid(
                "the token names critical header extensions",
            ));
        }
        Ok((key, alg))
    }

    /// Verifies a compact JWS and returns its identity (claims checked).
    pub fn verify_token(&self, token: &str) -> Result<Identity, VerifyError> {
        self.verify_token_reusable(token)
            .map(|(identity, _)| identity)
    }

    /// Verifies a compact JWS: its identity, and until when the answer holds (`exp`, and
    /// `nbf` less the leeway).
    pub(crate) fn verify_token_reusable(
        &self,
        token: &str,
    ) -> Result<(Identity, Reuse), VerifyError> {
        let parts = jws_parts(token.as_bytes())
            .ok_or_else(|| VerifyError::invalid("the token is malformed"))?;
        self.verify_parts(parts)
    }

    fn verify_parts(&self, parts: JwsParts<'_>) -> Result<(Identity, Reuse), VerifyError> {
        let c = &*self.config;
        let malformed = || VerifyError::invalid("the token is malformed");
        let JwsParts {
            header,
            message,
            payload,
            signature,
        } = parts;
        let (key, alg, remembered) = match c.remembered(header) {
            Some(memo) => (memo.key, memo.alg, true),
            None => {
                let (key, alg) = self.read_header(header)?;
                (key, alg, false)
            }
        };
        let prepared = c.keys[key].prepared(alg).ok_or_else(malformed)?;
        // HMAC tags and ECDSA signatures fit 128 bytes; the largest signature is RSA-8192's,
        // 1024 bytes.
        let verified = if signature.len() <= 170 {
            let mut sig = [0u8; 128];
            let n = URL_SAFE_NO_PAD
                .decode_slice(signature, &mut sig)
                .map_err(|_| malformed())?;
            prepared.verify(message, &sig[..n])
        } else {
            let mut sig = [0u8; 1032];
            let n = URL_SAFE_NO_PAD
                .decode_slice(signature, &mut sig)
                .map_err(|_| malformed())?;
            prepared.verify(message, &sig[..n])
        };
        if !verified {
            return Err(VerifyError::invalid("the token signature is invalid"));
        }
        if !remembered {
            c.remember(header, key, alg);
        }
        // The payload, decoded onto the stack when it is of usual size.
        let mut stack = [0u8; 768];
        let heap;
        let decoded: &[u8] = if payload.len() <= 1020 {
            let n = URL_SAFE_NO_PAD
                .decode_slice(payload, &mut stack)
                .map_err(|_| malformed())?;
            &stack[..n]
        } else {
            heap = URL_SAFE_NO_PAD.decode(payload).map_err(|_| malformed())?;
            &heap
        };
        // RFC 7519 §7.2 step 8: the claims set is UTF-8 JSON, unknown members included (serde_json
        // skips an ignored string without checking its UTF-8).
        let text = std::str::from_utf8(decoded).map_err(|_| malformed())?;
        let mut de = serde_json::Deserializer::from_str(text);
        let mut read = Read::default();
        ReadSeed {
            others: &c.required_others,
            reject_duplicates: true,
            out: &mut read,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|_| malformed())?;
        let reuse = self.check_claims(&read, c.clock.unix_seconds())?;
        let identity = Identity::from_claim_set(&read.claims)
            .ok_or_else(|| VerifyError::invalid("the token names no subject"))?;
        if !c.keep_claims {
            return Ok((identity, reuse));
        }
        let raw: Map<String, Value> = serde_json::from_str(text).map_err(|_| malformed())?;
        Ok((identity.with_claims(raw), reuse))
    }

    fn check_claims(&self, read: &Read<'_>, now: u64) -> Result<Reuse, VerifyError> {
        let c = &*self.config;
        for (name, presence) in c.required.iter().zip(&c.required_checks) {
            let present = match *presence {
                Presence::Read(bit) => read.seen & bit != 0,
                Presence::Other(i) => read.others_seen & (1 << i) != 0,
            };
            if !present {
                return Err(VerifyError::invalid(format!(
                    "the token lacks the required claim {name}"
                )));
            }
        }
        let claims = &read.claims;
        let exp = match &claims.exp {
            None => None,
            Some(Any::Number(Some(exp))) => Some(*exp),
            Some(_) => return Err(VerifyError::invalid("the token's exp is not a number")),
        };
        if exp.is_some_and(|exp| now >= exp.saturating_add(c.leeway)) {
            return Err(VerifyError::invalid("the token has expired"));
        }
        let nbf = match &claims.nbf {
            None => None,
            Some(Any::Number(Some(nbf))) => Some(*nbf),
            Some(_) => return Err(VerifyError::invalid("the token's nbf is not a number")),
        };
        if nbf.is_some_and(|nbf| nbf > now.saturating_add(c.leeway)) {
            return Err(VerifyError::invalid("the token is not valid yet"));
        }
        if !c.issuers.is_empty() {
            let iss = claims.iss.as_ref().and_then(Any::as_str);
            if !iss.is_some_and(|iss| c.issuers.iter().any(|i| i == iss)) {
                return Err(VerifyError::invalid("the token has the wrong issuer"));
            }
        }
        if !c.audiences.is_empty() {
            let ok = match &claims.aud {
                Some(Any::Str(aud)) => c.audiences.iter().any(|a| a == aud),
                Some(Any::Strings(auds)) => {
                    auds.iter().any(|aud| c.audiences.iter().any(|a| a == aud))
                }
                _ => false,
            };
            if !ok {
                return Err(VerifyError::invalid(
                    "the token is not meant for this audience",
                ));
            }
        }
        // Reusable until `exp` itself (the leeway only forgives clock skew at the first check)
        // and from `nbf` less the leeway (what the check above accepted).
        let reuse = Reuse::until(exp.unwrap_or(u64::MAX))
            .not_before(nbf.map_or(0, |nbf| nbf.saturating_sub(c.leeway)));
        Ok(reuse)
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
    jws_parts(token.as_bytes()).is_some()
}

/// A compact JWS's encoded header, signing input (`header.payload`), payload and signature:
/// three non-empty parts, no fourth. Bytes: a token from the `Authorization` header is known
/// to be ASCII (its `b64token` grammar) and is never read as text here; base64 decoding
/// judges every other byte.
pub(crate) struct JwsParts<'t> {
    header: &'t [u8],
    message: &'t [u8],
    payload: &'t [u8],
    signature: &'t [u8],
}

pub(crate) fn jws_parts(token: &[u8]) -> Option<JwsParts<'_>> {
    let first = memchr::memchr(b'.', token)?;
    let last = memchr::memrchr(b'.', token)?;
    let (message, signature) = (&token[..last], &token[last + 1..]);
    let header = &token[..first];
    let payload = token.get(first + 1..last)?;
    let shaped = !header.is_empty() && !payload.is_empty() && !signature.is_empty();
    (shaped && memchr::memchr(b'.', payload).is_none()).then_some(JwsParts {
        header,
        message,
        payload,
        signature,
    })
}

impl Verifier for JwtVerifier {
    fn verify(&self, credential: &Credential<'_>) -> Verification {
        let parts = match (credential.scheme(), credential.token_bytes()) {
            (Scheme::Bearer, Some(token)) => jws_parts(token),
            _ => None,
        };
        let Some(parts) = parts else {
            return MaybeReady::Ready(Err(VerifyError::NotApplicable));
        };
        MaybeReady::Ready(
            self.verify_parts(parts)
                .map(|(identity, _)| Principal::new(identity)),
        )
    }

    /// A verified token's answer holds until its `exp`: the checks are on the token alone,
    /// and the keys of a `JwtVerifier` never change.
    fn verify_reusable(&self, credential: &Credential<'_>) -> ReusableVerification {
        let parts = match (credential.scheme(), credential.token_bytes()) {
            (Scheme::Bearer, Some(token)) => jws_parts(token),
            _ => None,
        };
        let Some(parts) = parts else {
            return MaybeReady::Ready(Err(VerifyError::NotApplicable));
        };
        MaybeReady::Ready(
            self.verify_parts(parts)
                .map(|(identity, reuse)| Verified::reusable(Principal::new(identity), reuse)),
        )
    }

    fn clock(&self) -> &dyn Clock {
        &*self.config.clock
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

    /// Keeps every claim of verified tokens in [`Identity::claims`] (default: off; only the
    /// claims the [`Identity`] maps are read, which is faster). Turn it on for handlers that
    /// read claims of their own.
    pub fn keep_claims(mut self, on: bool) -> Self {
        self.keep_claims = on;
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
        let mut required_others = Vec::new();
        let required_checks = self
            .required
            .iter()
            .map(|name| match claims::bit_of(name) {
                Some(bit) => Presence::Read(bit),
                None => {
                    let i = required_others
                        .iter()
                        .position(|o| o == name)
                        .unwrap_or_else(|| {
                            required_others.push(name.clone());
                            required_others.len() - 1
                        });
                    Presence::Other(i)
                }
            })
            .collect();
        if required_others.len() > 64 {
            return Err(KeyError::TooManyRequiredClaims);
        }
        Ok(JwtVerifier {
            config: Arc::new(Config {
                keys: self.keys,
                issuers: self.issuers,
                audiences: self.audiences,
                leeway: self.leeway,
                required: self.required,
                required_checks,
                required_others,
                typ: self.typ,
                clock: self.clock,
                keep_claims: self.keep_claims,
                headers: Default::default(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jws_shape() {
        for good in ["a.b.c", "eyJ.eyJ.sig", "a.b.c=="] {
            let parts = jws_parts(good.as_bytes()).unwrap();
            assert_eq!(
                [parts.message, parts.signature].join(&b'.'),
                good.as_bytes()
            );
            assert!(parts.message.starts_with(parts.header));
            assert!(parts.message.ends_with(parts.payload));
        }
        for bad in [
            "", "abc", "a.b", "a..c", ".b.c", "a.b.", "a.b.c.d", "...", "a.b..c",
        ] {
            assert!(jws_parts(bad.as_bytes()).is_none(), "{bad:?}");
            assert!(!looks_like_jwt(bad), "{bad:?}");
        }
    }
}
