//! Enforcement: mapping a request to an API id and checking the caller's grant.

use std::fmt;
use std::sync::Arc;

use http::Method;
use http::request::Parts;

use super::model::{Access, GrantError, Grantee};
use super::store::GrantStore;
use crate::clock::{Clock, SharedClock};
use crate::error::AuthError;
use crate::layer::Authorize;
use crate::maybe_ready::MaybeReady;
use crate::principal::Principal;

/// The API a request was mapped to by a [`GrantCheck`]: an axum extractor, also readable as
/// [`Principal::api`] (kept on the principal, so mapping costs no extra allocation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedApi(pub Arc<str>);

impl MatchedApi {
    /// The API id.
    pub fn id(&self) -> &str {
        &self.0
    }
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum_core::extract::FromRequestParts<S> for MatchedApi {
    type Rejection = crate::error::AuthError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .and_then(|p| p.api_arc().cloned())
            .map(MatchedApi)
            .ok_or_else(|| AuthError::forbidden("no API is published at this path"))
    }
}

/// One published API route: an API id, a path prefix, the methods it takes and the scopes
/// it requires. Add it to an [`ApiTable`] with [`ApiTable::route`].
///
/// ```
/// use http::Method;
/// use tower_gatekeeper::grant::ApiRoute;
///
/// let write = ApiRoute::new("orders", "/api/orders").methods([Method::POST]).scopes(["orders:write"]);
/// assert_eq!((write.id(), write.prefix()), ("orders", "/api/orders"));
/// let hello = ApiRoute::grpc_method("greeter", "helloworld.Greeter/SayHello");
/// assert_eq!(hello.prefix(), "/helloworld.Greeter/SayHello");
/// ```
#[derive(Debug, Clone)]
pub struct ApiRoute {
    id: Arc<str>,
    prefix: String,
    methods: Vec<Method>,
    scopes: Vec<String>,
}

impl ApiRoute {
    /// API `id` under the path `prefix`, for every method, with no scope required.
    pub fn new(id: impl AsRef<str>, prefix: impl Into<String>) -> Self {
        let mut prefix = prefix.into();
        while prefix.len() > 1 && prefix.ends_with('/') {
            prefix.pop();
        }
        Self {
            id: Arc::from(id.as_ref()),
            prefix,
            methods: Vec::new(),
            scopes: Vec::new(),
        }
    }

    /// The gRPC method `method` (`pkg.Service/Method`, with or without the leading `/`) as API
    /// `id`: its path, `POST` only (gRPC calls are `POST`s, gRPC over HTTP/2).
    ///
    /// # Panics
    /// When `method` is not `<service>/<method>` with both parts non-empty: a configuration
    /// error, caught at startup.
    pub fn grpc_method(id: impl AsRef<str>, method: &str) -> Self {
        let method = method.strip_prefix('/').unwrap_or(method);
        let valid = method.split_once('/').is_some_and(|(service, name)| {
            !service.is_empty() && !name.is_empty() && !name.contains('/')
        });
        assert!(
            valid,
            "a gRPC method is <package.Service>/<Method>: {method:?}"
        );
        Self::new(id, format!("/{method}")).methods([Method::POST])
    }

    /// Every method of the gRPC service `service` (`pkg.Service`) as API `id`, `POST` only.
    ///
    /// # Panics
    /// When `service` is empty or contains `/`.
    pub fn grpc_service(id: impl AsRef<str>, service: &str) -> Self {
        let service = service.strip_prefix('/').unwrap_or(service);
        assert!(
            !service.is_empty() && !service.contains('/'),
            "a gRPC service is <package.Service>: {service:?}"
        );
        Self::new(id, format!("/{service}")).methods([Method::POST])
    }

    /// Only these methods (none given: every method).
    pub fn methods<I: IntoIterator<Item = Method>>(mut self, methods: I) -> Self {
        self.methods = methods.into_iter().collect();
        self
    }

    /// Requires every one of `scopes` of requests mapped to this route (403
    /// `insufficient_scope` naming the first missing).
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The API id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The path prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The scopes required.
    pub fn required_scopes(&self) -> &[String] {
        &self.scopes
    }

    fn check_scopes(&self, principal: &Principal) -> Result<(), AuthError> {
        match self.scopes.iter().find(|s| !principal.has_scope(s)) {
            Some(missing) => Err(AuthError::insufficient_scope(missing.clone())),
            None => Ok(()),
        }
    }
}

