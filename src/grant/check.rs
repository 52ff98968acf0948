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

#[derive(Debug, Clone)]
struct ApiRoute {
    id: Arc<str>,
    prefix: String,
    methods: Vec<Method>,
}

/// Maps requests to API ids by path prefix and method.
///
/// A prefix matches whole segments (`/api/orders` matches `/api/orders` and `/api/orders/7`,
/// not `/api/ordersX`); the longest matching prefix decides, and if it does not allow the
/// method the request is unmapped (it never falls through to a shorter prefix). Unmapped
/// requests are refused (default deny).
///
/// ```
/// use http::Method;
/// use tower_gatekeeper::grant::ApiTable;
///
/// let table = ApiTable::new()
///     .api("orders", "/api/orders", [Method::GET, Method::POST])
///     .api("admin", "/api", []); // every method
/// assert_eq!(table.resolve(&Method::GET, "/api/orders/7"), Some("orders"));
/// assert_eq!(table.resolve(&Method::DELETE, "/api/orders/7"), None);
/// assert_eq!(table.resolve(&Method::DELETE, "/api/users"), Some("admin"));
/// assert_eq!(table.resolve(&Method::GET, "/apix"), None);
/// ```
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
        mut self,
        id: impl AsRef<str>,
        prefix: impl Into<String>,
        methods: I,
    ) -> Self {
        let mut prefix = prefix.into();
        while prefix.len() > 1 && prefix.ends_with('/') {
            prefix.pop();
        }
        self.routes.push(ApiRoute {
            id: Arc::from(id.as_ref()),
            prefix,
            methods: methods.into_iter().collect(),
        });
        // Longest prefix first.
        self.routes
            .sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        self
    }

    /// The API ids in the table.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|r| &*r.id)
    }

    fn route(&self, method: &Method, path: &str) -> Option<&Arc<str>> {
        let route = self.routes.iter().find(|r| {
            r.prefix == "/"
                || path
                    .strip_prefix(r.prefix.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })?;
        (route.methods.is_empty() || route.methods.contains(method)).then_some(&route.id)
    }

    /// The API that `method` on `path` belongs to.
    pub fn resolve(&self, method: &Method, path: &str) -> Option<&str> {
        self.route(method, path).map(|id| &**id)
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
    if !path.starts_with('/') || path.contains("//") || path.contains(';') || path.contains('\\') {
        return false;
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
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

    /// Requests are mapped by `table`; unmapped requests and non-canonical paths are refused.
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
                let path = parts.uri.path();
                if !is_canonical_path(path) {
                    return MaybeReady::Ready(Err(AuthError::invalid_request(
                        "the request path is not in canonical form",
                    )));
                }
                match table.route(&parts.method, path) {
                    Some(id) => id.clone(),
                    None => {
                        return MaybeReady::Ready(Err(AuthError::forbidden(
                            "no API is published at this path and method",
                        )));
                    }
                }
            }
        };
        let grantee = Grantee::of(principal.caller());
        let check = self.store.check(&api, grantee, self.clock.unix_seconds());
        check.map(move |access| decide(access).map(|()| principal.with_api(api)))
    }
}
