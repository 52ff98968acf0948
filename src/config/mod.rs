//! Declarative setup: one TOML file describes the issuer, its signing key, clients, users,
//! tenants, published APIs, grants, API keys and the store; one call builds the layers, the
//! issuer, the stores and the admin services from it (feature `config`).
//!
//! The file format is the quickstart's (`examples/quickstart.toml`); `docs/configuration.md`
//! is its full reference, and every field below is documented with its default. Unknown keys
//! are refused, so a typo stops the start instead of being ignored.
//!
//! ```
//! use tower_gatekeeper::config::{BuildOptions, Config};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let config = Config::from_toml_str(
//!     r#"
//! issuer = "https://auth.example"
//! audience = "orders-api"
//!
//! [signing_key]
//! algorithm = "HS256"
//! secret = "an-hmac-secret-of-at-least-32-bytes"
//!
//! [[clients]]
//! client_id = "demo-app"
//! client_secret = "demo-app-secret"
//! scopes = ["orders:read"]
//!
//! [[apis]]
//! id = "orders"
//! path = "/api/orders"
//!
//! [[grants]]
//! client = "demo-app"
//! api = "orders"
//! expires_at = "2030-01-01T00:00:00Z"
//! "#,
//!     "inline.toml",
//! )
//! .unwrap();
//! let setup = config.build(BuildOptions::new()).await.unwrap();
//!
//! // The issuer mints tokens for the configured clients…
//! let token = setup
//!     .issuer()
//!     .issue("demo-app", &["orders:read".to_owned()])
//!     .await
//!     .unwrap();
//! assert!(!token.access_token.is_empty());
//! // …and the layers, the endpoints and the admin services are ready to mount:
//! let _gate = setup.published_apis_layer(); // authenticate + grant check, for `/api/*`
//! let _token_endpoint = setup.token_endpoint(); // at `/oauth/token`
//! let _grant_admin = setup.grant_admin(); // at `/admin/apis`
//! # });
//! ```
//!
//! Mounting all of it in an axum `Router` is what `examples/quickstart.rs` does.

mod build;
mod error;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use build::{BuildOptions, SeedReport, Setup, Stores};
pub use error::{ConfigError, ConfigProblem};

use crate::grant::{Grantee, is_canonical_path, parse_time};

/// The whole setup, as read from a TOML file.
///
/// Read it with [`Config::from_toml_file`] or [`Config::from_toml_str`] (which also check it:
/// ids unique, references resolved, secrets long enough, times valid), then
/// [`build`](Config::build) it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// The `iss` of tokens and the `issuer` of the RFC 8414 metadata. Default: `http://` and
    /// the address given to [`BuildOptions::listening_on`]. A bare name (`"my-issuer"`) works
    /// for tokens but publishes no metadata; a URL with a path is refused, since the setup's
    /// endpoints are at the root.
    pub issuer: Option<String>,
    /// The `resource` of the RFC 9728 protected resource metadata. Default: as `issuer`.
    pub resource: Option<String>,
    /// The `aud` of issued tokens; the layers accept only this audience. Required.
    pub audience: String,
    /// The realm of every `WWW-Authenticate` challenge. Default `"quickstart"`.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// How long issued tokens live, in seconds. Default 3600.
    #[serde(default = "default_lifetime")]
    pub token_lifetime_secs: u64,
    /// `"jwt"` (RFC 9068, the default) or `"opaque"` (looked up in the token store).
    pub token_format: Option<TokenFormatConfig>,
    /// Another name of the audience, for Azure's `scope=<resource_id>/.default`. Default none.
    pub resource_id: Option<String>,
    /// `[signing_key]`: how tokens are signed. Required.
    pub signing_key: SigningKeyConfig,
    /// `[compat]`: the seed systems' request forms that put secrets in URLs. Default: all off.
    #[serde(default)]
    pub compat: CompatConfig,
    /// `[credentials]`: where the layers look for a credential. Default: see
    /// [`CredentialsConfig`].
    #[serde(default)]
    pub credentials: CredentialsConfig,
    /// `[store]`: where the state lives. Default: this process's memory.
    #[serde(default)]
    pub store: StoreConfig,
    /// `[[clients]]`: OAuth clients (client credentials). Default none.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    /// `[[users]]`: people (Basic login, sudo targets, tenant members). Default none.
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// `[[tenants]]`. Default none.
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    /// `[[apis]]`: the published APIs. Default none.
    #[serde(default)]
    pub apis: Vec<ApiConfig>,
    /// `[[grants]]`: who may call which API, until when. Default none: no grant, no access.
    #[serde(default)]
    pub grants: Vec<GrantConfig>,
    /// `[[api_keys]]`. Default none.
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
    /// Where the configuration came from (the file, or the origin given to
    /// [`Config::from_toml_str`]): every [`ConfigError`] names it.
    #[serde(skip)]
    pub origin: String,
}

