//! RFC 8414 authorization server metadata for the issuer.

use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use serde_json::{Map, Value};

use super::TokenIssuer;
use crate::discovery::{IdentifierUrl, InvalidUrl, document_response, put_list};

/// How clients authenticate at the token, introspection and revocation endpoints: RFC 6749
/// §2.3.1's two forms, with the names RFC 7591 §2 registers for them.
const CLIENT_AUTH_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];

/// RFC 8414 authorization server metadata, as a tower service answering `GET` and `HEAD` on
/// whatever path it is mounted at. Made by [`TokenIssuer::metadata_endpoint`].
///
/// The document says:
///
/// | member | value |
/// | --- | --- |
/// | `issuer` | the issuer's `iss`, exactly as configured |
/// | `token_endpoint` | `<issuer>/oauth/token` unless [`token_endpoint`](Self::token_endpoint) says otherwise |
/// | `jwks_uri` | `<issuer>/.well-known/jwks.json` for an asymmetric key ([`TokenIssuer::jwks`]); never for an HMAC key |
/// | `introspection_endpoint` | `<issuer>/oauth/token/introspect` (RFC 7662) |
/// | `revocation_endpoint` | `<issuer>/oauth/token/revoke` (RFC 7009) |
/// | `grant_types_supported` | `["client_credentials"]` |
/// | `token_endpoint_auth_methods_supported`, and the same for introspection and revocation | `["client_secret_basic", "client_secret_post"]` |
/// | `scopes_supported` | what [`scopes`](Self::scopes) lists, left out when empty |
/// | `response_types_supported` | `["none"]`, see below |
///
/// A path given to the builder methods is appended to the issuer URL; an absolute URL is
/// taken as it is. Every URL must be one that answers: the test suite fetches each one.
///
/// **`response_types_supported`.** RFC 8414 §2 makes it REQUIRED, and §3.2 forbids an empty
/// list, yet this issuer has no authorization endpoint, so it has no response type in the
/// RFC 6749 sense; `token` would claim the implicit grant, which is not offered (RFC 9700
/// §2.1.2). The document says `["none"]` (the registered response type that returns no
/// credential, OAuth 2.0 Multiple Response Type Encoding Practices §4), which is as close to
/// "none" as the format allows and what client-credentials-only servers commonly publish.
/// Authlib's metadata validation needs a non-empty list; openid-client does not read it.
/// [`field`](Self::field) replaces it.
///
/// **Where to mount it.** RFC 8414 §3.1 puts the document at
/// `/.well-known/oauth-authorization-server` followed by the issuer's path:
/// [`well_known_path`](Self::well_known_path). Many clients (openid-client's default mode,
/// jwt-authorizer, Spring's `issuer-uri`) look at `/.well-known/openid-configuration` instead,
/// which OpenID Connect Discovery §4 appends *after* the issuer's path:
/// [`openid_configuration_path`](Self::openid_configuration_path). RFC 8414 §5 lets one
/// document serve both; this one describes an OAuth server, not an OpenID provider (no ID
/// tokens), so an OpenID Connect relying party will find nothing to log in with.
///
/// ```
/// use axum::Router;
/// use tower_gatekeeper::issuer::{SigningKey, TokenIssuer};
///
/// let issuer = TokenIssuer::builder(SigningKey::hs256(&[7u8; 32]).unwrap())
///     .issuer("https://auth.example/tenant-1")
///     .build();
/// let metadata = issuer.metadata_endpoint().unwrap().scopes(["orders:read"]);
/// assert_eq!(metadata.well_known_path(), "/.well-known/oauth-authorization-server/tenant-1");
/// assert_eq!(metadata.openid_configuration_path(), "/tenant-1/.well-known/openid-configuration");
/// assert_eq!(metadata.document()["token_endpoint"], "https://auth.example/tenant-1/oauth/token");
///
/// let app: Router = Router::new()
///     .nest(
///         "/tenant-1",
///         Router::new().route_service("/oauth/token", issuer.token_endpoint()),
///     )
///     .route_service(&metadata.well_known_path(), metadata.clone())
///     .route_service(&metadata.openid_configuration_path(), metadata);
/// ```
#[derive(Clone)]
pub struct MetadataEndpoint {
    issuer: IdentifierUrl,
    token: String,
    introspection: Option<String>,
    revocation: Option<String>,
    jwks: Option<String>,
    scopes: Vec<String>,
    extra: Map<String, Value>,
}

impl fmt::Debug for MetadataEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataEndpoint")
            .field("issuer", &self.issuer.text)
            .field("token_endpoint", &self.token)
            .finish_non_exhaustive()
    }
}

