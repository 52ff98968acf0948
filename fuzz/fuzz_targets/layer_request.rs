//! A whole request through `GatekeeperLayer` in required mode, with every credential source on
//! (Authorization Bearer/Basic, token and API-key headers, the query, form and JSON bodies,
//! stripping on), sudo and tenant selection (`Impersonation`) and, under `/api/`, a grant check
//! (`GrantCheck`). The inner service records what reached it.
//!
//! Two verifier chains: by default `ApiKeyVerifier` takes keys from the API-key header only;
//! a request carrying the target's own header `fuzz-accept-bearer-keys` (removed before the
//! layer sees it) goes to a layer whose `ApiKeyVerifier` also takes keys carried as bearer
//! tokens (`accept_bearer(true)`). Grants are kinded: key owner `svc-reports` holds `reports`,
//! while client `svc-reports` and user `app-1` hold grants too, that must never let key owner
//! `svc-reports` or client `app-1` in.
//!
//! Invariants:
//! - no 5xx but 503; every 401 has `WWW-Authenticate` (RFC 9110 §11.6.1);
//! - a refused request never reaches the inner service, and nothing but the inner service
//!   answers 2xx;
//! - what reaches it has a principal whose caller is one of the known identities (the fuzzer
//!   cannot sign tokens or guess keys), except a CORS preflight, which carries none; a key
//!   owner's principal is of kind `api_key_owner` with the credential scheme `ApiKey`, however
//!   the key was carried, a token's is a client's with `Bearer`;
//! - with the default verifier, a key owner got in only with an API-key header: a key carried
//!   as a bearer token (header, query, body) is refused;
//! - the subject is the caller's own unless the caller holds the sudo scope, in which case it is
//!   a directory user (kind `user`) and the scopes are narrowed to the caller's; a selected
//!   tenant is one the subject belongs to;
//! - under `/api/`, the path is canonical and the caller, as a grantee of its own kind, holds a
//!   grant for the API it maps to;
//! - the inner service gets the original body bytes, and no credential left in the head or the
//!   query (stripping).
#![no_main]

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use tower_gatekeeper::extract::{CredentialSources, RequestBody, Scheme, Source};
use tower_gatekeeper::grant::{
    ApiTable, GrantCheck, GrantManager, Grantee, InMemoryGrantStore, is_canonical_path,
};
use tower_gatekeeper::impersonate::{DirectoryUser, Impersonation, InMemoryDirectory};
use tower_gatekeeper::principal::{Identity, PrincipalKind, Tenant};
use tower_gatekeeper::verify::{ApiKeyStore, ApiKeyVerifier, FirstMatch, JwtVerifier};
use tower_gatekeeper::{Gatekeeper, GatekeeperLayer, Principal};
use tower_gatekeeper_fuzz::{RawRequest, block_on, call, check_common, parse};
use tower_layer::Layer;

/// The HS256 secret the seed tokens are signed with (see `fuzz/corpus/layer_request/`).
const SECRET: &[u8] = b"fuzz-layer-secret-0123456789abcdef";

/// The header that picks the layer whose API-key verifier also takes bearer-carried keys.
const ACCEPT_BEARER_KEYS: &str = "fuzz-accept-bearer-keys";

/// Callers a credential can name, with their kind: API key owners and token subjects.
const CALLERS: [Grantee<'static>; 4] = [
    Grantee::api_key_owner("svc-reports"),
    Grantee::api_key_owner("bi-integration"),
    Grantee::client("app-1"),
    Grantee::client("bi-app"),
];
const SUDO_CALLERS: [&str; 2] = ["bi-integration", "bi-app"];
/// (grantee, api) pairs with a grant, of which the last two are kind traps: no caller is
/// client `svc-reports` or user `app-1`.
const GRANTS: [(Grantee<'static>, &str); 6] = [
    (Grantee::client("app-1"), "orders"),
    (Grantee::client("bi-app"), "orders"),
    (Grantee::api_key_owner("svc-reports"), "reports"),
    (Grantee::api_key_owner("bi-integration"), "orders"),
    (Grantee::client("svc-reports"), "orders"),
    (Grantee::user("app-1"), "reports"),
];
/// Directory users: (uid, login, tenants).
const USERS: [(&str, &str, &[&str]); 3] = [
    ("1001", "alice", &["t-acme"]),
    ("1002", "bob", &["t-acme", "t-beta"]),
    ("1003", "carol", &[]),
];

/// What reached the inner service.
#[derive(Debug, Clone)]
struct Seen {
    principal: Option<Principal>,
    uri: http::Uri,
    headers: http::HeaderMap,
    body: Bytes,
}

#[derive(Clone)]
struct Recorder(Arc<Mutex<Option<Seen>>>);

impl tower_service::Service<Request<RequestBody<Full<Bytes>>>> for Recorder {
    type Response = Response<Full<Bytes>>;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<RequestBody<Full<Bytes>>>) -> Self::Future {
        let slot = self.0.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.expect("the body reads").to_bytes();
            *slot.lock().unwrap() = Some(Seen {
                principal: parts.extensions.get::<Principal>().cloned(),
                uri: parts.uri,
                headers: parts.headers,
                body,
            });
            Ok(Response::new(Full::new(Bytes::from_static(b"inner"))))
        })
    }
}

