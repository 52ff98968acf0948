//! From a checked [`Config`] to the running pieces: stores, issuer, layers, admin services.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use http::request::Parts;

use super::{
    Config, ConfigError, ConfigProblem, CredentialsConfig, Secret, SigningAlgorithm,
    SigningKeyConfig, api_key_entry, client_entry, grant_entry, parse_scheme, tenant_entry,
    user_entry,
};
use crate::GatekeeperLayer;
use crate::accounts::{UserAccount, UserRegistry};
use crate::clock::{SharedClock, SystemClock};
use crate::discovery::ProtectedResourceMetadata;
use crate::error::AuthError;
use crate::extract::{CredentialSources, Scheme};
use crate::grant::{
    ApiTable, GrantAdmin, GrantCheck, GrantManager, GrantStore, Grantee, InMemoryGrantStore,
    parse_time,
};
use crate::impersonate::{Impersonation, TenantSelector, UserDirectory as _, UserError};
use crate::issuer::{
    AccountAdmin, CheckEndpoint, Client, ClientRegistry, IntrospectionEndpoint, MetadataEndpoint,
    RegisterError, RevocationEndpoint, SigningKey, TokenEndpoint, TokenIssuer, TokenState,
};
use crate::layer::{Authorize, RequireScheme};
use crate::maybe_ready::MaybeReady;
use crate::principal::{Identity, Principal, Tenant};
use crate::verify::{ApiKeyStore, ApiKeyVerifier, FirstMatch};

/// What [`Config::build`] needs besides the file.
///
/// ```
/// use tower_gatekeeper::clock::ManualClock;
/// use tower_gatekeeper::config::BuildOptions;
///
/// let options = BuildOptions::new()
///     .listening_on("127.0.0.1:3000".parse().unwrap())
///     .clock(ManualClock::starting_now());
/// ```
#[derive(Default)]
pub struct BuildOptions {
    bound: Option<SocketAddr>,
    clock: Option<SharedClock>,
    redis_url: Option<Secret>,
    base_dir: Option<PathBuf>,
}

impl std::fmt::Debug for BuildOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildOptions")
            .field("bound", &self.bound)
            .field("redis_url", &self.redis_url.as_ref().map(|_| "<redacted>"))
            .field("base_dir", &self.base_dir)
            .finish_non_exhaustive()
    }
}

impl BuildOptions {
    /// No address, the system clock, the file's store, paths relative to the working directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// The address the server listens on: the default `issuer` and `resource` are
    /// `http://<addr>` (over loopback when `addr` is the unspecified address, which is no
    /// address to send a client to).
    pub fn listening_on(mut self, addr: SocketAddr) -> Self {
        self.bound = Some(addr);
        self
    }

    /// The clock of the issuer, the grant checks and the grant manager (default: the system
    /// clock). A [`ManualClock`](crate::clock::ManualClock) makes time stand still for tests.
    pub fn clock(self, clock: impl crate::clock::Clock) -> Self {
        self.shared_clock(Arc::new(clock))
    }

    /// [`clock`](Self::clock), shared.
    pub fn shared_clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Every store in the Redis at `url`, whatever the file's `[store]` says (needs the
    /// `redis` feature: without it, [`Config::build`] refuses).
    pub fn redis(mut self, url: impl Into<String>) -> Self {
        self.redis_url = Some(Secret::new(url));
        self
    }

    /// The directory relative paths in the file (`private_key_pem`) start from (default: the
    /// working directory).
    pub fn base_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.base_dir = Some(dir.into());
        self
    }
}

