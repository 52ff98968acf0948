//! The token side (feature `issuer`): client registry, signing key, and the endpoints: the
//! RFC 6749 §4.4 client-credentials token endpoint, HENGSHI's token check, RFC 7662
//! introspection and RFC 7009 revocation.
//!
//! Each endpoint is its own tower service that answers on whatever path it is mounted, so the
//! router decides the paths and anything else is the router's 404:
//!
//! | service | method | typical path |
//! | --- | --- | --- |
//! | [`TokenIssuer::token_endpoint`] | `POST` (`GET` opt-in) | `/oauth/token` |
//! | [`TokenIssuer::check_endpoint`] | `GET ?token=` | `/oauth/token/check` |
//! | [`TokenIssuer::introspection_endpoint`] | `POST` | `/oauth/token/introspect` |
//! | [`TokenIssuer::revocation_endpoint`] | `POST` (`GET` by possession opt-in) | `/oauth/token/revoke` |
//! | [`TokenIssuer::metadata_endpoint`] (RFC 8414) | `GET` | [`MetadataEndpoint::well_known_path`]: `/.well-known/oauth-authorization-server` |
//!
//! Client secrets are checked under a [`HashingPool`] (argon2
//! work is bounded: past the bound, 503 with `Retry-After`); secrets the issuer generated are
//! SHA-256 digests and need no argon2 at all (see [`SecretKind`]).
//!
//! Clients, opaque tokens and revocations live in memory by default; with the `redis`
//! feature, `ClientRegistry::redis` and `TokenState::redis` (given to
//! [`TokenIssuerBuilder::tokens`]) share them between nodes. Every store read on the request
//! path is answered from memory when it can be; a store that cannot answer makes the
//! endpoints answer 503 `temporarily_unavailable` and the verifier 503, never a pass.
//!
//! ```
//! use axum::Router;
//! use tower_gatekeeper::issuer::{Client, ClientRegistry, SigningKey, TokenIssuer};
//! use tower_gatekeeper::GatekeeperLayer;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let clients = ClientRegistry::new();
//! clients.register(Client::new("reporting-app", "a long client secret").allowed_scopes(["read"])).await.unwrap();
//! let issuer = TokenIssuer::builder(SigningKey::hs256(b"0123456789abcdef0123456789abcdef").unwrap())
//!     .issuer("https://auth.example")
//!     .audience("orders-api")
//!     .clients(clients)
//!     .build();
//!
//! let app: Router = Router::new()
//!     // ... protected routes here, then:
//!     .layer(GatekeeperLayer::builder(issuer.verifier()).build())
//!     .route_service("/oauth/token", issuer.token_endpoint())
//!     .route_service("/oauth/token/check", issuer.check_endpoint())
//!     .route_service("/oauth/token/introspect", issuer.introspection_endpoint())
//!     .route_service("/oauth/token/revoke", issuer.revocation_endpoint())
//!     // RFC 8414 discovery: the endpoints above, as absolute URLs under the issuer.
//!     .route_service(
//!         "/.well-known/oauth-authorization-server",
//!         issuer.metadata_endpoint().expect("the issuer is a URL"),
//!     );
//! # });
//! ```

mod accounts_admin;
mod clients;
mod endpoint;
mod key;
mod metadata;
mod tokens;
mod verifier;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Header, encode};
use serde::Serialize;

pub use accounts_admin::AccountAdmin;
pub use clients::{Client, ClientRegistry, MAX_CLIENT_ID_LEN, RegisterError, SecretKind};
pub use endpoint::{CheckEndpoint, IntrospectionEndpoint, RevocationEndpoint, TokenEndpoint};
pub use key::SigningKey;
pub use metadata::MetadataEndpoint;
pub use tokens::{OpaqueToken, TokenFormat, TokenState};
pub use verifier::{IssuerVerifier, RevokeError, TokenInfo};

use crate::accounts::UserRegistry;
use crate::clock::{Clock, SharedClock};
use crate::store::StoreError;
use crate::verify::{HashingPool, JwtKey, JwtVerifier};