struct Setup {
    /// (plain, granted), with the default API-key verifier.
    keys_from_key_header: (Gatekeeper<Recorder>, Gatekeeper<Recorder>),
    /// (plain, granted), whose API-key verifier also takes bearer-carried keys.
    keys_as_bearer_too: (Gatekeeper<Recorder>, Gatekeeper<Recorder>),
    table: ApiTable,
    seen: Arc<Mutex<Option<Seen>>>,
}

static SETUP: LazyLock<Setup> = LazyLock::new(|| {
    let keys = ApiKeyStore::new();
    block_on(
        keys.insert(
            "fuzz-valid-api-key-0001",
            Identity::new("svc-reports")
                .with_client_id("svc-reports")
                .with_scopes(["reports:read"]),
        ),
    )
    .expect("a key");
    block_on(
        keys.insert(
            "fuzz-sudo-api-key-0002",
            Identity::new("bi-integration")
                .with_client_id("bi-integration")
                .with_scopes(["sudo", "orders:read", "reports:read"]),
        ),
    )
    .expect("a key");
    let verifier = |accept_bearer: bool| {
        FirstMatch::new()
            .or(JwtVerifier::hs256(SECRET).expect("a long enough secret"))
            .or(ApiKeyVerifier::new(keys.clone()).accept_bearer(accept_bearer))
    };
    let directory = InMemoryDirectory::new();
    block_on(directory.insert_tenant(Tenant::new("t-acme", Some("acme")))).expect("a tenant");
    block_on(directory.insert_tenant(Tenant::new("t-beta", Some("beta")))).expect("a tenant");
    for (uid, login, tenants) in USERS {
        let mut user = DirectoryUser::new(uid, login);
        user.email = Some(format!("{login}@example.com"));
        user.mobile = Some(format!("+1555000{uid}"));
        user.tenants = tenants.iter().map(|t| (*t).to_owned()).collect();
        user.scopes = vec!["orders:read".into()];
        block_on(directory.insert_user(user)).expect("a user");
    }
    let sources = CredentialSources::new()
        .basic(true)
        .token_header("access_token")
        .token_header("x-auth-token")
        .api_key_header("x-api-key")
        .query("access_token")
        .form_body("access_token")
        .json_body("access_token")
        .body_limit(4096)
        .strip(true);
    let store = InMemoryGrantStore::new();
    let manager = GrantManager::builder(store.clone())
        .apis(["orders", "reports"])
        .grantees(GRANTS.map(|(grantee, _)| grantee))
        .build();
    block_on(async {
        for (grantee, api) in GRANTS {
            manager
                .authorize(api, grantee, 4_000_000_000)
                .await
                .expect("a grant");
        }
    });
    let table = ApiTable::new()
        .api("orders", "/api/orders", [Method::GET, Method::POST])
        .api("reports", "/api/reports", [Method::GET]);
    let layer = |accept_bearer: bool, grants: Option<GrantCheck>| {
        let builder = GatekeeperLayer::builder(verifier(accept_bearer))
            .realm("fuzz")
            .sources(sources.clone())
            .allow_cors_preflight(true)
            .authorize(Impersonation::new(directory.clone()));
        match grants {
            Some(check) => builder.authorize(check).build(),
            None => builder.build(),
        }
    };
    let seen = Arc::new(Mutex::new(None));
    let recorder = Recorder(seen.clone());
    let check = || Some(GrantCheck::by_table(store.clone(), table.clone()));
    let pair = |accept_bearer: bool| {
        (
            layer(accept_bearer, None).layer(recorder.clone()),
            layer(accept_bearer, check()).layer(recorder.clone()),
        )
    };
    Setup {
        keys_from_key_header: pair(false),
        keys_as_bearer_too: pair(true),
        table,
        seen,
    }
});