/// Where the state lives: this process's memory, or one Redis shared by every process built
/// from the same file.
#[derive(Clone)]
#[non_exhaustive]
pub struct Stores {
    /// OAuth clients.
    pub clients: ClientRegistry,
    /// Users, tenants and memberships.
    pub users: UserRegistry,
    /// Revocations and opaque tokens.
    pub tokens: TokenState,
    /// API keys.
    pub api_keys: ApiKeyStore,
    /// Grants.
    pub grants: Arc<dyn GrantStore>,
    /// Whether the stores are shared (Redis): the file then seeds only what is absent.
    pub shared: bool,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("clients", &self.clients)
            .field("users", &self.users)
            .field("tokens", &self.tokens)
            .field("api_keys", &self.api_keys)
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl Stores {
    /// Fresh stores in this process's memory.
    pub fn memory() -> Self {
        Self {
            clients: ClientRegistry::new(),
            users: UserRegistry::new(),
            tokens: TokenState::new(),
            api_keys: ApiKeyStore::new(),
            grants: Arc::new(InMemoryGrantStore::new()),
            shared: false,
        }
    }

    /// Stores on `store` (a connected Redis).
    #[cfg(feature = "redis")]
    pub fn redis(store: &crate::store::RedisStore) -> Self {
        Self {
            clients: ClientRegistry::redis(store),
            users: UserRegistry::redis(store),
            tokens: TokenState::redis(store),
            api_keys: ApiKeyStore::redis(store),
            grants: Arc::new(crate::grant::RedisGrantStore::new(store)),
            shared: true,
        }
    }
}

/// What seeding shared stores did: on Redis, the file seeds only what is absent, and what is
/// already there wins (so a restart never undoes what the admin API changed). Empty in memory.
///
/// Entries are named by kind and id (`client demo-app`, `grant orders/client:demo-app`; an API
/// key by its owner, the key being a secret).
#[derive(Debug, Clone, Default)]
pub struct SeedReport {
    /// Written from the file.
    pub seeded: Vec<String>,
    /// Already in the store, left as they were.
    pub kept: Vec<String>,
}

/// Everything [`Config::build`] made, ready to mount.
///
/// The paths below are where the pieces expect to be mounted (and where the RFC 8414 metadata
/// says they are):
///
/// | piece | path |
/// | --- | --- |
/// | [`token_endpoint`](Self::token_endpoint) | `/oauth/token` |
/// | [`check_endpoint`](Self::check_endpoint) | `/oauth/token/check` |
/// | [`introspection_endpoint`](Self::introspection_endpoint) | `/oauth/token/introspect` |
/// | [`revocation_endpoint`](Self::revocation_endpoint) | `/oauth/token/revoke` |
/// | [`server_metadata`](Self::server_metadata) | its `well_known_path()` and `openid_configuration_path()` |
/// | [`resource_metadata`](Self::resource_metadata) | its `well_known_path()` |
/// | [`jwks`](Self::jwks) | `/.well-known/jwks.json` |
/// | [`grant_admin`](Self::grant_admin) | nested at `/admin/apis` |
/// | [`account_admin`](Self::account_admin) | `/admin/clients`, `/admin/users` and below |
///
/// Put [`layer`](Self::layer) in front of the admin services and your own routes, and
/// [`published_apis_layer`](Self::published_apis_layer) (or one
/// [`api_layer`](Self::api_layer) per API) in front of the published APIs.
pub struct Setup {
    issuer: TokenIssuer,
    stores: Stores,
    grants: GrantManager,
    server_metadata: Option<MetadataEndpoint>,
    resource_metadata: ProtectedResourceMetadata,
    layer: GatekeeperLayer,
    published: GatekeeperLayer,
    gate: GateParts,
    table: ApiTable,
    api_schemes: Arc<HashMap<String, Vec<Scheme>>>,
    realm: String,
    compat: super::CompatConfig,
    clock: SharedClock,
    seeding: SeedReport,
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup")
            .field("issuer", &self.issuer)
            .field("stores", &self.stores)
            .field("apis", &self.table)
            .field("realm", &self.realm)
            .field("seeding", &self.seeding)
            .finish_non_exhaustive()
    }
}

/// What every layer of a setup shares.
#[derive(Clone)]
struct GateParts {
    verifier: FirstMatch,
    sources: CredentialSources,
    impersonation: Impersonation,
    realm: String,
    resource_metadata_url: String,
}

impl std::fmt::Debug for GateParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GateParts")
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl GateParts {
    fn builder(&self) -> crate::GatekeeperBuilder {
        GatekeeperLayer::builder(self.verifier.clone())
            .realm(&self.realm)
            .sources(self.sources.clone())
            // Every Bearer challenge names the resource metadata (RFC 9728 §5.1).
            .resource_metadata(self.resource_metadata_url.clone())
            .allow_cors_preflight(true)
            .authorize(self.impersonation.clone())
    }
}

