//! Discovery documents: what a client can learn about a protected resource without being told.
//!
//! - [`ProtectedResourceMetadata`] serves RFC 9728 protected resource metadata
//!   (`/.well-known/oauth-protected-resource`): the resource's identifier, the authorization
//!   servers it trusts, its scopes and how it accepts bearer tokens. With
//!   [`GatekeeperBuilder::resource_metadata`](crate::GatekeeperBuilder::resource_metadata),
//!   every `Bearer` challenge of the layer points at it (RFC 9728 §5.1).
//! - The issuer's RFC 8414 authorization server metadata is
//!   `issuer::MetadataEndpoint` (feature `issuer`), built from the same pieces.
//!
//! Both are tower services answering `GET` and `HEAD` with a JSON document on whatever path
//! they are mounted at; [`ProtectedResourceMetadata::well_known_path`] says where the RFC puts
//! it.
//!
//! ```
//! use axum::Router;
//! use tower_gatekeeper::GatekeeperLayer;
//! use tower_gatekeeper::discovery::ProtectedResourceMetadata;
//! use tower_gatekeeper::extract::CredentialSources;
//! use tower_gatekeeper::verify::JwtVerifier;
//!
//! let sources = CredentialSources::new().query("access_token");
//! let metadata = ProtectedResourceMetadata::new("https://orders.example")
//!     .unwrap()
//!     .authorization_server("https://auth.example")
//!     .scopes(["orders:read", "orders:write"])
//!     .bearer_methods_from(&sources);
//! assert_eq!(metadata.well_known_path(), "/.well-known/oauth-protected-resource");
//!
//! let verifier = JwtVerifier::hs256(b"0123456789abcdef0123456789abcdef").unwrap();
//! let gate = GatekeeperLayer::builder(verifier)
//!     .sources(sources)
//!     // 401s say where the metadata is: `Bearer realm="api", resource_metadata="…"`.
//!     .resource_metadata(metadata.metadata_url())
//!     .build();
//! let app: Router = Router::new()
//!     .route("/orders", axum::routing::get(|| async { "orders" }))
//!     .route_layer(gate)
//!     .route_service(&metadata.well_known_path(), metadata);
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::{Map, Value};

use crate::extract::CredentialSources;

/// A URL that a discovery document needs to be an absolute `http` or `https` URL without a
/// query or fragment (RFC 8414 §2 for an issuer, RFC 9728 §2 for a resource) was not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidUrl {
    what: &'static str,
    reason: &'static str,
}

impl InvalidUrl {
    /// What the URL was for (`issuer`, `resource`).
    pub fn what(&self) -> &'static str {
        self.what
    }
    /// Why it was refused.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for InvalidUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the {} must be an absolute http(s) URL without query or fragment: {}",
            self.what, self.reason
        )
    }
}

impl std::error::Error for InvalidUrl {}

/// An identifier URL split into its origin (`https://host:port`) and path (no terminating
/// `/`), as the well-known URI rules need it.
#[derive(Debug, Clone)]
pub(crate) struct IdentifierUrl {
    /// The URL as given: documents name it exactly so (clients compare it as a string).
    pub(crate) text: String,
    pub(crate) origin: String,
    /// The path without its terminating `/` (RFC 8414 §3.1, RFC 9728 §3.1); empty for none.
    pub(crate) path: String,
}