impl MetadataEndpoint {
    pub(crate) fn new(issuer: &TokenIssuer) -> Result<Self, InvalidUrl> {
        let url = IdentifierUrl::parse(issuer.issuer_name(), "issuer")?;
        Ok(Self {
            issuer: url,
            token: "/oauth/token".to_owned(),
            introspection: Some("/oauth/token/introspect".to_owned()),
            revocation: Some("/oauth/token/revoke".to_owned()),
            jwks: issuer.jwks().map(|_| "/.well-known/jwks.json".to_owned()),
            scopes: Vec::new(),
            extra: Map::new(),
        })
    }

    /// Where the [`TokenEndpoint`](super::TokenEndpoint) is mounted (default `/oauth/token`).
    pub fn token_endpoint(mut self, path: impl Into<String>) -> Self {
        self.token = path.into();
        self
    }

    /// Where the [`IntrospectionEndpoint`](super::IntrospectionEndpoint) is mounted (default
    /// `/oauth/token/introspect`).
    pub fn introspection_endpoint(mut self, path: impl Into<String>) -> Self {
        self.introspection = Some(path.into());
        self
    }

    /// Leaves `introspection_endpoint` out: introspection is not mounted.
    pub fn no_introspection_endpoint(mut self) -> Self {
        self.introspection = None;
        self
    }

    /// Where the [`RevocationEndpoint`](super::RevocationEndpoint) is mounted (default
    /// `/oauth/token/revoke`).
    pub fn revocation_endpoint(mut self, path: impl Into<String>) -> Self {
        self.revocation = Some(path.into());
        self
    }

    /// Leaves `revocation_endpoint` out: revocation is not mounted.
    pub fn no_revocation_endpoint(mut self) -> Self {
        self.revocation = None;
        self
    }

    /// Where [`TokenIssuer::jwks`] is served (default `/.well-known/jwks.json` for an
    /// asymmetric key; an HMAC key has no JWK Set unless this names one).
    pub fn jwks_uri(mut self, path: impl Into<String>) -> Self {
        self.jwks = Some(path.into());
        self
    }

    /// Leaves `jwks_uri` out: the public key is not published.
    pub fn no_jwks_uri(mut self) -> Self {
        self.jwks = None;
        self
    }

    /// The scopes to advertise (`scopes_supported`; RFC 8414 §2 lets a server leave some
    /// out). Left out of the document when empty.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Adds (or replaces) any other member, such as `service_documentation`.
    pub fn field(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(name.into(), value.into());
        self
    }

    /// The path RFC 8414 §3.1 gives the document: `/.well-known/oauth-authorization-server`
    /// followed by the issuer's path (without its terminating `/`).
    pub fn well_known_path(&self) -> String {
        self.issuer.well_known_path("oauth-authorization-server")
    }

    /// The path OpenID Connect Discovery 1.0 §4 gives the document: the issuer's path followed
    /// by `/.well-known/openid-configuration`. The same as RFC 8414's form but for the suffix
    /// when the issuer has no path (RFC 8414 §5).
    pub fn openid_configuration_path(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer.path)
    }

    /// The absolute URL of the RFC 8414 location (the issuer's origin and
    /// [`well_known_path`](Self::well_known_path)).
    pub fn metadata_url(&self) -> String {
        format!("{}{}", self.issuer.origin, self.well_known_path())
    }

    /// The JSON document.
    pub fn document(&self) -> Value {
        let url = |path: &str| Value::String(self.issuer.join(path));
        let methods: Vec<String> = CLIENT_AUTH_METHODS.map(str::to_owned).to_vec();
        let mut doc = Map::new();
        doc.insert("issuer".into(), self.issuer.text.clone().into());
        doc.insert("token_endpoint".into(), url(&self.token));
        doc.insert(
            "token_endpoint_auth_methods_supported".into(),
            methods.clone().into(),
        );
        if let Some(jwks) = &self.jwks {
            doc.insert("jwks_uri".into(), url(jwks));
        }
        if let Some(path) = &self.introspection {
            doc.insert("introspection_endpoint".into(), url(path));
            doc.insert(
                "introspection_endpoint_auth_methods_supported".into(),
                methods.clone().into(),
            );
        }
        if let Some(path) = &self.revocation {
            doc.insert("revocation_endpoint".into(), url(path));
            doc.insert(
                "revocation_endpoint_auth_methods_supported".into(),
                methods.into(),
            );
        }
        doc.insert(
            "grant_types_supported".into(),
            ["client_credentials"].into(),
        );
        doc.insert("response_types_supported".into(), ["none"].into());
        put_list(&mut doc, "scopes_supported", &self.scopes);
        for (k, v) in &self.extra {
            doc.insert(k.clone(), v.clone());
        }
        Value::Object(doc)
    }
}

impl<B> tower_service::Service<Request<B>> for MetadataEndpoint {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        ready(Ok(document_response(request.method(), &self.document())))
    }
}