/// Admits a request to a published API only with a credential kind the API accepts; runs
/// after the grant check, which records the API on the principal ([`MatchedApi`](crate::grant::MatchedApi)).
#[derive(Debug, Clone)]
struct AcceptedSchemes(Arc<HashMap<String, Vec<Scheme>>>);

impl Authorize for AcceptedSchemes {
    fn authorize(
        &self,
        principal: Principal,
        _: &mut Parts,
    ) -> MaybeReady<Result<Principal, AuthError>> {
        let schemes = principal.api().and_then(|api| self.0.get(api));
        let accepted = principal
            .credential()
            .is_some_and(|c| schemes.is_some_and(|s| s.contains(&c.scheme)));
        MaybeReady::Ready(if accepted {
            Ok(principal)
        } else {
            Err(AuthError::forbidden(
                "this API does not accept this kind of credential",
            ))
        })
    }
}

impl Config {
    /// Builds the stores (seeding them from the file), the issuer, the layers and the admin
    /// services. Async: it hashes passwords and secrets, and may connect to Redis.
    ///
    /// ```no_run
    /// use axum::{routing::any, Router};
    /// use tower_gatekeeper::config::{BuildOptions, Config};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    /// let setup = Config::from_toml_file("gatekeeper.toml")?
    ///     .build(BuildOptions::new().listening_on(listener.local_addr()?))
    ///     .await?;
    /// let app = Router::new()
    ///     .route("/api/{*path}", any(|| async { "ok" }))
    ///     .route_layer(setup.published_apis_layer().clone())
    ///     .route_service("/oauth/token", setup.token_endpoint());
    /// axum::serve(listener, app).await?;
    /// # Ok(()) }
    /// ```
    pub async fn build(self, options: BuildOptions) -> Result<Setup, ConfigError> {
        // The fields are public: a `Config` changed in code is checked again here, so nothing
        // below builds from an entry the reader would have refused (a method that does not
        // parse must not turn an API's method list into "every method").
        self.check()?;
        let origin = self.origin.clone();
        let invalid = |entry: &str, field: &str, problem| {
            ConfigError::invalid(&origin, entry, field, problem)
        };
        let here = options
            .bound
            .map(|addr| format!("http://{}", reachable(addr)));
        let issuer_name = match (&self.issuer, &here) {
            (Some(name), _) => name.clone(),
            (None, Some(here)) => here.clone(),
            (None, None) => {
                let problem = ConfigProblem::Rejected(
                    "no issuer is set, and the build was given no address to default to \
                     (BuildOptions::listening_on)"
                        .into(),
                );
                return Err(invalid("(top level)", "issuer", problem));
            }
        };
        let resource = match (&self.resource, &here) {
            (Some(r), _) => r.clone(),
            (None, Some(here)) => here.clone(),
            (None, None) => issuer_name.clone(),
        };
        let clock: SharedClock = options.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let base_dir = match options.base_dir {
            Some(dir) => dir,
            None => std::env::current_dir().unwrap_or_default(),
        };
        let key = signing_key(&self.signing_key, &base_dir)
            .map_err(|(field, problem)| invalid("signing_key", field, problem))?;

        let redis_url = options.redis_url.or_else(|| self.store.redis_url.clone());
        let stores = match redis_url {
            None => Stores::memory(),
            Some(url) => connect_redis(&url, self.store.redis_key_prefix.as_deref())
                .await
                .map_err(|problem| invalid("store", "redis_url", problem))?,
        };
        let mut seeding = SeedReport::default();

        // Clients.
        let clients = stores.clients.clone();
        for (i, c) in self.clients.iter().enumerate() {
            let entry = client_entry(i, &c.client_id);
            let client = Client::new(&c.client_id, c.client_secret.expose())
                .allowed_scopes(&c.scopes)
                .disabled(c.disabled);
            let result = if stores.shared {
                clients.create(client).await
            } else {
                clients.register(client).await
            };
            match result {
                Ok(()) if stores.shared => seeding.seeded.push(format!("client {}", c.client_id)),
                Ok(()) => {}
                Err(RegisterError::Exists) if stores.shared => {
                    seeding.kept.push(format!("client {}", c.client_id));
                }
                Err(e) => {
                    let field = match e {
                        RegisterError::InvalidScope(_)
                        | RegisterError::DefaultScopeNotAllowed(_) => "scopes",
                        RegisterError::Hashing => "client_secret",
                        _ => "client_id",
                    };
                    return Err(invalid(&entry, field, rejected_or_store(&e.to_string())));
                }
            }
        }

        // Tenants, users and memberships: Basic login, the directory behind sudo and tenant
        // selection, and the disabled flag, kept in step by the registry.
        let users = stores.users.clone();
        for (i, t) in self.tenants.iter().enumerate() {
            let entry = tenant_entry(i, &t.id);
            if stores.shared {
                let found = users
                    .directory()
                    .find_tenant(&TenantSelector::Id(t.id.clone()))
                    .await
                    .map_err(|e| invalid(&entry, "id", ConfigProblem::Store(e.to_string())))?;
                if found.is_some() {
                    seeding.kept.push(format!("tenant {}", t.id));
                    continue;
                }
                seeding.seeded.push(format!("tenant {}", t.id));
            }
            users
                .directory()
                .insert_tenant(Tenant::new(&t.id, Some(&t.code)))
                .await
                .map_err(|e| {
                    let field = if matches!(e, UserError::TenantCodeTaken) {
                        "code"
                    } else {
                        "id"
                    };
                    invalid(&entry, field, user_problem(&e))
                })?;
        }
        for (i, u) in self.users.iter().enumerate() {
            let entry = user_entry(i, &u.uid);
            let mut account = UserAccount::new(&u.uid, &u.login_name)
                .password(u.password.expose())
                .tenants(&u.tenants)
                .scopes(&u.scopes)
                .roles(&u.roles)
                .disabled(u.disabled);
            if let Some(email) = &u.email {
                account = account.email(email);
            }
            if let Some(mobile) = &u.mobile {
                account = account.mobile(mobile);
            }
            if !stores.shared {
                users
                    .insert(account)
                    .await
                    .map_err(|e| invalid(&entry, user_field(&e), user_problem(&e)))?;
                continue;
            }
            match users.create(account).await {
                Ok(()) => seeding.seeded.push(format!("user {}", u.uid)),
                Err(UserError::Exists) => seeding.kept.push(format!("user {}", u.uid)),
                // Another user took this login, e-mail or mobile through the admin API: theirs
                // wins.
                Err(
                    e
                    @ (UserError::LoginNameTaken | UserError::EmailTaken | UserError::MobileTaken),
                ) => seeding
                    .kept
                    .push(format!("user {} not seeded ({e})", u.uid)),
                Err(e) => return Err(invalid(&entry, user_field(&e), user_problem(&e))),
            }
        }

        let mut issuer = TokenIssuer::builder(key)
            .issuer(&issuer_name)
            .audience(&self.audience)
            .lifetime(Duration::from_secs(self.token_lifetime_secs))
            .clients(clients.clone())
            .users(users.clone())
            .tokens(stores.tokens.clone())
            .token_format(self.token_format.unwrap_or_default().into())
            .shared_clock(clock.clone())
            .realm(&self.realm);
        if let Some(resource) = &self.resource_id {
            issuer = issuer.resource_id(resource);
        }
        let issuer = issuer.build();

        // API keys.
        let keys = stores.api_keys.clone();
        for (i, k) in self.api_keys.iter().enumerate() {
            let entry = api_key_entry(i, &k.owner);
            let store_error = |e: crate::store::StoreError| {
                invalid(&entry, "key", ConfigProblem::Store(e.to_string()))
            };
            if stores.shared {
                // Named by owner: the key itself is a secret.
                if keys
                    .lookup(k.key.expose())
                    .await
                    .map_err(store_error)?
                    .is_some()
                {
                    seeding.kept.push(format!("api key of {}", k.owner));
                    continue;
                }
                seeding.seeded.push(format!("api key of {}", k.owner));
            }
            keys.insert(
                k.key.expose(),
                Identity::new(&k.owner).with_scopes(&k.scopes),
            )
            .await
            .map_err(store_error)?;
        }
        let impersonation = Impersonation::new(users.directory());

        // Grants: who may call which API, until when.
        let mut table = ApiTable::new();
        let mut api_schemes = HashMap::new();
        for api in &self.apis {
            // Checked by `Config::check`.
            let methods = api
                .methods
                .iter()
                .filter_map(|m| Method::from_bytes(m.as_bytes()).ok());
            table = table.api(&api.id, api.path.clone(), methods);
            let schemes = api.auth.iter().filter_map(|s| parse_scheme(s)).collect();
            api_schemes.insert(api.id.clone(), schemes);
        }
        // Each grantee is known as what it is: a client, a user or an API key's owner.
        let grantees: HashSet<Grantee<'_>> = self
            .clients
            .iter()
            .map(|c| Grantee::client(&c.client_id))
            .chain(self.users.iter().map(|u| Grantee::user(&u.uid)))
            .chain(
                self.api_keys
                    .iter()
                    .map(|k| Grantee::api_key_owner(&k.owner)),
            )
            .collect();
        let grant_store = stores.grants.clone();
        let grants = GrantManager::builder_shared(grant_store.clone())
            .apis(self.apis.iter().map(|a| a.id.as_str()))
            .grantees(grantees)
            .shared_clock(clock.clone())
            .build();
        for (i, g) in self.grants.iter().enumerate() {
            let entry = grant_entry(i, g);
            let Some(grantee) = g.grantee() else {
                return Err(invalid(&entry, "client", ConfigProblem::GranteeCount));
            };
            let Some(ends_at) = parse_time(&g.expires_at) else {
                let problem = ConfigProblem::BadTime(g.expires_at.clone());
                return Err(invalid(&entry, "expires_at", problem));
            };
            let store_error = |e: &dyn std::fmt::Display| {
                invalid(&entry, "api", ConfigProblem::Store(e.to_string()))
            };
            if stores.shared {
                let found = grant_store
                    .get(&g.api, grantee)
                    .await
                    .map_err(|e| store_error(&e))?;
                if found.is_some() {
                    seeding.kept.push(format!("grant {}/{grantee}", g.api));
                    continue;
                }
                seeding.seeded.push(format!("grant {}/{grantee}", g.api));
            }
            grants
                .authorize(&g.api, grantee, ends_at)
                .await
                .map_err(|e| store_error(&e))?;
        }

        let verifier = FirstMatch::new()
            .or(issuer.verifier())
            // API keys come in their headers only: keys carried as bearer tokens are opt-in
            // (`.accept_bearer(true)`), and would still count as API keys.
            .or(ApiKeyVerifier::new(keys))
            .or(users.basic_verifier());
        let sources = credential_sources(&self.credentials);

        // Discovery. RFC 8414: the issuer's endpoints, as absolute URLs under the issuer. An
        // issuer that is not a URL (a bare name) publishes none: no client could look it up.
        let scopes = self.client_scopes();
        let server_metadata = match issuer.metadata_endpoint() {
            Ok(metadata) => {
                if metadata.well_known_path() != "/.well-known/oauth-authorization-server" {
                    return Err(invalid(
                        "(top level)",
                        "issuer",
                        ConfigProblem::IssuerWithPath,
                    ));
                }
                Some(metadata.scopes(scopes.iter()))
            }
            Err(_) => None,
        };
        // RFC 9728: what the protected APIs accept, and which authorization server issues for
        // them.
        let field = if self.resource.is_some() {
            "resource"
        } else {
            "issuer"
        };
        let mut resource_metadata = ProtectedResourceMetadata::new(&resource)
            .map_err(|e| invalid("(top level)", field, ConfigProblem::Rejected(e.to_string())))?
            .scopes(scopes.iter())
            .bearer_methods_from(&sources);
        if server_metadata.is_some() {
            resource_metadata = resource_metadata.authorization_server(&issuer_name);
        }

        let gate = GateParts {
            verifier,
            sources,
            impersonation,
            realm: self.realm.clone(),
            resource_metadata_url: resource_metadata.metadata_url(),
        };
        let api_schemes = Arc::new(api_schemes);
        let layer = gate.builder().build();
        let published = gate
            .builder()
            .authorize(
                GrantCheck::by_table_shared(grant_store, table.clone()).shared_clock(clock.clone()),
            )
            .authorize(AcceptedSchemes(api_schemes.clone()))
            .build();
        Ok(Setup {
            issuer,
            stores,
            grants,
            server_metadata,
            resource_metadata,
            layer,
            published,
            gate,
            table,
            api_schemes,
            realm: self.realm,
            compat: self.compat,
            clock,
            seeding,
        })
    }
}

