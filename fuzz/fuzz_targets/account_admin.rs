//! The account admin service (`AccountAdmin`: clients and users) with arbitrary requests and
//! JSON bodies, as an account administrator (`accounts:admin`), as a principal without that
//! scope, or with none.
//!
//! Invariants:
//! - no 5xx but 503 (the shared hashing bound); every 401 has `WWW-Authenticate` (RFC 9110
//!   §11.6.1), every 405 `Allow` (RFC 9110 §15.5.6);
//! - only the administrator gets a 2xx, but for the 204 to `OPTIONS` on an admin route (a
//!   CORS preflight carries no credential); the others change nothing;
//! - no answer carries a password the request sent, or a password hash;
//! - a created client's or a rotated secret, shown once, is a generated one (kept as a SHA-256
//!   digest) and authenticates that client;
//! - client ids and uids stay separate namespaces: a client is created only where no user
//!   holds its id, a user only where no client holds its uid;
//! - a 204 to disable or enable leaves the account so.
#![no_main]

use std::sync::LazyLock;

use http::{Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use tower_gatekeeper::Principal;
use tower_gatekeeper::accounts::{UserAccount, UserRegistry};
use tower_gatekeeper::issuer::{AccountAdmin, Client, ClientRegistry, SecretKind};
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper_fuzz::{block_on, call, check_common, contains_argon2_hash, parse};

struct Setup {
    clients: ClientRegistry,
    users: UserRegistry,
}

// Shared across inputs: registries hash a decoy password when made, too slow to make per input.
/// A store answer, from memory (these stores are in memory: they answer at once).
fn ready<T, E: std::fmt::Debug>(answer: tower_gatekeeper::MaybeReady<Result<T, E>>) -> T {
    block_on(async { answer.await }).expect("an in-memory store answers")
}

// The invariants below hold whatever earlier inputs created.
static SETUP: LazyLock<Setup> = LazyLock::new(|| {
    let clients = ClientRegistry::new();
    block_on(clients.register(Client::new("existing-app", "existing-app-secret-55aa")))
        .expect("a client");
    let users = UserRegistry::new();
    block_on(
        users.insert(UserAccount::new("u-existing", "existing").password("existing-password-77")),
    )
    .expect("a user");
    Setup { clients, users }
});

fn principal(pick: u8) -> Option<Principal> {
    match pick % 3 {
        0 => Some(Principal::new(
            Identity::new("ops").with_scopes(["accounts:admin"]),
        )),
        1 => Some(Principal::new(
            Identity::new("existing-app")
                .with_client_id("existing-app")
                .with_scopes(["grants:admin"]),
        )),
        _ => None,
    }
}

fn passwords(body: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    fn walk(value: &serde_json::Value, found: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    if k == "password"
                        && let Some(p) = v.as_str()
                    {
                        found.push(p.to_owned());
                    }
                    walk(v, found);
                }
            }
            serde_json::Value::Array(list) => list.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    if let Ok(value) = serde_json::from_slice(body) {
        walk(&value, &mut found);
    }
    found
}

fuzz_target!(|data: &[u8]| {
    let setup = &*SETUP;
    let (pick, rest) = data.split_first().map_or((0, data), |(p, r)| (*p, r));
    let raw = parse(rest);
    let mut request = raw.to_request();
    let who = principal(pick);
    if let Some(p) = &who {
        request.extensions_mut().insert(p.clone());
    }
    let existing_active = ready(setup.clients.is_active("existing-app"));
    let existing_user_disabled = setup.users.is_disabled("u-existing");
    let method = request.method().clone();
    // The path as the service reads it: segments, percent-decoded once.
    let segments: Option<Vec<String>> = request
        .uri()
        .path()
        .trim_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(|s| s.into_owned())
        })
        .collect();
    let admin = AccountAdmin::new(setup.clients.clone(), setup.users.clone());
    let answer = block_on(call(admin, request));
    let status = answer.parts.status;
    check_common(&answer, &raw);
    let text = answer.text();
    assert!(!contains_argon2_hash(&text), "a hash in the answer: {raw:?}");
    for password in passwords(&raw.body) {
        if password.len() >= 6 {
            assert!(!text.contains(&password), "the password came back: {raw:?}");
        }
    }
    let is_admin = who.as_ref().is_some_and(|p| p.has_scope("accounts:admin"));
    if !is_admin {
        if status.is_success() {
            assert_eq!(
                (&method, status),
                (&Method::OPTIONS, StatusCode::NO_CONTENT),
                "{status} for a non-admin: {raw:?}"
            );
            assert!(answer.body.is_empty(), "{raw:?}");
        } else if who.is_none() {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{raw:?}");
        }
        assert_eq!(
            ready(setup.clients.is_active("existing-app")),
            existing_active
        );
        assert_eq!(
            setup.users.is_disabled("u-existing"),
            existing_user_disabled
        );
        return;
    }
    if status.is_success()
        && let Some(json) = answer.json()
        && let (Some(id), Some(secret)) =
            (json["client_id"].as_str(), json["client_secret"].as_str())
    {
        assert_eq!(
            ready(setup.clients.secret_kind(id)),
            Some(SecretKind::Sha256),
            "{raw:?}"
        );
        assert!(secret.len() >= 43, "a short generated secret: {raw:?}");
        assert!(
            block_on(setup.clients.authenticate(id, secret))
                .expect("an in-memory store answers")
                .is_some()
                || !ready(setup.clients.is_active(id)),
            "the secret shown does not authenticate {id}: {raw:?}"
        );
    }
    let segments: Vec<&str> = segments.iter().flatten().map(String::as_str).collect();
    match (status, segments.as_slice()) {
        (StatusCode::CREATED, ["clients"]) => {
            let id = answer
                .json()
                .and_then(|j| j["client_id"].as_str().map(str::to_owned));
            let id = id.expect("the created client's id");
            // RFC 6749 Appendix A.1: 1 to 255 bytes of %x20-7E.
            assert!(
                !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| (0x20..=0x7e).contains(&b)),
                "client {id:?} was created: {raw:?}"
            );
            assert!(ready(setup.clients.contains(&id)), "{raw:?}");
            assert!(
                !setup.users.contains(&id),
                "client {id} is also a user: {raw:?}"
            );
        }
        (StatusCode::CREATED, ["users"]) => {
            let body: serde_json::Value =
                serde_json::from_slice(&raw.body).expect("a JSON body was accepted");
            let uid = body["uid"].as_str().expect("a uid");
            assert!(setup.users.contains(uid), "{raw:?}");
            assert!(
                !ready(setup.clients.contains(uid)),
                "user {uid} is also a client: {raw:?}"
            );
        }
        (StatusCode::NO_CONTENT, ["clients", id, action]) if method == Method::POST => {
            assert_eq!(
                ready(setup.clients.is_active(id)),
                *action == "enable",
                "{raw:?}"
            );
        }
        (StatusCode::NO_CONTENT, ["users", uid, action]) if method == Method::POST => {
            assert_eq!(
                setup.users.is_disabled(uid),
                *action == "disable",
                "{raw:?}"
            );
        }
        _ => {}
    }
});