/// Maps requests to API ids by path prefix and method, and to the scopes each route requires.
///
/// A prefix matches whole segments (`/api/orders` matches `/api/orders` and `/api/orders/7`,
/// not `/api/ordersX`); the longest matching prefix decides, and if it does not allow the
/// method the request is unmapped (it never falls through to a shorter prefix). Unmapped
/// requests are refused (default deny).
///
/// gRPC methods are paths too (`/pkg.Service/Method`): [`grpc_method`](Self::grpc_method) and
/// [`grpc_service`](Self::grpc_service) map them, so one table gives each method its API id
/// for the grant check and its scopes.
///
/// ```
/// use http::Method;
/// use tower_gatekeeper::grant::{ApiRoute, ApiTable};
///
/// let table = ApiTable::new()
///     .api("orders", "/api/orders", [Method::GET, Method::POST])
///     .api("admin", "/api", []) // every method
///     .route(ApiRoute::grpc_method("greeter", "helloworld.Greeter/SayHello").scopes(["greeter:hello"]));
/// assert_eq!(table.resolve(&Method::GET, "/api/orders/7"), Some("orders"));
/// assert_eq!(table.resolve(&Method::DELETE, "/api/orders/7"), None);
/// assert_eq!(table.resolve(&Method::DELETE, "/api/users"), Some("admin"));
/// assert_eq!(table.resolve(&Method::GET, "/apix"), None);
/// assert_eq!(table.resolve(&Method::POST, "/helloworld.Greeter/SayHello"), Some("greeter"));
/// assert_eq!(table.resolve(&Method::POST, "/helloworld.Greeter/SayGoodbye"), None);
/// ```
///
/// The table is a stage of its own too ([`Authorize`]): it refuses unmapped requests and
/// requests without the route's scopes, and records the API on the principal — the per-route
/// decisions without grants. [`GrantCheck::by_table`] makes the same decisions, then checks the
/// grant.
#[derive(Debug, Clone, Default)]
pub struct ApiTable {
    routes: Vec<ApiRoute>,
}

impl ApiTable {
    /// An empty table: every request is unmapped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Publishes API `id` under the path `prefix` for `methods` (empty: every method).
    pub fn api<I: IntoIterator<Item = Method>>(
        self,
        id: impl AsRef<str>,
        prefix: impl Into<String>,
        methods: I,
    ) -> Self {
        self.route(ApiRoute::new(id, prefix).methods(methods))
    }

    /// Publishes the gRPC method `method` (`pkg.Service/Method`) as API `id` (see
    /// [`ApiRoute::grpc_method`]).
    ///
    /// # Panics
    /// When `method` is not `<service>/<method>`.
    pub fn grpc_method(self, id: impl AsRef<str>, method: &str) -> Self {
        self.route(ApiRoute::grpc_method(id, method))
    }

    /// Publishes every method of the gRPC service `service` (`pkg.Service`) as API `id`.
    ///
    /// # Panics
    /// When `service` is empty or contains `/`.
    pub fn grpc_service(self, id: impl AsRef<str>, service: &str) -> Self {
        self.route(ApiRoute::grpc_service(id, service))
    }

    /// Publishes `route`.
    pub fn route(mut self, route: ApiRoute) -> Self {
        self.routes.push(route);
        // Longest prefix first.
        self.routes
            .sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        self
    }

    /// The API ids in the table.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|r| &*r.id)
    }

    fn route_for(&self, method: &Method, path: &str) -> Option<&ApiRoute> {
        let route = self.routes.iter().find(|r| {
            r.prefix == "/"
                || path
                    .strip_prefix(r.prefix.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })?;
        (route.methods.is_empty() || route.methods.contains(method)).then_some(route)
    }

    /// The API that `method` on `path` belongs to.
    pub fn resolve(&self, method: &Method, path: &str) -> Option<&str> {
        self.route_for(method, path).map(|r| &*r.id)
    }

    /// The route of a request: 400 for a path that is not canonical, 403 for an unmapped one.
    fn route_of(&self, parts: &Parts) -> Result<&ApiRoute, AuthError> {
        let path = parts.uri.path();
        if !is_canonical_path(path) {
            return Err(AuthError::invalid_request(
                "the request path is not in canonical form",
            ));
        }
        self.route_for(&parts.method, path)
            .ok_or_else(|| AuthError::forbidden("no API is published at this path and method"))
    }
}