impl Setup {
    /// The token issuer (its `verifier()` is already in the layers).
    pub fn issuer(&self) -> &TokenIssuer {
        &self.issuer
    }

    /// The stores, as seeded from the file.
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// What seeding shared stores did (empty in memory).
    pub fn seeding(&self) -> &SeedReport {
        &self.seeding
    }

    /// The grant manager (the lifecycle: authorize, renew, revoke, apply, approve).
    pub fn grants(&self) -> &GrantManager {
        &self.grants
    }

    /// The layer that authenticates (with sudo and tenant selection) and checks no grant: for
    /// `/whoami`-like routes and the admin services, which check their own scopes.
    pub fn layer(&self) -> &GatekeeperLayer {
        &self.layer
    }

    /// The layer for every published API at once: it authenticates, maps the request to an
    /// `[[apis]]` entry by path and method (403 when none matches), requires the caller's
    /// grant for it, and admits only the credential kinds its `auth` lists. Handlers can read
    /// the API with the [`MatchedApi`](crate::grant::MatchedApi) extractor.
    pub fn published_apis_layer(&self) -> &GatekeeperLayer {
        &self.published
    }

    /// A layer for the one API `api_id`, wherever it is mounted: authenticates, requires the
    /// caller's grant for it, and admits only the credential kinds its `auth` lists. `None`
    /// for an id the file does not define.
    pub fn api_layer(&self, api_id: &str) -> Option<GatekeeperLayer> {
        let schemes = self.api_schemes.get(api_id)?;
        let check = GrantCheck::for_api_shared(self.stores.grants.clone(), api_id)
            .shared_clock(self.clock.clone());
        Some(
            self.gate
                .builder()
                .authorize(check)
                .authorize(RequireScheme::any_of(schemes.iter().copied()))
                .build(),
        )
    }