fn default_realm() -> String {
    "quickstart".into()
}
fn default_lifetime() -> u64 {
    3600
}

/// `token_format`: what the issuer mints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TokenFormatConfig {
    /// `"jwt"`: RFC 9068 JWTs, verifiable with the key alone.
    #[default]
    Jwt,
    /// `"opaque"`: random tokens, looked up in the token store.
    Opaque,
}

impl From<TokenFormatConfig> for crate::issuer::TokenFormat {
    fn from(f: TokenFormatConfig) -> Self {
        match f {
            TokenFormatConfig::Jwt => Self::Jwt,
            TokenFormatConfig::Opaque => Self::Opaque,
        }
    }
}

/// `[compat]`: the seed systems' request forms that put secrets in URLs (where proxies and
/// access logs keep them). Off unless set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CompatConfig {
    /// `GET` token requests with `client_id` and `client_secret` in the query (HENGSHI BI,
    /// Tencent). Default `false`.
    #[serde(default)]
    pub get_token_requests: bool,
    /// `GET …/revoke?token=…`: whoever holds a token may revoke it (HENGSHI BI). Default
    /// `false`.
    #[serde(default)]
    pub get_revoke_by_possession: bool,
}

/// `[signing_key]`: the key that signs tokens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SigningKeyConfig {
    /// `"HS256"` or `"RS256"`. Required.
    pub algorithm: SigningAlgorithm,
    /// HS256: the shared secret, at least 32 bytes. Required for HS256.
    pub secret: Option<Secret>,
    /// RS256: a PKCS#8 or PKCS#1 PEM file, relative to [`BuildOptions::base_dir`] (default
    /// the working directory). Without one, a fresh RSA-2048 key is generated at build time:
    /// its tokens end with the process.
    pub private_key_pem: Option<PathBuf>,
    /// The key id in token headers and in the JWK Set (RS256). Default none.
    pub kid: Option<String>,
}

/// `signing_key.algorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub enum SigningAlgorithm {
    /// HMAC-SHA256 with a shared secret: an HMAC key is never published.
    HS256,
    /// RSA-SHA256: the public key is served as a JWK Set.
    RS256,
}

/// `[credentials]`: where the layers look for a credential, in this order after the
/// `Authorization` header. The defaults are the seed systems' places (the quickstart's).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CredentialsConfig {
    /// `Authorization: Bearer`. Default `true`.
    #[serde(default = "yes")]
    pub bearer: bool,
    /// `Authorization: Basic` for `[[users]]` (RFC 7617). Default `true`.
    #[serde(default = "yes")]
    pub basic: bool,
    /// Headers that carry a bearer token. Default `["access_token", "x-auth-token"]`.
    #[serde(default = "default_token_headers")]
    pub token_headers: Vec<String>,
    /// Headers that carry an API key. Default `["x-api-key"]`.
    #[serde(default = "default_api_key_headers")]
    pub api_key_headers: Vec<String>,
    /// Query parameters that carry a bearer token (RFC 6750 §2.3). Default `["access_token"]`.
    #[serde(default = "default_token_field")]
    pub query: Vec<String>,
    /// Form body fields that carry a bearer token (RFC 6750 §2.2). Default `["access_token"]`.
    #[serde(default = "default_token_field")]
    pub form_body: Vec<String>,
    /// Top-level JSON body fields that carry a bearer token. Default `["access_token"]`.
    #[serde(default = "default_token_field")]
    pub json_body: Vec<String>,
    /// Remove the credential from the request before the handler sees it. Default `true`.
    #[serde(default = "yes")]
    pub strip: bool,
}