impl Authorize for ApiTable {
    fn authorize(
        &self,
        principal: Principal,
        parts: &mut Parts,
    ) -> MaybeReady<Result<Principal, AuthError>> {
        MaybeReady::Ready(self.route_of(parts).and_then(|route| {
            route.check_scopes(&principal)?;
            Ok(principal.with_api(route.id.clone()))
        }))
    }
}

/// Whether `path` is in the one form a router and a prefix table agree on: no empty segments
/// (`//`), no dot segments (`/./`, `/../`), no `;` parameters, no backslash, and no
/// percent-encoding of unreserved characters, `/`, `\`, `%` or `;`, and no malformed escape.
///
/// ```
/// use tower_gatekeeper::grant::is_canonical_path;
/// assert!(is_canonical_path("/api/orders/7"));
/// assert!(is_canonical_path("/api/files/a%20b"));
/// for tricky in ["/api//orders", "/api/./orders", "/api/x/../orders", "/api/%6frders",
///                "/api%2Forders", "/api/orders;v=1", "/api/%zz", "/api\\orders"] {
///     assert!(!is_canonical_path(tricky), "{tricky}");
/// }
/// ```
pub fn is_canonical_path(path: &str) -> bool {
    // One pass over the bytes, on the request path of every grant check: each segment is
    // judged when its `/` (or the end) is reached; an escape is judged where it starts.
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return false;
    }
    let mut segment_start = 1;
    let mut i = 1;
    loop {
        match bytes.get(i) {
            end @ (None | Some(b'/')) => {
                let segment = &bytes[segment_start..i];
                if segment == b"." || segment == b".." {
                    return false;
                }
                if end.is_none() {
                    return true;
                }
                // An empty segment before a `/`: `//`.
                if segment.is_empty() {
                    return false;
                }
                i += 1;
                segment_start = i;
            }
            Some(b';' | b'\\') => return false,
            Some(b'%') => {
                let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
                let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                    return false;
                };
                let decoded = (hi * 16 + lo) as u8;
                if decoded.is_ascii_alphanumeric() || b"-._~/\\%;".contains(&decoded) {
                    return false;
                }
                i += 3;
            }
            Some(_) => i += 1,
        }
    }
}

#[derive(Clone)]
enum Mapping {
    Fixed(MatchedApi),
    Table(ApiTable),
}

/// Refuses requests whose caller holds no grant in force for the API they call.
///
/// Give it one API id (for `route_layer` on that API's routes) or an [`ApiTable`]. It checks
/// the grant of the **caller**: the app or user that holds the credential (under sudo, the
/// actor, not the impersonated user), identified by its client id or, for credentials without
/// one (Basic users, API keys), its subject. The grant is a contract between the provider and
/// the integration that calls; impersonation changes whose data is touched, not who calls.
///
/// ```
/// use axum::{routing::get, Router};
/// use tower_gatekeeper::grant::{GrantCheck, InMemoryGrantStore};
/// use tower_gatekeeper::verify::JwtVerifier;
/// use tower_gatekeeper::GatekeeperLayer;
///
/// let store = InMemoryGrantStore::new();
/// let verifier = JwtVerifier::hs256(b"0123456789abcdef0123456789abcdef").unwrap();
/// let orders: Router = Router::new()
///     .route("/orders", get(|| async { "orders" }))
///     .route_layer(GatekeeperLayer::builder(verifier).authorize(GrantCheck::for_api(store, "orders")).build());
/// ```
#[derive(Clone)]
pub struct GrantCheck {
    store: Arc<dyn GrantStore>,
    mapping: Mapping,
    clock: SharedClock,
}

impl fmt::Debug for GrantCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mapping = match &self.mapping {
            Mapping::Fixed(api) => format!("api {}", api.id()),
            Mapping::Table(t) => format!("table of {} APIs", t.routes.len()),
        };
        f.debug_struct("GrantCheck")
            .field("mapping", &mapping)
            .finish_non_exhaustive()
    }
}

impl GrantCheck {
    /// Every request is a call to `api_id`.
    pub fn for_api(store: impl GrantStore, api_id: impl AsRef<str>) -> Self {
        Self::for_api_shared(Arc::new(store), api_id)
    }