    /// The published APIs, by path and method, as the grant check maps them.
    pub fn api_table(&self) -> &ApiTable {
        &self.table
    }

    /// The credential sources of the layers (`[credentials]`).
    pub fn credential_sources(&self) -> &CredentialSources {
        &self.gate.sources
    }

    /// The token endpoint, with `[compat] get_token_requests` applied.
    pub fn token_endpoint(&self) -> TokenEndpoint {
        self.issuer
            .token_endpoint()
            .allow_get(self.compat.get_token_requests)
    }

    /// The token check endpoint (HENGSHI's `…/check?token=…`).
    pub fn check_endpoint(&self) -> CheckEndpoint {
        self.issuer.check_endpoint()
    }

    /// The RFC 7662 introspection endpoint.
    pub fn introspection_endpoint(&self) -> IntrospectionEndpoint {
        self.issuer.introspection_endpoint()
    }

    /// The RFC 7009 revocation endpoint, with `[compat] get_revoke_by_possession` applied.
    pub fn revocation_endpoint(&self) -> RevocationEndpoint {
        self.issuer
            .revocation_endpoint()
            .allow_get_by_possession(self.compat.get_revoke_by_possession)
    }

    /// The RFC 8414 metadata, scoped to the clients' scopes; `None` when the issuer is not a
    /// URL (a bare name publishes no metadata).
    pub fn server_metadata(&self) -> Option<&MetadataEndpoint> {
        self.server_metadata.as_ref()
    }