impl IdentifierUrl {
    /// Checks `text`: `http` or `https` (plain `http` is for loopback and development; clients
    /// such as openid-client refuse it unless told otherwise), a host, no user info, no query,
    /// no fragment.
    pub(crate) fn parse(text: &str, what: &'static str) -> Result<Self, InvalidUrl> {
        let bad = |reason| InvalidUrl { what, reason };
        if text.contains('#') {
            return Err(bad("it has a fragment"));
        }
        if text.contains('?') {
            return Err(bad("it has a query"));
        }
        let uri = http::Uri::try_from(text).map_err(|_| bad("it is not a URI"))?;
        match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") || s.eq_ignore_ascii_case("http") => {}
            Some(_) => return Err(bad("its scheme is not http or https")),
            None => return Err(bad("it is not absolute")),
        }
        let authority = uri.authority().ok_or_else(|| bad("it has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("it carries user information"));
        }
        if authority.host().is_empty() {
            return Err(bad("it has no host"));
        }
        // The path starts at the first `/` after `scheme://` (no query or fragment follows).
        let start = text.find("://").map_or(0, |i| i + 3);
        let split = text[start..].find('/').map_or(text.len(), |i| start + i);
        let (origin, rest) = text.split_at(split);
        Ok(Self {
            text: text.to_owned(),
            origin: origin.to_owned(),
            path: rest.trim_end_matches('/').to_owned(),
        })
    }

    /// RFC 8414 §3.1 / RFC 9728 §3.1: the well-known segment goes between the host and the
    /// path: `https://h/t1` → `/.well-known/<suffix>/t1`.
    pub(crate) fn well_known_path(&self, suffix: &str) -> String {
        format!("/.well-known/{suffix}{}", self.path)
    }

    /// `path` under this URL (`https://h/t1` + `/oauth/token` → `https://h/t1/oauth/token`),
    /// or `path` itself when it is already an absolute URL.
    #[cfg_attr(not(feature = "issuer"), allow(dead_code))]
    pub(crate) fn join(&self, path: &str) -> String {
        let lower = path.get(..8).unwrap_or(path).to_ascii_lowercase();
        if lower.starts_with("https://") || lower.starts_with("http://") {
            return path.to_owned();
        }
        let base = self.text.trim_end_matches('/');
        if path.starts_with('/') {
            format!("{base}{path}")
        } else {
            format!("{base}/{path}")
        }
    }
}

/// The answer of a discovery service: the document for `GET` and `HEAD` (hyper and axum send
/// no body for `HEAD`), 405 with `Allow` for any other method (RFC 9110 §15.5.6).
pub(crate) fn document_response(method: &Method, document: &Value) -> Response<Full<Bytes>> {
    if method == Method::GET || method == Method::HEAD {
        let bytes = serde_json::to_vec(document).unwrap_or_default();
        let mut response = Response::new(Full::new(Bytes::from(bytes)));
        // RFC 8414 §3.2, RFC 9728 §3.2: application/json.
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return response;
    }
    let body = serde_json::json!({
        "error": "invalid_request",
        "error_description": "metadata is read with GET",
    });
    let mut response = Response::new(Full::new(Bytes::from(
        serde_json::to_vec(&body).unwrap_or_default(),
    )));
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    let headers = response.headers_mut();
    headers.insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Adds `values` to `document` under `name` unless there are none: RFC 8414 §3.2 and RFC
/// 9728 §3.2 say claims with zero elements are omitted.
pub(crate) fn put_list(document: &mut Map<String, Value>, name: &str, values: &[String]) {
    if !values.is_empty() {
        document.insert(name.to_owned(), values.into());
    }
}

/// One of RFC 6750's ways of sending a bearer token, as RFC 9728 §2 names them in
/// `bearer_methods_supported`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BearerMethod {
    /// `Authorization: Bearer` (RFC 6750 §2.1): `"header"`.
    Header,
    /// A form-encoded body field (RFC 6750 §2.2): `"body"`.
    Body,
    /// A URI query parameter (RFC 6750 §2.3): `"query"`.
    Query,
}

impl BearerMethod {
    /// The name RFC 9728 §2 gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Body => "body",
            Self::Query => "query",
        }
    }
}

