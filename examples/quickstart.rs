//! The quickstart: a token endpoint and protected APIs in one process, nothing to prepare.
//!
//! ```text
//! cargo run --example quickstart [-- --config examples/quickstart.toml --addr 127.0.0.1:3000]
//! ```
//!
//! It mounts the client-credentials endpoint at `/oauth/token` (with check, introspect and
//! revoke beside it, and the seed systems' literal paths as aliases), its RFC 8414 metadata at
//! `/.well-known/oauth-authorization-server` (and `/.well-known/openid-configuration`), the
//! RFC 9728 metadata of its APIs at `/.well-known/oauth-protected-resource`, protects
//! `/whoami`, `/admin/*` and `/api/*` (every other path is a plain 404), and prints the curl
//! commands to try next.
//!
//! The issuer (`iss` of tokens, `issuer` of the metadata) is the config's `issuer`, or, when it
//! sets none, the address the server listens on (`http://127.0.0.1:3000` by default).
//!
//! With `--redis URL` (build with `--features redis`) every store — clients, tokens,
//! revocations, API keys, users, tenants, grants — lives in that Redis, shared by every
//! process started the same way; the config then seeds only what Redis does not hold yet
//! (what is there wins, so a restart keeps admin changes), and stderr says what was seeded and
//! what was kept. Without it everything stays in this process's memory. See docs/scaling.md.
//!
//! It serves with timeouts for slow clients (`examples/support/serve.rs`: headers 10 s, a
//! request with its body 30 s, a silent connection 60 s), which `--header-timeout-secs`,
//! `--body-timeout-secs` and `--idle-timeout-secs` change.

#[path = "support/serve.rs"]
mod serve;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tower_gatekeeper::accounts::{UserAccount, UserError, UserRegistry};
use tower_gatekeeper::clock::{Clock, ManualClock, SharedClock, SystemClock};
use tower_gatekeeper::discovery::ProtectedResourceMetadata;
use tower_gatekeeper::extract::{CredentialSources, Scheme};
use tower_gatekeeper::grant::{
    ApiTable, GrantAdmin, GrantCheck, GrantManager, GrantStore, Grantee, InMemoryGrantStore,
    MatchedApi, parse_time,
};
use tower_gatekeeper::impersonate::Impersonation;
use tower_gatekeeper::impersonate::{TenantSelector, UserDirectory as _};
use tower_gatekeeper::issuer::{
    AccountAdmin, Client, ClientRegistry, RegisterError, SigningKey, TokenFormat, TokenIssuer,
    TokenState,
};
use tower_gatekeeper::principal::{Identity, Tenant};
use tower_gatekeeper::verify::{ApiKeyStore, ApiKeyVerifier, FirstMatch};
use tower_gatekeeper::{GatekeeperLayer, Principal};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The `iss` of tokens and the metadata's `issuer`; default `http://<bound address>`.
    issuer: Option<String>,
    /// The resource identifier in the RFC 9728 metadata; default `http://<bound address>`.
    resource: Option<String>,
    audience: String,
    #[serde(default = "default_realm")]
    realm: String,
    #[serde(default = "default_lifetime")]
    token_lifetime_secs: u64,
    /// "jwt" (default) or "opaque".
    token_format: Option<FormatConfig>,
    signing_key: SigningKeyConfig,
    #[serde(default)]
    clients: Vec<ClientConfig>,
    #[serde(default)]
    users: Vec<UserConfig>,
    #[serde(default)]
    tenants: Vec<TenantConfig>,
    #[serde(default)]
    apis: Vec<ApiConfig>,
    #[serde(default)]
    grants: Vec<GrantConfig>,
    #[serde(default)]
    api_keys: Vec<ApiKeyConfig>,
    /// Another name of the API audience, for `scope=<resource_id>/.default` (Azure).
    resource_id: Option<String>,
    #[serde(default)]
    compat: CompatConfig,
}