fn yes() -> bool {
    true
}
fn default_token_headers() -> Vec<String> {
    vec!["access_token".into(), "x-auth-token".into()]
}
fn default_api_key_headers() -> Vec<String> {
    vec!["x-api-key".into()]
}
fn default_token_field() -> Vec<String> {
    vec!["access_token".into()]
}

impl Default for CredentialsConfig {
    fn default() -> Self {
        Self {
            bearer: true,
            basic: true,
            token_headers: default_token_headers(),
            api_key_headers: default_api_key_headers(),
            query: default_token_field(),
            form_body: default_token_field(),
            json_body: default_token_field(),
            strip: true,
        }
    }
}

/// `[store]`: where clients, tokens, revocations, API keys, users, tenants and grants live.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StoreConfig {
    /// A Redis (or Valkey) URL (`redis://host:6379/`): every store in that Redis, shared by
    /// every process built from the same file; the file then seeds only what Redis does not
    /// hold yet. Needs the `redis` feature. [`BuildOptions::redis`] overrides it. Default
    /// none: this process's memory.
    pub redis_url: Option<Secret>,
    /// The prefix of every Redis key. Default the store's own (`tg:`).
    pub redis_key_prefix: Option<String>,
}

/// `[[clients]]`: an application that gets tokens with client credentials.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The client id; unique, and not a user's `uid`. Required: 1 to 255 bytes of printable
    /// ASCII and spaces (RFC 6749 Appendix A.1), refused at build otherwise.
    pub client_id: String,
    /// The secret, kept as an argon2 hash. Required.
    pub client_secret: Secret,
    /// The scopes the client may be granted; a request without `scope` gets all of them.
    /// Default none.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// A disabled client gets no token, and its tokens stop working. Default `false`.
    #[serde(default)]
    pub disabled: bool,
}

/// `[[users]]`: a person: Basic login, sudo target, tenant member.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UserConfig {
    /// The user id (`sudo=uid:…`); unique. Required.
    pub uid: String,
    /// The Basic user name and `sudo=loginName:…`; unique (after RFC 8265 preparation,
    /// case-insensitively). Required.
    pub login_name: String,
    /// `sudo=email:…`. Default none.
    pub email: Option<String>,
    /// `sudo=mobile:…`. Default none.
    pub mobile: Option<String>,
    /// The password, hashed with argon2id at build time. Required.
    pub password: Secret,
    /// Roles the user's principal carries. Default none.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Scopes the user's principal carries. Default none.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Ids of the `[[tenants]]` the user belongs to. Default none.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Refused everywhere: Basic, sudo target, tenant selection. Default `false`.
    #[serde(default)]
    pub disabled: bool,
}

/// `[[tenants]]`: a tenant users can act in (`tenantId=…` / `tenantCode=…`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TenantConfig {
    /// `tenantId=…`; unique. Required.
    pub id: String,
    /// `tenantCode=…`; unique. Required.
    pub code: String,
}