/// RFC 9728 protected resource metadata, as a tower service answering `GET` and `HEAD` on
/// whatever path it is mounted at (RFC 9728 §3: `/.well-known/oauth-protected-resource`,
/// before the resource's path — see [`well_known_path`](Self::well_known_path)).
///
/// The document names the `resource` (REQUIRED) and, when configured, the
/// `authorization_servers` whose tokens the resource accepts (their issuer identifiers, where
/// a client finds their RFC 8414 metadata), `scopes_supported`, `bearer_methods_supported`
/// (from the layer's [`CredentialSources`] with
/// [`bearer_methods_from`](Self::bearer_methods_from)), `jwks_uri`, `resource_name`, and any
/// other member given with [`field`](Self::field). Lists without elements are left out (RFC
/// 9728 §3.2); `bearer_methods_supported` is the exception RFC 9728 §2 makes: `[]` says no
/// bearer token is accepted (API keys or Basic only).
///
/// A client must check that `resource` is the identifier it asked about (RFC 9728 §3.3), so
/// give the URL clients use, not the address the server listens on behind a proxy.
#[derive(Clone)]
pub struct ProtectedResourceMetadata {
    resource: IdentifierUrl,
    authorization_servers: Vec<String>,
    scopes: Vec<String>,
    bearer_methods: Option<Vec<BearerMethod>>,
    jwks_uri: Option<String>,
    resource_name: Option<String>,
    extra: Map<String, Value>,
}

impl fmt::Debug for ProtectedResourceMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtectedResourceMetadata")
            .field("resource", &self.resource.text)
            .field("authorization_servers", &self.authorization_servers)
            .finish_non_exhaustive()
    }
}

impl ProtectedResourceMetadata {
    /// The metadata of the resource identified by `resource`: an absolute `https` URL (or
    /// `http` for loopback and development) with no query or fragment.
    ///
    /// ```
    /// use tower_gatekeeper::discovery::ProtectedResourceMetadata;
    ///
    /// assert!(ProtectedResourceMetadata::new("https://api.example/orders").is_ok());
    /// assert!(ProtectedResourceMetadata::new("orders-api").is_err());
    /// assert!(ProtectedResourceMetadata::new("https://api.example/#x").is_err());
    /// ```
    pub fn new(resource: impl Into<String>) -> Result<Self, InvalidUrl> {
        let resource = IdentifierUrl::parse(&resource.into(), "resource")?;
        Ok(Self {
            resource,
            authorization_servers: Vec::new(),
            scopes: Vec::new(),
            bearer_methods: None,
            jwks_uri: None,
            resource_name: None,
            extra: Map::new(),
        })
    }

    /// An authorization server whose tokens the resource accepts, by its issuer identifier
    /// (the `iss` of its tokens and the `issuer` of its RFC 8414 metadata). Call it once per
    /// server.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// The scopes the resource uses in authorization decisions (RFC 9728 §2: it may leave
    /// some out).
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The ways bearer tokens may be sent.
    pub fn bearer_methods(mut self, methods: impl IntoIterator<Item = BearerMethod>) -> Self {
        let mut list: Vec<BearerMethod> = Vec::new();
        for m in methods {
            if !list.contains(&m) {
                list.push(m);
            }
        }
        self.bearer_methods = Some(list);
        self
    }

    /// The ways bearer tokens may be sent, as `sources` reads them: `header` for
    /// `Authorization: Bearer`, `body` for a form body field, `query` for a query parameter.
    /// Other carriers (a named token header, a JSON body field) are not among RFC 6750's
    /// methods and are not named.
    ///
    /// ```
    /// use tower_gatekeeper::discovery::{BearerMethod, ProtectedResourceMetadata};
    /// use tower_gatekeeper::extract::CredentialSources;
    ///
    /// let sources = CredentialSources::new().query("access_token");
    /// let metadata = ProtectedResourceMetadata::new("https://api.example")
    ///     .unwrap()
    ///     .bearer_methods_from(&sources);
    /// assert_eq!(metadata.document()["bearer_methods_supported"], serde_json::json!(["header", "query"]));
    /// ```
    pub fn bearer_methods_from(self, sources: &CredentialSources) -> Self {
        let (header, body, query) = sources.rfc6750_methods();
        let methods = [
            (header, BearerMethod::Header),
            (body, BearerMethod::Body),
            (query, BearerMethod::Query),
        ];
        self.bearer_methods(methods.into_iter().filter(|(on, _)| *on).map(|(_, m)| m))
    }