/// A freshly issued access token: the fields of a successful token response (RFC 6749 §5.1).
#[derive(Clone, Serialize)]
pub struct IssuedToken {
    /// The token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// The granted scopes, space-delimited; empty when none were granted, and then left out
    /// of the serialized answer (RFC 6749 §3.3: a scope is one or more scope-tokens, so `""`
    /// is no scope value; §5.1 makes the member optional).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("access_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// Why [`TokenIssuer::issue`] issued nothing.
#[derive(Debug)]
#[non_exhaustive]
pub enum IssueError {
    /// The token could not be signed.
    Signing(jsonwebtoken::errors::Error),
    /// A store could not be read or written (an opaque token is recorded before it is handed
    /// out): answer 503 and try again.
    Store(StoreError),
}

impl fmt::Display for IssueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Signing(_) => f.write_str("the token could not be signed"),
            Self::Store(e) => write!(f, "the token could not be recorded: {e}"),
        }
    }
}

impl std::error::Error for IssueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Signing(e) => Some(e),
            Self::Store(e) => Some(e),
        }
    }
}

impl From<StoreError> for IssueError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

struct Inner {
    key: SigningKey,
    issuer: String,
    audience: String,
    lifetime: Duration,
    clients: ClientRegistry,
    clock: SharedClock,
    format: TokenFormat,
    tokens: TokenState,
    users: Option<UserRegistry>,
    jwt: JwtVerifier,
    hashing: HashingPool,
    realm: String,
    resource_ids: Vec<String>,
}

/// Issues RFC 9068 JWT access tokens (`typ: at+jwt`) to registered clients.
#[derive(Clone)]
pub struct TokenIssuer {
    inner: Arc<Inner>,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .field("lifetime", &self.inner.lifetime)
            .field("key", &self.inner.key)
            .finish_non_exhaustive()
    }
}

/// Builds a [`TokenIssuer`].
#[must_use]
pub struct TokenIssuerBuilder {
    key: SigningKey,
    issuer: String,
    audience: String,
    lifetime: Duration,
    clients: ClientRegistry,
    clock: SharedClock,
    format: TokenFormat,
    tokens: Option<TokenState>,
    users: Option<UserRegistry>,
    hashing: HashingPool,
    realm: String,
    resource_ids: Vec<String>,
}

impl fmt::Debug for TokenIssuerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuerBuilder")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl TokenIssuerBuilder {
    /// The `iss` of issued tokens (default `tower-gatekeeper`).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }
    /// The `aud` of issued tokens (default `api`).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }
    /// How long tokens live (default one hour).
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }
    /// The clients allowed to ask for tokens.
    pub fn clients(mut self, clients: ClientRegistry) -> Self {
        self.clients = clients;
        self
    }
    /// The clock for `iat` and `exp`.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }
    /// Shares an existing clock.
    pub fn shared_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }
    /// The format of issued tokens, for clients that do not choose (default JWT).
    pub fn token_format(mut self, format: TokenFormat) -> Self {
        self.format = format;
        self
    }
    /// Where opaque tokens and revocations are kept (default: a new [`TokenState::new`] in
    /// memory). Give every node `TokenState::redis` over one Redis so that a token issued
    /// on one node is usable, and a revocation refused, on every node.
    pub fn tokens(mut self, tokens: TokenState) -> Self {
        self.tokens = Some(tokens);
        self
    }
    /// The provider's users: tokens whose subject is a disabled user are refused.
    pub fn users(mut self, users: UserRegistry) -> Self {
        self.users = Some(users);
        self
    }
    /// Bounds the argon2 checks of client secrets with `pool` (default: the process-wide
    /// [`HashingPool::shared`]). Past the bound the endpoints answer 503
    /// `temporarily_unavailable` with `Retry-After`.
    pub fn hashing(mut self, pool: HashingPool) -> Self {
        self.hashing = pool;
        self
    }
    /// The realm of the endpoints' challenges: `Basic realm="…"` on `invalid_client`,
    /// `Bearer realm="…"` on the check's `invalid_token` (default `token`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }
    /// Another name of the resource the issued tokens are for (besides the audience), as the
    /// Microsoft identity platform's `scope=<resource>/.default` names it: that scope grants
    /// the client all its allowed scopes when `<resource>` is the audience or one of these ids.
    /// Call it once per id.
    ///
    /// ```
    /// use tower_gatekeeper::issuer::{SigningKey, TokenIssuer};
    ///
    /// let issuer = TokenIssuer::builder(SigningKey::hs256(&[7u8; 32]).unwrap())
    ///     .audience("orders-api")
    ///     .resource_id("d6b7c858-55fa-4d04-85a6-131af690abd4")
    ///     .build();
    /// # let _ = issuer;
    /// ```
    pub fn resource_id(mut self, id: impl Into<String>) -> Self {
        self.resource_ids.push(id.into());
        self
    }
    /// Builds the issuer.
    pub fn build(self) -> TokenIssuer {
        let jwt = jwt_verifier(&self.key, &self.issuer, &self.audience, &self.clock);
        TokenIssuer {
            inner: Arc::new(Inner {
                key: self.key,
                issuer: self.issuer,
                audience: self.audience,
                lifetime: self.lifetime,
                clients: self.clients,
                clock: self.clock,
                format: self.format,
                tokens: self.tokens.unwrap_or_default(),
                users: self.users,
                jwt,
                hashing: self.hashing,
                realm: self.realm,
                resource_ids: self.resource_ids,
            }),
        }
    }
}