    /// Like [`for_api`](Self::for_api), with a shared store.
    pub fn for_api_shared(store: Arc<dyn GrantStore>, api_id: impl AsRef<str>) -> Self {
        Self {
            store,
            mapping: Mapping::Fixed(MatchedApi(Arc::from(api_id.as_ref()))),
            clock: crate::clock::system(),
        }
    }

    /// Requests are mapped by `table`; unmapped requests and non-canonical paths are refused,
    /// and so are requests without the scopes their route requires (checked before the grant).
    pub fn by_table(store: impl GrantStore, table: ApiTable) -> Self {
        Self::by_table_shared(Arc::new(store), table)
    }

    /// Like [`by_table`](Self::by_table), with a shared store.
    pub fn by_table_shared(store: Arc<dyn GrantStore>, table: ApiTable) -> Self {
        Self {
            store,
            mapping: Mapping::Table(table),
            clock: crate::clock::system(),
        }
    }

    /// The clock that decides whether a grant has ended.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Shares an existing clock.
    pub fn shared_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }
}

fn decide(access: Result<Access, GrantError>) -> Result<(), AuthError> {
    match access {
        Ok(Access::Allowed) => Ok(()),
        Ok(Access::Missing) => Err(AuthError::forbidden(
            "the caller holds no grant for this API",
        )),
        Ok(Access::Pending) => Err(AuthError::forbidden(
            "the caller's application for this API awaits approval",
        )),
        Ok(Access::Expired) => Err(AuthError::forbidden(
            "the caller's grant for this API has expired",
        )),
        Ok(Access::Ended) => Err(AuthError::forbidden(
            "the caller's grant for this API was revoked",
        )),
        Err(e) => Err(AuthError::unavailable(format!("grant store: {}", e.code()))),
    }
}

impl Authorize for GrantCheck {
    fn authorize(
        &self,
        principal: Principal,
        parts: &mut Parts,
    ) -> MaybeReady<Result<Principal, AuthError>> {
        let api = match &self.mapping {
            Mapping::Fixed(api) => api.0.clone(),
            Mapping::Table(table) => {
                match table
                    .route_of(parts)
                    .and_then(|route| route.check_scopes(&principal).map(|()| route))
                {
                    Ok(route) => route.id.clone(),
                    Err(error) => return MaybeReady::Ready(Err(error)),
                }
            }
        };
        let grantee = Grantee::of(principal.caller());
        let check = self.store.check(&api, grantee, self.clock.unix_seconds());
        check.map(move |access| decide(access).map(|()| principal.with_api(api)))
    }
}

#[cfg(test)]
mod tests {
    use super::is_canonical_path;

    /// The definition, one rule at a time (the form `is_canonical_path` had before it was
    /// made one pass).
    fn by_the_rules(path: &str) -> bool {
        if !path.starts_with('/')
            || path.contains("//")
            || path.contains(';')
            || path.contains('\\')
        {
            return false;
        }
        if path.split('/').any(|s| s == "." || s == "..") {
            return false;
        }
        let bytes = path.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = |b: u8| (b as char).to_digit(16);
                let (Some(hi), Some(lo)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) else {
                    return false;
                };
                let decoded = (hi * 16 + lo) as u8;
                if decoded.is_ascii_alphanumeric() || b"-._~/\\%;".contains(&decoded) {
                    return false;
                }
                i += 3;
            } else {
                i += 1;
            }
        }
        true
    }

    #[test]
    fn one_pass_agrees_with_the_rules_on_every_short_path() {
        // Every string of up to six symbols from an alphabet of the bytes that matter.
        const ALPHABET: [&str; 11] = ["/", ".", ";", "\\", "%", "2", "e", "F", "a", "é", "0"];
        let mut paths = vec![String::new()];
        let mut checked = 0;
        for _ in 0..6 {
            let mut longer = Vec::with_capacity(paths.len() * ALPHABET.len());
            for path in &paths {
                for symbol in ALPHABET {
                    let next = format!("{path}{symbol}");
                    assert_eq!(is_canonical_path(&next), by_the_rules(&next), "{next:?}");
                    checked += 1;
                    longer.push(next);
                }
            }
            paths = longer;
        }
        assert!(checked > 1_900_000, "{checked}");
    }
}
