use http::request::Parts;

use crate::error::AuthError;
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
