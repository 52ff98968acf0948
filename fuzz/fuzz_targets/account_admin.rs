//! The account admin service (`AccountAdmin`: clients and users) with arbitrary requests and
//! JSON bodies, as an account administrator (`accounts:admin`), as a principal without that
//! scope, or with none.
//!
//! Invariants:
//! - no 5xx but 503; a 401 has `WWW-Authenticate` (see `TOLERATE_KNOWN_ISSUES`);
//! - only the administrator gets a 2xx; the others change nothing;
//! - no answer carries a password the request sent, or a password hash;
//! - a created client's or a rotated secret, shown once, authenticates that client.
#![no_main]

use std::sync::LazyLock;

use http::StatusCode;
use libfuzzer_sys::fuzz_target;
use tower_gatekeeper::Principal;
use tower_gatekeeper::accounts::{UserAccount, UserRegistry};
use tower_gatekeeper::issuer::{AccountAdmin, Client, ClientRegistry};
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper_fuzz::{block_on, call, check_common, parse};

/// `AccountAdmin` answers 401 without a challenge when no principal is in the request (it is
/// meant to sit behind the layer). Reported; set to `false` once fixed.
const TOLERATE_KNOWN_ISSUES: bool = true;

struct Setup {
    clients: ClientRegistry,
    users: UserRegistry,
}

// Shared across inputs: registries hash a decoy password when made, too slow to make per input.
// The invariants below hold whatever earlier inputs created.
static SETUP: LazyLock<Setup> = LazyLock::new(|| {
    let clients = ClientRegistry::new();
    clients
        .register(Client::new("existing-app", "existing-app-secret-55aa"))
        .expect("a client");
    let users = UserRegistry::new();
    users
        .insert(UserAccount::new("u-existing", "existing").password("existing-password-77"))
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
    let existing_active = setup.clients.is_active("existing-app");
    let existing_user_disabled = setup.users.is_disabled("u-existing");
    let admin = AccountAdmin::new(setup.clients.clone(), setup.users.clone());
    let answer = block_on(call(admin, request));
    let status = answer.parts.status;
    if !(TOLERATE_KNOWN_ISSUES && status == StatusCode::UNAUTHORIZED) {
        check_common(&answer, &raw);
    }
    let text = answer.text();
    assert!(!text.contains("$argon2"), "a hash in the answer: {raw:?}");
    for password in passwords(&raw.body) {
        if password.len() >= 6 {
            assert!(!text.contains(&password), "the password came back: {raw:?}");
        }
    }
    let is_admin = who.as_ref().is_some_and(|p| p.has_scope("accounts:admin"));
    if !is_admin {
        assert!(!status.is_success(), "{status} for a non-admin: {raw:?}");
        assert_eq!(setup.clients.is_active("existing-app"), existing_active);
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
        assert!(
            setup.clients.authenticate(id, secret).is_some() || !setup.clients.is_active(id),
            "the secret shown does not authenticate {id}: {raw:?}"
        );
    }
});