#[derive(Serialize)]
struct AccessTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    client_id: &'a str,
    aud: &'a str,
    exp: u64,
    iat: u64,
    jti: String,
    /// Left out when no scope was granted (RFC 9068 §2.2.3 and RFC 8693 §4.2: a space-
    /// delimited list of scope-tokens, of which an empty string has none).
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
}

/// A new client secret: 256 random bits, base64url.
pub(crate) fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// 128 random bits, base64url.
pub(crate) fn random_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    URL_SAFE_NO_PAD.encode(bytes)
}

impl TokenIssuer {
    /// Starts an issuer that signs with `key`.
    pub fn builder(key: SigningKey) -> TokenIssuerBuilder {
        TokenIssuerBuilder {
            key,
            issuer: "tower-gatekeeper".to_owned(),
            audience: "api".to_owned(),
            lifetime: Duration::from_secs(3600),
            clients: ClientRegistry::new(),
            clock: crate::clock::system(),
            format: TokenFormat::Jwt,
            tokens: None,
            users: None,
            hashing: HashingPool::shared(),
            realm: "token".to_owned(),
            resource_ids: Vec::new(),
        }
    }

    /// The registered clients.
    pub fn clients(&self) -> &ClientRegistry {
        &self.inner.clients
    }

    /// The `iss` of issued tokens.
    pub fn issuer_name(&self) -> &str {
        &self.inner.issuer
    }

    /// The verifier a service in this process uses: the issuer's JWTs (its key, `iss`, `aud`,
    /// `typ: at+jwt`) and its opaque tokens, refusing revoked tokens and tokens of disabled
    /// clients or users from the next request on.
    pub fn verifier(&self) -> IssuerVerifier {
        IssuerVerifier::new(self.clone())
    }

    /// A plain JWT verifier for this issuer's tokens (key, `iss`, `aud`, `typ`), without the
    /// revocation and account checks: what a resource server holding only the key can do.
    pub fn jwt_verifier(&self) -> JwtVerifier {
        self.inner.jwt.clone()
    }

    /// The issuer's token memory (opaque tokens, revocations).
    pub fn tokens(&self) -> &TokenState {
        &self.inner.tokens
    }

    /// The public keys as a JWK Set (RFC 7517), for `/.well-known/jwks.json`; `None` for an
    /// HMAC key, which must never be published.
    pub fn jwks(&self) -> Option<serde_json::Value> {
        self.inner
            .key
            .public_jwk()
            .map(|jwk| serde_json::json!({ "keys": [jwk] }))
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.inner.key
    }

    pub(crate) fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    pub(crate) fn users(&self) -> Option<&UserRegistry> {
        self.inner.users.as_ref()
    }

    pub(crate) fn audience(&self) -> &str {
        &self.inner.audience
    }

    pub(crate) fn hashing(&self) -> &HashingPool {
        &self.inner.hashing
    }

    pub(crate) fn realm(&self) -> &str {
        &self.inner.realm
    }

    /// Whether `resource` names what this issuer's tokens are for: the audience or a
    /// configured resource id.
    pub(crate) fn is_resource(&self, resource: &str) -> bool {
        resource == self.inner.audience || self.inner.resource_ids.iter().any(|r| r == resource)
    }

    /// Issues a token for `client_id` with `scopes` (already checked against the client), in
    /// the client's token format (the issuer's for an unknown client). An opaque token is
    /// recorded in the token store before it is returned: [`IssueError::Store`] when the store
    /// cannot take it.
    pub async fn issue(
        &self,
        client_id: &str,
        scopes: &[String],
    ) -> Result<IssuedToken, IssueError> {
        let format = self.inner.clients.token_format(client_id).await?;
        self.issue_as(client_id, format, scopes).await
    }