/// `[[apis]]`: a published API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ApiConfig {
    /// The API id grants name; unique. Required.
    pub id: String,
    /// The path prefix it is published under (canonical: `/api/orders`). Required.
    pub path: String,
    /// The HTTP methods it answers. Default none: every method.
    #[serde(default)]
    pub methods: Vec<String>,
    /// The credential kinds it accepts, by what verified the credential (an API key sent as a
    /// bearer token is still an API key): `"bearer"`, `"basic"`, `"api_key"`. Others get 403.
    /// Default all three.
    #[serde(default = "all_schemes")]
    pub auth: Vec<String>,
}

fn all_schemes() -> Vec<String> {
    vec!["bearer".into(), "basic".into(), "api_key".into()]
}

/// `[[grants]]`: a grantee may call an API until a time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GrantConfig {
    /// The grantee, if it is a client (by `client_id`). Exactly one of `client`, `user`,
    /// `api_key_owner`: client ids, uids and key owners are separate namespaces.
    pub client: Option<String>,
    /// The grantee, if it is a user (by `uid`).
    pub user: Option<String>,
    /// The grantee, if it is an API key's owner (an `[[api_keys]]` `owner`).
    pub api_key_owner: Option<String>,
    /// The API id. Required.
    pub api: String,
    /// When the grant ends, RFC 3339 (`2030-01-01T00:00:00Z`). Required.
    pub expires_at: String,
}

impl GrantConfig {
    /// The grantee, when exactly one of `client`, `user`, `api_key_owner` is given.
    pub fn grantee(&self) -> Option<Grantee<'_>> {
        match (&self.client, &self.user, &self.api_key_owner) {
            (Some(id), None, None) => Some(Grantee::client(id)),
            (None, Some(id), None) => Some(Grantee::user(id)),
            (None, None, Some(id)) => Some(Grantee::api_key_owner(id)),
            _ => None,
        }
    }
}