fn check_admitted(
    seen: &Seen,
    raw: &RawRequest,
    request_parts: &http::request::Parts,
    granted: bool,
    keys_as_bearer: bool,
) {
    let setup = &*SETUP;
    // The body the inner service reads is the one that was sent (unless the fuzzer's own
    // Content-Length disagrees with it, which a real server's framing would not allow).
    let framed = request_parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .is_none_or(|v| v.to_str().ok() == Some(&raw.body.len().to_string()));
    if framed {
        assert_eq!(
            seen.body, raw.body,
            "the body changed on the way in: {raw:?}"
        );
    }
    let Some(principal) = &seen.principal else {
        // Only a CORS preflight passes without a principal.
        assert_eq!(request_parts.method, Method::OPTIONS, "{raw:?}");
        assert!(
            request_parts
                .headers
                .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD),
            "{raw:?}"
        );
        return;
    };
    let caller = principal.caller();
    let grantee = Grantee::of(caller);
    assert!(
        CALLERS.contains(&grantee),
        "an unknown caller {grantee} got in: {raw:?}"
    );
    let scheme = principal.credential().map(|c| c.scheme);
    if grantee.kind == PrincipalKind::ApiKeyOwner {
        assert_eq!(scheme, Some(Scheme::ApiKey), "{raw:?}");
        if !keys_as_bearer {
            assert!(
                request_parts.headers.contains_key("x-api-key"),
                "{grantee} got in with a key carried as a bearer token: {raw:?}"
            );
        }
    } else {
        assert_eq!(grantee.kind, PrincipalKind::Client, "{raw:?}");
        assert_eq!(scheme, Some(Scheme::Bearer), "{raw:?}");
    }
    let sudoer = SUDO_CALLERS.contains(&caller.subject());
    if principal.subject() != caller.subject() {
        assert!(
            sudoer,
            "{} acts as {} without the sudo privilege: {raw:?}",
            caller.subject(),
            principal.subject()
        );
        let user = USERS.iter().find(|(uid, _, _)| *uid == principal.subject());
        assert!(
            user.is_some() && principal.kind() == PrincipalKind::User,
            "sudo to a non-user {}: {raw:?}",
            principal.subject()
        );
        for scope in principal.scopes() {
            assert!(
                scope != "sudo",
                "the sudo privilege was carried on: {raw:?}"
            );
            assert!(
                caller.has_scope(scope),
                "scope {scope} beyond the caller's: {raw:?}"
            );
        }
    }
    if let Some(tenant) = principal.tenant() {
        let member = USERS.iter().any(|(uid, _, tenants)| {
            *uid == principal.subject() && tenants.contains(&tenant.id.as_str())
        });
        assert!(
            member,
            "{} operates in {} without belonging to it: {raw:?}",
            principal.subject(),
            tenant.id
        );
    }
    if granted {
        let path = request_parts.uri.path();
        assert!(is_canonical_path(path), "{path:?}: {raw:?}");
        let api = setup
            .table
            .resolve(&request_parts.method, path)
            .expect("a mapped API");
        assert_eq!(principal.api(), Some(api));
        assert!(
            GRANTS.contains(&(grantee, api)),
            "{grantee} reached {api} without a grant: {raw:?}"
        );
    }
    // Stripping: the credential is gone from what the inner service sees.
    for name in ["access_token", "x-auth-token", "x-api-key"] {
        assert!(!seen.headers.contains_key(name), "{name} left in: {raw:?}");
    }
    for value in seen.headers.get_all(http::header::AUTHORIZATION) {
        let scheme = value
            .to_str()
            .unwrap_or("")
            .trim_start()
            .split(' ')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        assert!(
            scheme != "bearer" && scheme != "basic",
            "authorization left in: {raw:?}"
        );
    }
    if principal.credential().map(|c| c.source) == Some(Source::Query) {
        let query = seen.uri.query().unwrap_or("");
        let names: HashSet<_> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, _)| k)
            .collect();
        assert!(
            !names.contains("access_token"),
            "query token left in {query:?}: {raw:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let setup = &*SETUP;
    let raw = parse(data);
    let mut request = raw.to_request();
    // `remove` takes every value of the header.
    let keys_as_bearer = request.headers_mut().remove(ACCEPT_BEARER_KEYS).is_some();
    let granted = request.uri().path().starts_with("/api/");
    let (request_parts, body) = request.into_parts();
    let request = Request::from_parts(request_parts.clone(), body);
    *setup.seen.lock().unwrap() = None;
    let (plain, with_grants) = if keys_as_bearer {
        &setup.keys_as_bearer_too
    } else {
        &setup.keys_from_key_header
    };
    let service = if granted {
        with_grants.clone()
    } else {
        plain.clone()
    };
    let answer = block_on(call(service, request));
    check_common(&answer, &raw);
    let seen = setup.seen.lock().unwrap().take();
    match seen {
        None => assert!(
            !answer.parts.status.is_success(),
            "{} without the inner service: {raw:?}",
            answer.parts.status
        ),
        Some(seen) => {
            assert_eq!(answer.parts.status, StatusCode::OK);
            assert_eq!(answer.body.as_ref(), b"inner");
            check_admitted(&seen, &raw, &request_parts, granted, keys_as_bearer);
        }
    }
});