    /// The RFC 9728 protected resource metadata of the APIs.
    pub fn resource_metadata(&self) -> &ProtectedResourceMetadata {
        &self.resource_metadata
    }

    /// The public JWK Set (RS256 only).
    pub fn jwks(&self) -> Option<serde_json::Value> {
        self.issuer.jwks()
    }

    /// The grant admin service (Huawei DataArts' authorize action and the grant lifecycle),
    /// to nest at `/admin/apis`; it checks the `grants:admin` scope itself.
    pub fn grant_admin(&self) -> GrantAdmin {
        GrantAdmin::new(self.grants.clone()).realm(&self.realm)
    }

    /// The account admin service for clients and users, to mount at `/admin/clients` and
    /// `/admin/users` (and below); it checks the `accounts:admin` scope itself.
    pub fn account_admin(&self) -> AccountAdmin {
        AccountAdmin::new(self.stores.clients.clone(), self.stores.users.clone())
            .prefix("/admin")
            .realm(&self.realm)
    }

    /// The realm of the challenges.
    pub fn realm(&self) -> &str {
        &self.realm
    }
}

/// Where a server listening on `addr` is reached: over loopback when it listens on every
/// interface.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

fn credential_sources(c: &CredentialsConfig) -> CredentialSources {
    // Header names are checked by `Config::check`.
    let mut sources = CredentialSources::new().bearer(c.bearer).basic(c.basic);
    for name in &c.token_headers {
        sources = sources.token_header(name);
    }
    for name in &c.api_key_headers {
        sources = sources.api_key_header(name);
    }
    for name in &c.query {
        sources = sources.query(name);
    }
    for name in &c.form_body {
        sources = sources.form_body(name);
    }
    for name in &c.json_body {
        sources = sources.json_body(name);
    }
    sources.strip(c.strip)
}