    /// The URL of the resource's own JWK Set (for signed responses; not the authorization
    /// server's keys).
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.jwks_uri = Some(url.into());
        self
    }

    /// A human-readable name of the resource.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// Adds (or replaces) any other member, such as `resource_documentation` or
    /// `tls_client_certificate_bound_access_tokens`.
    pub fn field(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(name.into(), value.into());
        self
    }

    /// The resource identifier.
    pub fn resource(&self) -> &str {
        &self.resource.text
    }

    /// The path to mount the document at (RFC 9728 §3.1): `/.well-known/oauth-protected-resource`
    /// followed by the resource's path, if it has one.
    ///
    /// ```
    /// use tower_gatekeeper::discovery::ProtectedResourceMetadata;
    ///
    /// let m = ProtectedResourceMetadata::new("https://api.example/orders/").unwrap();
    /// assert_eq!(m.well_known_path(), "/.well-known/oauth-protected-resource/orders");
    /// assert_eq!(m.metadata_url(), "https://api.example/.well-known/oauth-protected-resource/orders");
    /// ```
    pub fn well_known_path(&self) -> String {
        self.resource.well_known_path("oauth-protected-resource")
    }

    /// The absolute URL of the document: what
    /// [`GatekeeperBuilder::resource_metadata`](crate::GatekeeperBuilder::resource_metadata)
    /// puts in challenges.
    pub fn metadata_url(&self) -> String {
        format!("{}{}", self.resource.origin, self.well_known_path())
    }

    /// The JSON document.
    pub fn document(&self) -> Value {
        let mut doc = Map::new();
        doc.insert("resource".into(), self.resource.text.clone().into());
        put_list(
            &mut doc,
            "authorization_servers",
            &self.authorization_servers,
        );
        put_list(&mut doc, "scopes_supported", &self.scopes);
        if let Some(methods) = &self.bearer_methods {
            let names: Vec<Value> = methods.iter().map(|m| m.as_str().into()).collect();
            doc.insert("bearer_methods_supported".into(), names.into());
        }
        if let Some(jwks) = &self.jwks_uri {
            doc.insert("jwks_uri".into(), jwks.clone().into());
        }
        if let Some(name) = &self.resource_name {
            doc.insert("resource_name".into(), name.clone().into());
        }
        for (k, v) in &self.extra {
            doc.insert(k.clone(), v.clone());
        }
        Value::Object(doc)
    }
}

impl<B> tower_service::Service<Request<B>> for ProtectedResourceMetadata {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_urls_split_into_origin_and_path() {
        let u = IdentifierUrl::parse("https://auth.example:8443/t1/", "issuer").unwrap();
        assert_eq!(u.origin, "https://auth.example:8443");
        assert_eq!(u.path, "/t1");
        assert_eq!(u.well_known_path("x"), "/.well-known/x/t1");
        assert_eq!(
            u.join("/oauth/token"),
            "https://auth.example:8443/t1/oauth/token"
        );
        assert_eq!(u.join("keys"), "https://auth.example:8443/t1/keys");
        assert_eq!(u.join("HTTPS://other/k"), "HTTPS://other/k");
        let bare = IdentifierUrl::parse("http://127.0.0.1:3000", "issuer").unwrap();
        assert_eq!(bare.origin, "http://127.0.0.1:3000");
        assert_eq!(bare.path, "");
        assert_eq!(bare.well_known_path("x"), "/.well-known/x");
        assert_eq!(bare.join("/t"), "http://127.0.0.1:3000/t");
    }

    #[test]
    fn identifier_urls_refuse_what_the_rfcs_forbid() {
        for bad in [
            "",
            "tower-gatekeeper",
            "/relative",
            "ftp://h/x",
            "https://h/x?q=1",
            "https://h/x#f",
            "https://user:pw@h/x",
            "https://h/a b",
            "https:///x",
        ] {
            assert!(IdentifierUrl::parse(bad, "issuer").is_err(), "{bad:?}");
        }
    }
}