    /// Issues a token to an authenticated client (its record at hand).
    pub(crate) async fn issue_as(
        &self,
        client_id: &str,
        format: Option<TokenFormat>,
        scopes: &[String],
    ) -> Result<IssuedToken, IssueError> {
        match format.unwrap_or(self.inner.format) {
            TokenFormat::Jwt => self
                .issue_jwt(client_id, scopes)
                .map_err(IssueError::Signing)
                .inspect(|_| crate::observe::token_issued("jwt")),
            TokenFormat::Opaque => self
                .issue_opaque(client_id, scopes)
                .await
                .inspect(|_| crate::observe::token_issued("opaque")),
        }
    }

    async fn issue_opaque(
        &self,
        client_id: &str,
        scopes: &[String],
    ) -> Result<IssuedToken, IssueError> {
        let i = &self.inner;
        let now = i.clock.unix_seconds();
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        let access_token = URL_SAFE_NO_PAD.encode(bytes);
        let record = OpaqueToken {
            client_id: client_id.to_owned(),
            subject: client_id.to_owned(),
            scopes: scopes.to_vec(),
            issued_at: now,
            expires_at: now + i.lifetime.as_secs(),
            token_id: random_id(),
        };
        i.tokens
            .store_opaque(crate::verify::digest(&access_token), record, now)
            .await?;
        Ok(IssuedToken {
            access_token,
            token_type: "Bearer",
            expires_in: i.lifetime.as_secs(),
            scope: scopes.join(" "),
        })
    }

    fn issue_jwt(
        &self,
        client_id: &str,
        scopes: &[String],
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        let i = &self.inner;
        let now = i.clock.unix_seconds();
        let scope = scopes.join(" ");
        let claims = AccessTokenClaims {
            iss: &i.issuer,
            sub: client_id,
            client_id,
            aud: &i.audience,
            exp: now + i.lifetime.as_secs(),
            iat: now,
            jti: random_id(),
            scope: &scope,
        };
        let mut header = Header::new(i.key.algorithm());
        header.typ = Some("at+jwt".to_owned());
        header.kid = i.key.kid().map(str::to_owned);
        let access_token = encode(&header, &claims, i.key.encoding_key())?;
        Ok(IssuedToken {
            access_token,
            token_type: "Bearer",
            expires_in: i.lifetime.as_secs(),
            scope,
        })
    }

    /// The client-credentials token endpoint (RFC 6749 §4.4) as a tower service; `POST` only
    /// unless [`TokenEndpoint::allow_get`].
    pub fn token_endpoint(&self) -> TokenEndpoint {
        TokenEndpoint::new(self.clone())
    }

    /// HENGSHI's token check (`GET …?token=…`) as a tower service.
    pub fn check_endpoint(&self) -> CheckEndpoint {
        CheckEndpoint::new(self.clone())
    }

    /// RFC 7662 introspection (`POST`, client authentication) as a tower service.
    pub fn introspection_endpoint(&self) -> IntrospectionEndpoint {
        IntrospectionEndpoint::new(self.clone())
    }

    /// RFC 8414 authorization server metadata as a tower service: the endpoints at their
    /// default paths under the issuer URL (change them with the [`MetadataEndpoint`]
    /// builder methods). Fails when the issuer (the `iss` of tokens) is not an absolute
    /// `http(s)` URL without query or fragment, as RFC 8414 §2 requires of an issuer that
    /// publishes metadata.
    pub fn metadata_endpoint(&self) -> Result<MetadataEndpoint, crate::discovery::InvalidUrl> {
        MetadataEndpoint::new(self)
    }

    /// RFC 7009 revocation (`POST`, client authentication) as a tower service; HENGSHI's `GET`
    /// by possession only with [`RevocationEndpoint::allow_get_by_possession`].
    pub fn revocation_endpoint(&self) -> RevocationEndpoint {
        RevocationEndpoint::new(self.clone())
    }
}

fn jwt_verifier(
    key: &SigningKey,
    issuer: &str,
    audience: &str,
    clock: &SharedClock,
) -> JwtVerifier {
    let mut jwt_key = JwtKey::new(key.decoding_key().clone(), &[key.algorithm()])
        .expect("the signing key was checked when it was made");
    if let Some(kid) = key.kid() {
        jwt_key = jwt_key.with_kid(kid);
    }
    JwtVerifier::builder()
        .key(jwt_key)
        .issuer(issuer)
        .audience(audience)
        .typ("at+jwt")
        .leeway(0)
        .required_claims(["exp", "sub"])
        .clock(clock.clone())
        .build()
        .expect("the verifier has a key")
}