fn signing_key(
    cfg: &SigningKeyConfig,
    base: &std::path::Path,
) -> Result<SigningKey, (&'static str, ConfigProblem)> {
    let rejected =
        |field, e: &dyn std::fmt::Display| (field, ConfigProblem::Rejected(e.to_string()));
    let key = match cfg.algorithm {
        SigningAlgorithm::HS256 => {
            let secret = cfg
                .secret
                .as_ref()
                .ok_or(("secret", ConfigProblem::Missing))?;
            SigningKey::hs256(secret.expose().as_bytes()).map_err(|e| rejected("secret", &e))?
        }
        SigningAlgorithm::RS256 => {
            let pem = match &cfg.private_key_pem {
                Some(path) => {
                    let path = base.join(path);
                    std::fs::read(&path).map_err(|e| {
                        rejected("private_key_pem", &format!("{}: {e}", path.display()))
                    })?
                }
                // No key file: a key of this process's own, so no private key is ever shipped
                // or shared. Its tokens end with the process; resource servers fetch the
                // public half from the JWK Set.
                None => generate_rsa_pem().map_err(|e| rejected("private_key_pem", &e))?,
            };
            SigningKey::rs256_pem(&pem).map_err(|e| rejected("private_key_pem", &e))?
        }
    };
    Ok(match &cfg.kid {
        Some(kid) => key.with_kid(kid.clone()),
        None => key,
    })
}

/// A new RSA-2048 private key, as PKCS#8 PEM.
fn generate_rsa_pem() -> Result<Vec<u8>, &'static str> {
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
    use base64::Engine as _;
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .map_err(|_| "could not generate an RSA key")?;
    let der: Pkcs8V1Der<'_> = pair.as_der().map_err(|_| "could not encode the RSA key")?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    Ok(pem.into_bytes())
}

#[cfg(feature = "redis")]
async fn connect_redis(url: &Secret, prefix: Option<&str>) -> Result<Stores, ConfigProblem> {
    use crate::store::{RedisOptions, RedisStore};
    let mut options = RedisOptions::new();
    if let Some(prefix) = prefix {
        options = options.prefix(prefix);
    }
    // The URL may hold a password: the error names the field, not the URL.
    let store = RedisStore::connect(url.expose(), options)
        .await
        .map_err(|e| ConfigProblem::Store(e.to_string()))?;
    Ok(Stores::redis(&store))
}

#[cfg(not(feature = "redis"))]
async fn connect_redis(_: &Secret, _: Option<&str>) -> Result<Stores, ConfigProblem> {
    Err(ConfigProblem::NeedsFeature("redis"))
}

fn rejected_or_store(text: &str) -> ConfigProblem {
    ConfigProblem::Rejected(text.to_owned())
}

fn user_field(e: &UserError) -> &'static str {
    match e {
        UserError::LoginNameTaken | UserError::LoginNameInvalid => "login_name",
        UserError::EmailTaken => "email",
        UserError::MobileTaken => "mobile",
        UserError::Password => "password",
        _ => "uid",
    }
}

fn user_problem(e: &UserError) -> ConfigProblem {
    match e {
        UserError::Store(e) => ConfigProblem::Store(e.to_string()),
        other => ConfigProblem::Rejected(other.to_string()),
    }
}
