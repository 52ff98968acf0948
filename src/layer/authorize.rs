use http::request::Parts;

use crate::error::AuthError;
use crate::extract::Scheme;
use crate::maybe_ready::MaybeReady;
use crate::principal::Principal;

/// A check that runs after the credential is verified: scopes, impersonation, tenants, grants.
///
/// It may replace the principal (sudo does) and may add extensions to the request (the grant
/// check records the matched API). Answer [`MaybeReady::Ready`] when no waiting is needed.
///
/// ```
/// use tower_gatekeeper::layer::Authorize;
/// use tower_gatekeeper::{AuthError, MaybeReady, Principal};
///
/// struct OnlyApps;
/// impl Authorize for OnlyApps {
///     fn authorize(&self, p: Principal, _: &mut http::request::Parts) -> MaybeReady<Result<Principal, AuthError>> {
///         MaybeReady::Ready(match p.client_id() {
///             Some(_) => Ok(p),
///             None => Err(AuthError::forbidden("only apps may call this API")),
///         })
///     }
/// }
/// ```
pub trait Authorize: Send + Sync + 'static {
    /// Decides on `principal` for the request described by `parts`.
    fn authorize(
        &self,
        principal: Principal,
        parts: &mut Parts,
    ) -> MaybeReady<Result<Principal, AuthError>>;

    /// Whether an anonymous request (optional mode, no credential) must be refused because
    /// this check needs a principal. Defaults to `true`: fail closed.
    fn requires_principal(&self) -> bool {
        true
    }
}

/// Headers an [`Authorize`] stage wants on the response of an admitted request: insert it
/// into the request extensions, and the layer moves it to the response (e.g. a `Warning` for a
/// deprecated parameter).
#[derive(Debug, Clone, Default)]
pub struct AddResponseHeaders(pub http::HeaderMap);

/// Requires scopes of the principal.
#[derive(Debug, Clone)]
pub struct RequireScopes {
    scopes: Vec<String>,
}

impl RequireScopes {
    /// Every one of `scopes` is required.
    pub fn all<I: IntoIterator<Item = S>, S: Into<String>>(scopes: I) -> Self {
        Self {
            scopes: scopes.into_iter().map(Into::into).collect(),
        }
    }
}

impl Authorize for RequireScopes {
    fn authorize(
        &self,
        principal: Principal,
        _: &mut Parts,
    ) -> MaybeReady<Result<Principal, AuthError>> {
        MaybeReady::Ready(match self.scopes.iter().find(|s| !principal.has_scope(s)) {
            Some(missing) => Err(AuthError::insufficient_scope(missing.clone())),
            None => Ok(principal),
        })
    }
}

/// Admits only credentials of the given kinds: what the verifier says it verified, not how
/// the credential was carried (an API key sent as `Authorization: Bearer` is an API key).
/// Anything else is refused with 403 `access_denied`: the credential is valid, this API does
/// not take it.
///
/// ```
/// use axum::{routing::get, Router};
/// use tower_gatekeeper::extract::{CredentialSources, Scheme};
/// use tower_gatekeeper::layer::RequireScheme;
/// use tower_gatekeeper::principal::Identity;
/// use tower_gatekeeper::verify::{ApiKeyStore, ApiKeyVerifier, FirstMatch, JwtVerifier};
/// use tower_gatekeeper::GatekeeperLayer;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let keys = ApiKeyStore::new();
/// keys.insert("k-123", Identity::new("svc")).await.unwrap();
/// let verifier = FirstMatch::new()
///     .or(JwtVerifier::hs256(b"0123456789abcdef0123456789abcdef").unwrap())
///     .or(ApiKeyVerifier::new(keys).accept_bearer(true));
/// // Tokens only: `Authorization: Bearer k-123` verifies as an API key, and is refused.
/// let app: Router = Router::new()
///     .route("/orders", get(|| async { "ok" }))
///     .layer(
///         GatekeeperLayer::builder(verifier)
///             .sources(CredentialSources::new().api_key_header("x-api-key"))
///             .authorize(RequireScheme::any_of([Scheme::Bearer]))
///             .build(),
///     );
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct RequireScheme {
    schemes: Vec<Scheme>,
}

impl RequireScheme {
    /// Any one of `schemes` is accepted.
    pub fn any_of<I: IntoIterator<Item = Scheme>>(schemes: I) -> Self {
        Self {
            schemes: schemes.into_iter().collect(),
        }
    }
}

impl Authorize for RequireScheme {
    fn authorize(
        &self,
        principal: Principal,
        _: &mut Parts,
    ) -> MaybeReady<Result<Principal, AuthError>> {
        let accepted = principal
            .credential()
            .is_some_and(|c| self.schemes.contains(&c.scheme));
        MaybeReady::Ready(if accepted {
            Ok(principal)
        } else {
            Err(AuthError::forbidden(
                "this API does not accept this kind of credential",
            ))
        })
    }
}
