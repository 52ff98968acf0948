//! The layers tower-gatekeeper is compared with, shared by `benches/compare.rs` and
//! `examples/load_target.rs`: tower-http's fixed bearer check, jwt-authorizer, a plain
//! `jsonwebtoken::decode` layer, and minimal hand-written HS256 / RS256 / ES256 and opaque-token
//! layers (the least a layer of each kind must do).

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Request, StatusCode, header::AUTHORIZATION};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tower::{Layer, Service};

pin_project_lite::pin_project! {
    #[project = EitherProj]
    pub enum Either<F> {
        Inner { #[pin] future: F },
        Refused { response: Option<Response> },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Either<F> {
    type Output = Result<Response, Infallible>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            EitherProj::Inner { future } => future.poll(cx),
            EitherProj::Refused { response } => Poll::Ready(Ok(response.take().unwrap())),
        }
    }
}

/// A layer that runs `check` on the headers and inserts what it returns into the extensions,
/// or answers 401: no boxing, no body handling, no challenge.
pub struct CheckLayer<F>(Arc<F>);

impl<F> Clone for CheckLayer<F> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

pub struct CheckService<S, F> {
    inner: S,
    check: Arc<F>,
}

impl<S: Clone, F> Clone for CheckService<S, F> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            check: self.check.clone(),
        }
    }
}

impl<S, F> Layer<S> for CheckLayer<F> {
    type Service = CheckService<S, F>;
    fn layer(&self, inner: S) -> Self::Service {
        CheckService {
            inner,
            check: self.0.clone(),
        }
    }
}

impl<S, F, T> Service<Request<Body>> for CheckService<S, F>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>,
    F: Fn(&HeaderMap) -> Option<T>,
    T: Clone + Send + Sync + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        match (self.check)(req.headers()) {
            Some(found) => {
                req.extensions_mut().insert(found);
                Either::Inner {
                    future: self.inner.call(req),
                }
            }
            None => {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::UNAUTHORIZED;
                Either::Refused {
                    response: Some(response),
                }
            }
        }
    }
}

pub fn check_layer<F, T>(check: F) -> CheckLayer<F>
where
    F: Fn(&HeaderMap) -> Option<T>,
{
    CheckLayer(Arc::new(check))
}

fn bearer_of(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The claims the reference layers read.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub client_id: Option<String>,
    pub scope: Option<String>,
    pub exp: u64,
    pub iss: String,
    pub aud: String,
}

/// `jsonwebtoken::decode` in a layer, as most hand-rolled axum middlewares do it.
pub fn jsonwebtoken_layer(
    router: Router,
    alg: Algorithm,
    key: DecodingKey,
    iss: &str,
    aud: &str,
) -> Router {
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[iss]);
    validation.set_audience(&[aud]);
    router.layer(check_layer(move |headers| {
        let token = bearer_of(headers)?;
        jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .ok()
            .map(|data| Arc::new(data.claims))
    }))
}

#[derive(Deserialize)]
struct MinimalClaims<'a> {
    sub: &'a str,
    exp: u64,
    iss: &'a str,
    aud: &'a str,
}

/// The floor for a JWT layer: the signature checked with a key prepared once (aws-lc-rs),
/// one base64 decode of the payload, a borrowed typed parse, `exp`/`iss`/`aud` checked and
/// the subject kept. No `kid`, `typ`, `crit`, `nbf`, leeway or claim mapping.
pub fn handwritten_layer(
    router: Router,
    iss: &str,
    aud: &str,
    verify: impl Fn(&[u8], &[u8]) -> bool + Send + Sync + 'static,
) -> Router {
    let (iss, aud) = (iss.to_owned(), aud.to_owned());
    router.layer(check_layer(move |headers| {
        let token = bearer_of(headers)?;
        let (message, signature) = token.rsplit_once('.')?;
        let (_, payload) = message.split_once('.')?;
        let mut sig = [0u8; 512];
        let n = URL_SAFE_NO_PAD.decode_slice(signature, &mut sig).ok()?;
        if !verify(message.as_bytes(), &sig[..n]) {
            return None;
        }
        let mut buf = [0u8; 1024];
        let n = URL_SAFE_NO_PAD.decode_slice(payload, &mut buf).ok()?;
        let claims: MinimalClaims<'_> = serde_json::from_slice(&buf[..n]).ok()?;
        let ok = claims.exp > now() && claims.iss == iss && claims.aud == aud;
        ok.then(|| Arc::<str>::from(claims.sub))
    }))
}

pub fn handwritten_hs256(router: Router, secret: &[u8], iss: &str, aud: &str) -> Router {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    handwritten_layer(router, iss, aud, move |m, s| {
        aws_lc_rs::hmac::verify(&key, m, s).is_ok()
    })
}

/// The DER inside a PEM.
pub fn pem_body(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap();
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

/// The hand-written floor with a public key parsed once (aws-lc-rs `ParsedPublicKey`).
pub fn handwritten_asym(
    router: Router,
    alg: &'static dyn aws_lc_rs::signature::VerificationAlgorithm,
    pem: &[u8],
    iss: &str,
    aud: &str,
) -> Router {
    // The SubjectPublicKeyInfo DER of the PEM, parsed once.
    let key = aws_lc_rs::signature::ParsedPublicKey::new(alg, pem_body(pem)).unwrap();
    handwritten_layer(router, iss, aud, move |m, s| key.verify_sig(m, s).is_ok())
}

/// An opaque-token layer: the token looked up in a map (foldhash), the owner kept.
pub fn opaque_minimal(router: Router, keys: impl IntoIterator<Item = String>) -> Router {
    let mut map: HashMap<String, Arc<str>, foldhash::fast::RandomState> = HashMap::default();
    for key in keys {
        map.insert(key, Arc::from("svc"));
    }
    router.layer(check_layer(move |headers| {
        let token = bearer_of(headers)?;
        map.get(token).cloned()
    }))
}

// jwt-authorizer (axum 0.7): its refusal is an axum 0.7 response; wrap the router's response so
// that it can be built from one, and unwrap it outside.

pub struct Wrapped(Response);

impl From<jwt_authorizer::AuthError> for Wrapped {
    fn from(e: jwt_authorizer::AuthError) -> Self {
        let old = axum_core_04::response::IntoResponse::into_response(e);
        Wrapped(old.map(Body::new))
    }
}

/// jwt-authorizer 0.15 with an HMAC secret, checking `iss` and `aud`.
pub async fn jwt_authorizer_router(router: Router, secret: &str, iss: &str, aud: &str) -> Router {
    use jwt_authorizer::{IntoLayer, JwtAuthorizer};
    let authorizer = JwtAuthorizer::<Claims>::from_secret(secret)
        .validation(jwt_authorizer::Validation::new().iss(&[iss]).aud(&[aud]))
        .build()
        .await
        .unwrap();
    let layer = vec![authorizer].into_layer();
    let stack = tower::ServiceBuilder::new()
        .map_response(|w: Wrapped| w.0)
        .layer(layer)
        .map_response(Wrapped);
    router.layer(stack)
}

/// tower-http's fixed-token check (deprecated there as "too basic", which is the point: it is
/// the floor of what a layer can cost).
#[allow(deprecated)]
pub fn tower_http_bearer(
    token: &str,
) -> tower_http::validate_request::ValidateRequestHeaderLayer<
    tower_http::auth::require_authorization::Bearer<Body>,
> {
    tower_http::validate_request::ValidateRequestHeaderLayer::bearer(token)
}