/// The seed systems' request forms that put secrets in URLs: off unless the config says so.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompatConfig {
    /// `GET` token requests with the client secret in the query (HENGSHI, Tencent).
    #[serde(default)]
    get_token_requests: bool,
    /// `GET …/revoke?token=…`: revocation by whoever holds the token (HENGSHI).
    #[serde(default)]
    get_revoke_by_possession: bool,
}

fn default_realm() -> String {
    "quickstart".into()
}
fn default_lifetime() -> u64 {
    3600
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum FormatConfig {
    #[default]
    Jwt,
    Opaque,
}

impl From<FormatConfig> for TokenFormat {
    fn from(f: FormatConfig) -> Self {
        match f {
            FormatConfig::Jwt => TokenFormat::Jwt,
            FormatConfig::Opaque => TokenFormat::Opaque,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SigningKeyConfig {
    algorithm: String,
    secret: Option<String>,
    /// RS256: a PEM file; without one, a fresh key is generated at startup.
    private_key_pem: Option<PathBuf>,
    kid: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientConfig {
    client_id: String,
    client_secret: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    disabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserConfig {
    uid: String,
    login_name: String,
    email: Option<String>,
    mobile: Option<String>,
    password: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    tenants: Vec<String>,
    #[serde(default)]
    disabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantConfig {
    id: String,
    code: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiConfig {
    id: String,
    path: String,
    #[serde(default)]
    methods: Vec<String>,
    #[serde(default = "all_schemes")]
    auth: Vec<String>,
}

fn all_schemes() -> Vec<String> {
    vec!["bearer".into(), "basic".into(), "api_key".into()]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantConfig {
    /// Exactly one of `client`, `user`, `api_key_owner`: client ids, uids and key owners are
    /// separate namespaces, so a grant names its grantee's kind.
    client: Option<String>,
    user: Option<String>,
    api_key_owner: Option<String>,
    api: String,
    expires_at: String,
}

impl GrantConfig {
    fn grantee(&self) -> Result<Grantee<'_>, String> {
        match (&self.client, &self.user, &self.api_key_owner) {
            (Some(id), None, None) => Ok(Grantee::client(id)),
            (None, Some(id), None) => Ok(Grantee::user(id)),
            (None, None, Some(id)) => Ok(Grantee::api_key_owner(id)),
            _ => Err(format!(
                "grant for api {}: give exactly one of client, user and api_key_owner",
                self.api
            )),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyConfig {
    key: String,
    owner: String,
    #[serde(default)]
    scopes: Vec<String>,
}

struct Args {
    config: PathBuf,
    addr: SocketAddr,
    manual_clock: bool,
    timeouts: serve::Timeouts,
    /// `--redis URL`: every store on this Redis, shared with every node started the same way.
    redis: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut config = None;
    let mut addr: SocketAddr = "127.0.0.1:3000".parse().expect("valid default address");
    let mut manual_clock = false;
    let mut redis = None;
    let mut timeouts = serve::Timeouts::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => config = Some(PathBuf::from(args.next().ok_or("--config needs a path")?)),
            "--addr" => {
                let value = args.next().ok_or("--addr needs HOST:PORT")?;
                addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?;
            }
            // Demo and tests only: time stands still until POST /_demo/clock moves it.
            "--manual-clock" => manual_clock = true,
            "--redis" => redis = Some(args.next().ok_or("--redis needs a URL")?),
            // Read by `observe()`.
            "--metrics-addr" => {
                args.next().ok_or("--metrics-addr needs HOST:PORT")?;
            }
            "-h" | "--help" => {
                return Err(format!(
                    "usage: quickstart [--config PATH] [--addr HOST:PORT] [--manual-clock] [--redis URL] {}",
                    serve::Timeouts::USAGE
                ));
            }
            other => {
                if !timeouts.parse_flag(other, || args.next())? {
                    return Err(format!("unknown argument {other}; try --help"));
                }
            }
        }
    }
    // Run from anywhere: fall back to the file beside this example.
    let config = config.unwrap_or_else(|| {
        let local = PathBuf::from("examples/quickstart.toml");
        if local.exists() {
            local
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart.toml")
        }
    });
    Ok(Args {
        config,
        addr,
        manual_clock,
        timeouts,
        redis,
    })
}

fn signing_key(cfg: &SigningKeyConfig, base: &Path) -> Result<SigningKey, String> {
    let key = match cfg.algorithm.as_str() {
        "HS256" => {
            let secret = cfg
                .secret
                .as_deref()
                .ok_or("signing_key.secret is required for HS256")?;
            SigningKey::hs256(secret.as_bytes()).map_err(|e| e.to_string())?
        }
        "RS256" => {
            let pem = match &cfg.private_key_pem {
                Some(path) => {
                    let path = if path.is_absolute() {
                        path.clone()
                    } else {
                        base.join(path)
                    };
                    std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?
                }
                // No key file: a key of this process's own, so no private key is ever shipped
                // or shared. Its tokens end with the process; resource servers fetch the
                // public half from /.well-known/jwks.json.
                None => generate_rsa_pem()?,
            };
            SigningKey::rs256_pem(&pem).map_err(|e| e.to_string())?
        }
        other => {
            return Err(format!(
                "signing_key.algorithm {other} is not supported (HS256 or RS256)"
            ));
        }
    };
    Ok(match &cfg.kid {
        Some(kid) => key.with_kid(kid.clone()),
        None => key,
    })
}

/// A new RSA-2048 private key, as PKCS#8 PEM.
fn generate_rsa_pem() -> Result<Vec<u8>, String> {
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
    use base64::Engine as _;
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .map_err(|_| "could not generate an RSA key")?;
    let der: Pkcs8V1Der<'_> = pair.as_der().map_err(|_| "could not encode the RSA key")?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    Ok(pem.into_bytes())
}

fn scheme_name(scheme: Scheme) -> &'static str {
    // `Scheme` is `#[non_exhaustive]`: its own names.
    scheme.as_str()
}

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        Json(serde_json::json!({"error": code, "error_description": description})),
    )
        .into_response()
}

async fn whoami(principal: Principal) -> Json<Principal> {
    Json(principal)
}

async fn api(
    State(apis): State<Arc<HashMap<String, ApiConfig>>>,
    matched: MatchedApi,
    principal: Principal,
) -> Response {
    // The grant check mapped the request to a published API and found the caller's grant.
    let Some(api) = apis.get(matched.id()) else {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no API is published at this path",
        );
    };
    // What verified the credential, not what carried it: an API key sent as a bearer token
    // is an API key. (For one fixed list per layer, `layer::RequireScheme` does this check.)
    let scheme = principal.credential().map(|c| scheme_name(c.scheme));
    if !scheme.is_some_and(|scheme| api.auth.iter().any(|a| a == scheme)) {
        return error(
            StatusCode::FORBIDDEN,
            "access_denied",
            "this API does not accept this kind of credential",
        );
    }
    let mut body = serde_json::to_value(&principal).expect("a principal serializes");
    body["api"] = serde_json::Value::String(api.id.clone());
    Json(body).into_response()
}

#[derive(Deserialize)]
struct Advance {
    advance_secs: u64,
}

async fn advance_clock(
    State(clock): State<ManualClock>,
    Json(advance): Json<Advance>,
) -> Json<serde_json::Value> {
    clock.advance(Duration::from_secs(advance.advance_secs));
    Json(serde_json::json!({"now": tower_gatekeeper::grant::format_time(clock.unix_seconds())}))
}

/// Where the demo keeps its state: this process's memory (the default), or one Redis that
/// every node started with the same `--redis` shares.
struct Stores {
    clients: ClientRegistry,
    users: UserRegistry,
    tokens: TokenState,
    keys: ApiKeyStore,
    grants: Arc<dyn GrantStore>,
    /// On Redis the config seeds only what is absent: what is already there wins, so a
    /// restart never undoes what the admin API changed.
    shared: bool,
}

impl Stores {
    fn memory() -> Self {
        Self {
            clients: ClientRegistry::new(),
            users: UserRegistry::new(),
            tokens: TokenState::new(),
            keys: ApiKeyStore::new(),
            grants: Arc::new(InMemoryGrantStore::new()),
            shared: false,
        }
    }

    #[cfg(feature = "redis")]
    async fn redis(url: &str) -> Result<Self, String> {
        use tower_gatekeeper::store::{RedisOptions, RedisStore};
        let store = RedisStore::connect(url, RedisOptions::new())
            .await
            .map_err(|e| format!("redis {url}: {e}"))?;
        Ok(Self {
            clients: ClientRegistry::redis(&store),
            users: UserRegistry::redis(&store),
            tokens: TokenState::redis(&store),
            keys: ApiKeyStore::redis(&store),
            grants: Arc::new(tower_gatekeeper::grant::RedisGrantStore::new(&store)),
            shared: true,
        })
    }

    #[cfg(not(feature = "redis"))]
    async fn redis(_: &str) -> Result<Self, String> {
        Err("--redis needs the redis feature: cargo run --example quickstart --features redis -- --redis URL".into())
    }
}

/// What seeding did, printed at start-up (on stderr: stdout's first line is the address).
#[derive(Default)]
struct Seeding {
    seeded: Vec<String>,
    kept: Vec<String>,
}

impl Seeding {
    fn print(&self) {
        if !self.seeded.is_empty() {
            eprintln!("seeded into redis: {}", self.seeded.join(", "));
        }
        if !self.kept.is_empty() {
            eprintln!("kept (already in redis): {}", self.kept.join(", "));
        }
    }
}

async fn build(
    config: Config,
    base: &Path,
    manual_clock: Option<ManualClock>,
    addr: SocketAddr,
    stores: Stores,
) -> Result<Router, String> {
    // Unless the config names one, the issuer is where this server is reached (over loopback
    // when it listens on every interface: `0.0.0.0` is no address to send a client to).
    let reachable = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    };
    let here = format!("http://{reachable}");
    let issuer_name = config.issuer.clone().unwrap_or_else(|| here.clone());
    let clock: SharedClock = match &manual_clock {
        Some(c) => Arc::new(c.clone()),
        None => Arc::new(SystemClock),
    };
    // Client ids and uids are separate namespaces that must not overlap: client `1001` would
    // otherwise look like user `1001` to whoever reads only the id.
    if let Some(c) = config
        .clients
        .iter()
        .find(|c| config.users.iter().any(|u| u.uid == c.client_id))
    {
        return Err(format!("client {} has the uid of a user", c.client_id));
    }
    let mut seeding = Seeding::default();
    let clients = stores.clients.clone();
    for c in &config.clients {
        let client = Client::new(&c.client_id, &c.client_secret)
            .allowed_scopes(&c.scopes)
            .disabled(c.disabled);
        if !stores.shared {
            clients.register(client).await.map_err(|e| e.to_string())?;
            continue;
        }
        match clients.create(client).await {
            Ok(()) => seeding.seeded.push(format!("client {}", c.client_id)),
            Err(RegisterError::Exists) => seeding.kept.push(format!("client {}", c.client_id)),
            Err(e) => return Err(format!("client {}: {e}", c.client_id)),
        }
    }
    // Users, tenants and memberships: Basic login, the directory behind sudo and tenant
    // selection, and the disabled flag, kept in step by the registry.
    let users = stores.users.clone();
    for t in &config.tenants {
        if stores.shared {
            let found = users
                .directory()
                .find_tenant(&TenantSelector::Id(t.id.clone()))
                .await
                .map_err(|e| format!("tenant {}: {e}", t.id))?;
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
            .map_err(|e| format!("tenant {}: {e}", t.id))?;
    }
    for u in &config.users {
        if let Some(t) = u
            .tenants
            .iter()
            .find(|t| !config.tenants.iter().any(|c| &c.id == *t))
        {
            return Err(format!("user {} names unknown tenant {t}", u.uid));
        }
        let mut account = UserAccount::new(&u.uid, &u.login_name)
            .password(&u.password)
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
                .map_err(|e| format!("user {}: {e}", u.uid))?;
            continue;
        }
        match users.create(account).await {
            Ok(()) => seeding.seeded.push(format!("user {}", u.uid)),
            Err(UserError::Exists) => seeding.kept.push(format!("user {}", u.uid)),
            // Another user took this login, e-mail or mobile through the admin API: theirs wins.
            Err(
                e @ (UserError::LoginNameTaken | UserError::EmailTaken | UserError::MobileTaken),
            ) => seeding
                .kept
                .push(format!("user {} not seeded ({e})", u.uid)),
            Err(e) => return Err(format!("user {}: {e}", u.uid)),
        }
    }
    let mut issuer = TokenIssuer::builder(signing_key(&config.signing_key, base)?)
        .issuer(&issuer_name)
        .audience(&config.audience)
        .lifetime(Duration::from_secs(config.token_lifetime_secs))
        .clients(clients.clone())
        .users(users.clone())
        .tokens(stores.tokens.clone())
        .token_format(config.token_format.unwrap_or_default().into())
        .shared_clock(clock.clone())
        .realm(&config.realm);
    if let Some(resource) = &config.resource_id {
        issuer = issuer.resource_id(resource);
    }
    let issuer = issuer.build();

    let keys = stores.keys.clone();
    for k in &config.api_keys {
        if stores.shared {
            let found = keys.lookup(&k.key).await.map_err(|e| e.to_string())?;
            // Named by owner: the key itself is a secret.
            if found.is_some() {
                seeding.kept.push(format!("api key of {}", k.owner));
                continue;
            }
            seeding.seeded.push(format!("api key of {}", k.owner));
        }
        keys.insert(&k.key, Identity::new(&k.owner).with_scopes(&k.scopes))
            .await
            .map_err(|e| e.to_string())?;
    }
    let impersonation = Impersonation::new(users.directory());

    // Grants: who may call which API, until when.
    let mut table = ApiTable::new();
    for api in &config.apis {
        let methods = api
            .methods
            .iter()
            .map(|m| {
                Method::from_bytes(m.as_bytes())
                    .map_err(|_| format!("api {}: bad method {m}", api.id))
            })
            .collect::<Result<Vec<_>, _>>()?;
        table = table.api(&api.id, api.path.clone(), methods);
    }
    // Each grantee is known as what it is: a client, a user or an API key's owner.
    let grantees: HashSet<Grantee<'_>> = config
        .clients
        .iter()
        .map(|c| Grantee::client(&c.client_id))
        .chain(config.users.iter().map(|u| Grantee::user(&u.uid)))
        .chain(
            config
                .api_keys
                .iter()
                .map(|k| Grantee::api_key_owner(&k.owner)),
        )
        .collect();
    let store = stores.grants.clone();
    let grants = GrantManager::builder_shared(store.clone())
        .apis(config.apis.iter().map(|a| a.id.as_str()))
        .grantees(grantees)
        .shared_clock(clock.clone())
        .build();
    for g in &config.grants {
        let grantee = g.grantee()?;
        let ends_at = parse_time(&g.expires_at)
            .ok_or_else(|| format!("grant {}/{grantee}: bad expires_at", g.api))?;
        if stores.shared {
            let found = store
                .get(&g.api, grantee)
                .await
                .map_err(|e| format!("grant {}/{grantee}: {e}", g.api))?;
            if found.is_some() {
                seeding.kept.push(format!("grant {}/{grantee}", g.api));
                continue;
            }
            seeding.seeded.push(format!("grant {}/{grantee}", g.api));
        }
        grants
            .authorize(&g.api, grantee, ends_at)
            .await
            .map_err(|e| format!("grant {}/{grantee}: {e}", g.api))?;
    }
    seeding.print();

    let verifier = FirstMatch::new()
        .or(issuer.verifier())
        // API keys come in `X-API-Key` only: keys carried as bearer tokens are opt-in
        // (`.accept_bearer(true)`), and would still count as API keys.
        .or(ApiKeyVerifier::new(keys))
        .or(users.basic_verifier());
    // The seed systems accept tokens in headers, the query and the body: so does the demo.
    let sources = CredentialSources::new()
        .basic(true)
        .token_header("access_token")
        .token_header("x-auth-token")
        .api_key_header("x-api-key")
        .query("access_token")
        .form_body("access_token")
        .json_body("access_token")
        .strip(true);

    // Discovery. RFC 8414: the issuer's endpoints, as absolute URLs under the issuer. An issuer
    // that is not a URL (a bare name) publishes none: no client could look it up.
    let mut scopes: Vec<String> = config
        .clients
        .iter()
        .flat_map(|c| c.scopes.iter().cloned())
        .collect();
    scopes.sort();
    scopes.dedup();
    let server_metadata = match issuer.metadata_endpoint() {
        Ok(metadata) => {
            if metadata.well_known_path() != "/.well-known/oauth-authorization-server" {
                return Err(format!(
                    "issuer {issuer_name}: the quickstart mounts its endpoints at the root, so \
                     its issuer URL cannot have a path"
                ));
            }
            Some(metadata.scopes(scopes.iter()))
        }
        Err(e) => {
            eprintln!("note: no authorization server metadata: {e}");
            None
        }
    };
    // RFC 9728: what the protected APIs accept, and which authorization server issues for them.
    let resource = config.resource.clone().unwrap_or_else(|| here.clone());
    let mut resource_metadata = ProtectedResourceMetadata::new(&resource)
        .map_err(|e| e.to_string())?
        .scopes(scopes.iter())
        .bearer_methods_from(&sources);
    if server_metadata.is_some() {
        resource_metadata = resource_metadata.authorization_server(&issuer_name);
    }

    let gate = |grant_check: Option<GrantCheck>| {
        let builder = GatekeeperLayer::builder(verifier.clone())
            .realm(&config.realm)
            .sources(sources.clone())
            // Every Bearer challenge names the resource metadata (RFC 9728 §5.1).
            .resource_metadata(resource_metadata.metadata_url())
            .allow_cors_preflight(true)
            .authorize(impersonation.clone());
        match grant_check {
            Some(check) => builder.authorize(check).build(),
            None => builder.build(),
        }
    };
    let grant_check = GrantCheck::by_table_shared(store, table).shared_clock(clock);

    let apis: Arc<HashMap<String, ApiConfig>> = Arc::new(
        config
            .apis
            .iter()
            .map(|a| (a.id.clone(), a.clone()))
            .collect(),
    );
    // The gatekeeper wraps the protected routes only (`route_layer`): a path that matches no
    // route is a plain 404, with or without a credential.
    let published = Router::new()
        .route("/api/{*path}", any(api))
        .route_layer(gate(Some(grant_check)))
        .with_state(apis);
    let accounts = AccountAdmin::new(clients, users)
        .prefix("/admin")
        .realm(&config.realm);
    let grant_admin = GrantAdmin::new(grants).realm(&config.realm);
    let mut app: Router = Router::new()
        .route("/whoami", get(whoami).post(whoami))
        .nest_service("/admin/apis", grant_admin.clone())
        // Huawei DataArts' own path for the authorize action (seed 002), behind the same gate.
        .route_service(
            "/v1/{project_id}/service/apis/authorize/action",
            grant_admin,
        )
        .route_service("/admin/clients", accounts.clone())
        .route_service("/admin/clients/{*rest}", accounts.clone())
        .route_service("/admin/users", accounts.clone())
        .route_service("/admin/users/{*rest}", accounts)
        .route_layer(gate(None))
        .merge(published);
    // The token endpoint, and check / introspect / revoke beside it, outside the gatekeeper.
    // Each service answers on exactly the paths it is mounted at; other paths are 404.
    let token = issuer
        .token_endpoint()
        .allow_get(config.compat.get_token_requests);
    let check = issuer.check_endpoint();
    let revoke = issuer
        .revocation_endpoint()
        .allow_get_by_possession(config.compat.get_revoke_by_possession);
    app = app
        .route_service("/oauth/token", token.clone())
        .route_service("/oauth/token/check", check.clone())
        .route_service("/oauth/token/introspect", issuer.introspection_endpoint())
        .route_service("/oauth/token/revoke", revoke.clone())
        // The seeds' literal paths, for clients written against them. These exact routes win
        // over `/api/{*path}` and are not behind the gatekeeper.
        // HENGSHI BI: GET /api/oauth2/server/tokens?grant_type=…, …/check?token=…, …/revoke?token=…
        .route_service("/api/oauth2/server/tokens", token.clone())
        .route_service("/api/oauth2/server/tokens/check", check)
        .route_service("/api/oauth2/server/tokens/revoke", revoke)
        // Azure (China) AD: POST /{tenant}/oauth2/v2.0/token, any tenant segment.
        .route_service("/{tenant}/oauth2/v2.0/token", token);
    // Discovery documents, outside the gatekeeper: the same RFC 8414 document at its own
    // location and at OpenID Connect's (RFC 8414 §5), for clients that only know that one.
    if let Some(metadata) = server_metadata {
        app = app
            .route_service(&metadata.well_known_path(), metadata.clone())
            .route_service(&metadata.openid_configuration_path(), metadata);
    }
    app = app.route_service(&resource_metadata.well_known_path(), resource_metadata);
    // Resource servers in other processes fetch the public key here (RS256 configs only).
    if let Some(jwks) = issuer.jwks() {
        app = app.route(
            "/.well-known/jwks.json",
            get(move || std::future::ready(Json(jwks.clone()))),
        );
    }
    if let Some(clock) = manual_clock {
        app = app.merge(
            Router::new()
                .route("/_demo/clock", post(advance_clock))
                .with_state(clock),
        );
    }
    Ok(app)
}

fn print_next_steps(addr: SocketAddr) {
    let base = format!("http://{addr}");
    println!("tower-gatekeeper quickstart listening on {base}");
    println!();
    println!("Get a token (client credentials):");
    println!(
        "  TOKEN=$(curl -s -d grant_type=client_credentials -d client_id=demo-app -d client_secret=demo-app-secret {base}/oauth/token | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')"
    );
    println!("Call with it in the header, the query or the body:");
    println!("  curl -H \"Authorization: Bearer $TOKEN\" {base}/whoami");
    println!("  curl \"{base}/whoami?access_token=$TOKEN\"");
    println!("  curl -d access_token=$TOKEN {base}/whoami");
    println!("Call a published API:");
    println!("  curl -H \"Authorization: Bearer $TOKEN\" {base}/api/orders");
    println!("With an API key, or as a user (Basic):");
    println!("  curl -H 'X-API-Key: qs-demo-api-key-0001' {base}/api/reports");
    println!("  curl -u alice:alice-password {base}/api/orders");
    println!("Manage grants (Huawei DataArts' authorize action) as the provider admin:");
    println!(
        r#"  ADMIN=$(curl -s -d grant_type=client_credentials -d client_id=admin-console -d client_secret=admin-console-secret {base}/oauth/token | sed 's/.*"access_token":"\([^"]*\)".*/\1/')"#
    );
    println!(
        "  curl -H \"Authorization: Bearer $ADMIN\" -H 'Content-Type: application/json' -d '{{\"api_id\":\"reports\",\"app_id\":\"demo-app\",\"apply_type\":\"APPLY_TYPE_AUTHORIZE\",\"time\":\"2030-01-01T00:00:00Z\"}}' {base}/admin/apis/authorize/action"
    );
    println!("  curl -H \"Authorization: Bearer $ADMIN\" '{base}/admin/apis/grants?api_id=orders'");
    println!("Act as a user inside a tenant (bi-integration holds the sudo scope):");
    println!(
        r#"  BI=$(curl -s -d grant_type=client_credentials -d client_id=bi-integration -d client_secret=bi-integration-secret {base}/oauth/token | sed 's/.*"access_token":"\([^"]*\)".*/\1/')"#
    );
    println!(
        "  curl -H \"Authorization: Bearer $BI\" '{base}/whoami?sudo=loginName:alice&tenantCode=acme'"
    );
    println!("Check, introspect and revoke a token:");
    println!("  curl \"{base}/oauth/token/check?token=$TOKEN\"");
    println!("  curl -u demo-app:demo-app-secret -d token=$TOKEN {base}/oauth/token/introspect");
    println!("  curl \"{base}/oauth/token/revoke?token=$TOKEN\"");
    println!(
        "The seed systems' literal requests work too (HENGSHI BI's GET forms, Azure AD's POST):"
    );
    println!(
        "  curl '{base}/api/oauth2/server/tokens?grant_type=client_credentials&client_id=demo-app&client_secret=demo-app-secret'"
    );
    println!("  curl \"{base}/api/oauth2/server/tokens/check?token=$TOKEN\"");
    println!(
        "  curl -d grant_type=client_credentials -d client_id=demo-app -d client_secret=demo-app-secret -d scope=d6b7c858-55fa-4d04-85a6-131af690abd4/.default {base}/387c56a8-cf86-45de-b9f5-b4de88cac054/oauth2/v2.0/token"
    );
    println!("Discovery (RFC 8414 for the issuer, RFC 9728 for the APIs):");
    println!("  curl {base}/.well-known/oauth-authorization-server");
    println!("  curl {base}/.well-known/oauth-protected-resource");
    println!("Refusals: no credential, a bad token:");
    println!("  curl -i {base}/whoami");
    println!("  curl -i -H 'Authorization: Bearer not.a.token' {base}/whoami");
}

// Logging and `--metrics-addr` (docs/observability.md).
#[path = "support/observe.rs"]
mod observe;

#[tokio::main]
async fn main() {
    if let Err(message) = observe::init() {
        eprintln!("{message}");
        std::process::exit(2);
    }
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let text = std::fs::read_to_string(&args.config).unwrap_or_else(|e| {
        eprintln!("cannot read {}: {e}", args.config.display());
        std::process::exit(2);
    });
    let config: Config = toml::from_str(&text).unwrap_or_else(|e| {
        eprintln!("{}: {e}", args.config.display());
        std::process::exit(2);
    });
    let base = std::env::current_dir().unwrap_or_default();
    let clock = args.manual_clock.then(ManualClock::starting_now);
    // Bind first: the issuer defaults to the address actually bound (`--addr 127.0.0.1:0`
    // picks a free port).
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .unwrap_or_else(|e| {
            eprintln!("cannot listen on {}: {e}", args.addr);
            std::process::exit(1);
        });
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    let stores = match &args.redis {
        Some(url) => Stores::redis(url).await.unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1);
        }),
        None => Stores::memory(),
    };
    let app = build(config, &base, clock, addr, stores)
        .await
        .unwrap_or_else(|e| {
            eprintln!("{}: {e}", args.config.display());
            std::process::exit(2);
        });
    print_next_steps(addr);
    serve::serve(listener, app, args.timeouts).await;
}