/// `[[api_keys]]`: a key sent in an API-key header.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ApiKeyConfig {
    /// The key, kept as a SHA-256 digest; unique. Required.
    pub key: Secret,
    /// Who the key stands for (a grantee of kind `api_key_owner`). Required.
    pub owner: String,
    /// Scopes the key's principal carries. Default none.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// A secret string from the file: its `Debug` never shows it, and it is wiped when dropped.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl Config {
    /// Reads, parses and checks the TOML file at `path`; errors name it.
    ///
    /// ```no_run
    /// use tower_gatekeeper::config::Config;
    ///
    /// let config = Config::from_toml_file("examples/quickstart.toml")?;
    /// # Ok::<(), tower_gatekeeper::config::ConfigError>(())
    /// ```
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            origin: origin.clone(),
            error,
        })?;
        Self::from_toml_str(&text, origin)
    }

    /// Parses and checks `text`; `origin` (a file name, or `"inline"`) names it in errors.
    ///
    /// ```
    /// use tower_gatekeeper::config::Config;
    ///
    /// let err = Config::from_toml_str("audience = 3", "mine.toml").unwrap_err();
    /// assert_eq!(err.line_column(), Some((1, 12)));
    /// assert!(err.to_string().starts_with("mine.toml:1:12: "), "{err}");
    /// ```
    pub fn from_toml_str(text: &str, origin: impl Into<String>) -> Result<Self, ConfigError> {
        let origin = origin.into();
        let mut config: Self =
            toml::from_str(text).map_err(|e| ConfigError::syntax(&origin, text, &e))?;
        config.origin = origin;
        config.check()?;
        Ok(config)
    }

    /// Checks what parsing alone cannot: unique ids, references that resolve, secrets long
    /// enough, times, methods, paths and header names that parse. [`Config::from_toml_str`]
    /// calls it; call it again after changing a `Config` in code.
    pub fn check(&self) -> Result<(), ConfigError> {
        let origin = self.origin.as_str();
        let bad = |entry: String, field: &str, problem| {
            Err(ConfigError::invalid(origin, entry, field, problem))
        };

        // [signing_key]
        if self.signing_key.algorithm == SigningAlgorithm::HS256 {
            match &self.signing_key.secret {
                None => return bad("signing_key".into(), "secret", ConfigProblem::Missing),
                Some(s) if s.expose().len() < 32 => {
                    return bad(
                        "signing_key".into(),
                        "secret",
                        ConfigProblem::TooShort {
                            min: 32,
                            actual: s.expose().len(),
                        },
                    );
                }
                Some(_) => {}
            }
        }

        // [credentials]
        let c = &self.credentials;
        for (field, names) in [
            ("token_headers", &c.token_headers),
            ("api_key_headers", &c.api_key_headers),
        ] {
            if let Some(n) = names
                .iter()
                .find(|n| http::HeaderName::try_from(n.as_str()).is_err())
            {
                return bad(
                    "credentials".into(),
                    field,
                    ConfigProblem::BadHeaderName(n.clone()),
                );
            }
        }

        // [[clients]]
        let mut client_ids = HashMap::new();
        for (i, client) in self.clients.iter().enumerate() {
            let entry = client_entry(i, &client.client_id);
            if let Some(first) = client_ids.insert(client.client_id.as_str(), i) {
                return bad(
                    entry,
                    "client_id",
                    ConfigProblem::Duplicate {
                        first: client_entry(first, &client.client_id),
                    },
                );
            }
        }

        // [[tenants]]
        let mut tenant_ids = HashMap::new();
        let mut tenant_codes = HashMap::new();
        for (i, t) in self.tenants.iter().enumerate() {
            let entry = tenant_entry(i, &t.id);
            if let Some(first) = tenant_ids.insert(t.id.as_str(), i) {
                let first = tenant_entry(first, &t.id);
                return bad(entry, "id", ConfigProblem::Duplicate { first });
            }
            if let Some(first) = tenant_codes.insert(t.code.as_str(), i) {
                let first = tenant_entry(first, &self.tenants[first].id);
                return bad(entry, "code", ConfigProblem::Duplicate { first });
            }
        }

        // [[users]]
        let mut uids = HashMap::new();
        let mut logins = HashMap::new();
        for (i, u) in self.users.iter().enumerate() {
            let entry = user_entry(i, &u.uid);
            if let Some(first) = uids.insert(u.uid.as_str(), i) {
                let first = user_entry(first, &u.uid);
                return bad(entry, "uid", ConfigProblem::Duplicate { first });
            }
            if let Some(first) = logins.insert(u.login_name.to_lowercase(), i) {
                let first = user_entry(first, &self.users[first].uid);
                return bad(entry, "login_name", ConfigProblem::Duplicate { first });
            }
            if let Some(&c) = client_ids.get(u.uid.as_str()) {
                return bad(
                    client_entry(c, &self.clients[c].client_id),
                    "client_id",
                    ConfigProblem::ClashesWith { other: entry },
                );
            }
            if let Some(t) = u
                .tenants
                .iter()
                .find(|t| !tenant_ids.contains_key(t.as_str()))
            {
                return bad(
                    entry,
                    "tenants",
                    ConfigProblem::Unknown {
                        what: "tenant",
                        name: t.clone(),
                    },
                );
            }
        }

        // [[apis]]
        let mut api_ids = HashMap::new();
        for (i, api) in self.apis.iter().enumerate() {
            let entry = api_entry(i, &api.id);
            if let Some(first) = api_ids.insert(api.id.as_str(), i) {
                let first = api_entry(first, &api.id);
                return bad(entry, "id", ConfigProblem::Duplicate { first });
            }
            if !api.path.starts_with('/') || !is_canonical_path(&api.path) {
                return bad(entry, "path", ConfigProblem::BadPath(api.path.clone()));
            }
            if let Some(m) = api
                .methods
                .iter()
                .find(|m| http::Method::from_bytes(m.as_bytes()).is_err())
            {
                return bad(entry, "methods", ConfigProblem::BadMethod(m.clone()));
            }
            if let Some(s) = api.auth.iter().find(|s| parse_scheme(s).is_none()) {
                return bad(entry, "auth", ConfigProblem::BadScheme(s.clone()));
            }
        }

        // [[api_keys]]
        let mut keys: HashMap<&str, usize> = HashMap::new();
        for (i, k) in self.api_keys.iter().enumerate() {
            if let Some(first) = keys.insert(k.key.expose(), i) {
                let first = api_key_entry(first, &self.api_keys[first].owner);
                return bad(
                    api_key_entry(i, &k.owner),
                    "key",
                    ConfigProblem::Duplicate { first },
                );
            }
        }

        // [[grants]]
        let mut grants = HashMap::new();
        for (i, g) in self.grants.iter().enumerate() {
            let Some(grantee) = g.grantee() else {
                return bad(
                    format!("grants[{i}] (api = {:?})", g.api),
                    "client",
                    ConfigProblem::GranteeCount,
                );
            };
            let entry = grant_entry(i, g);
            let (field, known, what) = match grantee.kind {
                crate::principal::PrincipalKind::Client => {
                    ("client", client_ids.contains_key(grantee.id), "client")
                }
                crate::principal::PrincipalKind::User => {
                    ("user", uids.contains_key(grantee.id), "user")
                }
                crate::principal::PrincipalKind::ApiKeyOwner => (
                    "api_key_owner",
                    self.api_keys.iter().any(|k| k.owner == grantee.id),
                    "api key owner",
                ),
            };
            if !known {
                return bad(
                    entry,
                    field,
                    ConfigProblem::Unknown {
                        what,
                        name: grantee.id.to_owned(),
                    },
                );
            }
            if !api_ids.contains_key(g.api.as_str()) {
                return bad(
                    entry,
                    "api",
                    ConfigProblem::Unknown {
                        what: "api",
                        name: g.api.clone(),
                    },
                );
            }
            if parse_time(&g.expires_at).is_none() {
                return bad(
                    entry,
                    "expires_at",
                    ConfigProblem::BadTime(g.expires_at.clone()),
                );
            }
            if let Some(first) = grants.insert((g.api.as_str(), grantee), i) {
                let first = grant_entry(first, &self.grants[first]);
                return bad(entry, field, ConfigProblem::Duplicate { first });
            }
        }
        Ok(())
    }

    /// The union of every client's scopes, sorted: the metadata's `scopes_supported`.
    pub fn client_scopes(&self) -> Vec<String> {
        let mut scopes: Vec<String> = self
            .clients
            .iter()
            .flat_map(|c| c.scopes.iter().cloned())
            .collect();
        scopes.sort();
        scopes.dedup();
        scopes
    }
}

pub(crate) fn parse_scheme(name: &str) -> Option<crate::extract::Scheme> {
    use crate::extract::Scheme;
    [Scheme::Bearer, Scheme::Basic, Scheme::ApiKey]
        .into_iter()
        .find(|s| s.as_str() == name)
}

pub(crate) fn client_entry(i: usize, id: &str) -> String {
    format!("clients[{i}] (client_id = {id:?})")
}
pub(crate) fn user_entry(i: usize, uid: &str) -> String {
    format!("users[{i}] (uid = {uid:?})")
}
pub(crate) fn tenant_entry(i: usize, id: &str) -> String {
    format!("tenants[{i}] (id = {id:?})")
}
pub(crate) fn api_entry(i: usize, id: &str) -> String {
    format!("apis[{i}] (id = {id:?})")
}
/// Named by owner: the key itself is a secret.
pub(crate) fn api_key_entry(i: usize, owner: &str) -> String {
    format!("api_keys[{i}] (owner = {owner:?})")
}
pub(crate) fn grant_entry(i: usize, g: &GrantConfig) -> String {
    match g.grantee() {
        Some(grantee) => format!("grants[{i}] (api = {:?}, {grantee})", g.api),
        None => format!("grants[{i}] (api = {:?})", g.api),
    }
}
