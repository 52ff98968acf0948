//! The grant admin service (`GrantAdmin`) with arbitrary requests and JSON bodies, as the
//! provider admin (a principal holding `grants:admin`), as a client, as a user whose uid is a
//! client's id, as an API-key owner, as a client acting as a user (sudo), or with no principal.
//! Every input starts from the same fresh store, whose grantees are kinded: client `app-b` and
//! user `app-b` are two grantees, each with a grant of its own.
//!
//! Invariants:
//! - no 5xx but 503; every 401 has `WWW-Authenticate` (RFC 9110 §11.6.1), every 405 `Allow`
//!   (RFC 9110 §15.5.6);
//! - without a principal: 401, or 204 to `OPTIONS` on an admin route; nothing changes;
//! - a grantee changes only its own grants (same kind, same id, from its own credential: under
//!   sudo the caller counts, not the impersonated user), and lists only its own;
//! - a change is made only by an answer of 2xx: a refused request leaves every grant as it was;
//!   a 2xx action changes at most the one grant its body names (API and grantee, kind
//!   included), and only a 2xx list answers grants;
//! - a provider action never ends access at once (a revocation waits for the notice period),
//!   and never shortens a grant's validity.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use http::{Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tower_gatekeeper::Principal;
use tower_gatekeeper::grant::{
    Access, Grant, GrantAdmin, GrantManager, GrantState, Grantee, InMemoryGrantStore,
};
use tower_gatekeeper::principal::{Identity, PrincipalKind};
use tower_gatekeeper_fuzz::{block_on, call, check_common, parse};

const NOW: u64 = 1_800_000_000;
const APIS: [&str; 2] = ["orders", "reports"];
/// Known grantees; user `app-b` shares client `app-b`'s id on purpose.
const GRANTEES: [Grantee<'static>; 6] = [
    Grantee::client("app-a"),
    Grantee::client("app-b"),
    Grantee::client("app-c"),
    Grantee::user("app-b"),
    Grantee::user("1001"),
    Grantee::api_key_owner("svc"),
];

/// (API, grantee kind, grantee id) → the grant.
type Snapshot = BTreeMap<(String, PrincipalKind, String), Arc<Grant>>;

async fn snapshot(manager: &GrantManager) -> Snapshot {
    let mut all = Snapshot::new();
    for api in APIS {
        for grant in manager.list_by_api(api).await.expect("the store answers") {
            let key = (
                grant.api_id.to_string(),
                grant.grantee_kind,
                grant.grantee.to_string(),
            );
            all.insert(key, grant);
        }
    }
    all
}

fn principal(pick: u8) -> Option<Principal> {
    match pick % 6 {
        0 => Some(Principal::new(
            Identity::new("console")
                .with_client_id("console")
                .with_scopes(["grants:admin"]),
        )),
        // Client app-a (its token: subject = client id).
        1 => Some(Principal::new(
            Identity::new("app-a").with_client_id("app-a"),
        )),
        // User app-b: not client app-b.
        2 => Some(Principal::new(
            Identity::new("app-b")
                .with_kind(PrincipalKind::User)
                .with_scopes(["orders:read"]),
        )),
        // The owner of an API key.
        3 => Some(Principal::new(
            Identity::new("svc").with_kind(PrincipalKind::ApiKeyOwner),
        )),
        // Client app-a acting as user 1001: the caller (client app-a) counts.
        4 => Some(
            Principal::new(Identity::new("app-a").with_client_id("app-a")).impersonating(
                Identity::new("1001")
                    .with_kind(PrincipalKind::User)
                    .with_scopes(["orders:read"]),
            ),
        ),
        _ => None,
    }
}

/// The (API, grantee) an action body names, read the way the service reads it.
fn named(body: &[u8]) -> Option<(String, PrincipalKind, String)> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let api = value.get("api_id")?.as_str()?.to_owned();
    let mut found = [
        ("app_id", PrincipalKind::Client),
        ("user_id", PrincipalKind::User),
        ("key_owner_id", PrincipalKind::ApiKeyOwner),
    ]
    .into_iter()
    .filter_map(|(field, kind)| Some((kind, value.get(field)?.as_str()?.to_owned())));
    let (kind, id) = found.next()?;
    Some((api, kind, id))
}

fuzz_target!(|data: &[u8]| {
    let (pick, rest) = data.split_first().map_or((0, data), |(p, r)| (*p, r));
    let raw = parse(rest);
    let mut request = raw.to_request();
    let method = request.method().clone();
    let who = principal(pick);
    if let Some(p) = &who {
        request.extensions_mut().insert(p.clone());
    }
    block_on(async {
        let manager = GrantManager::builder(InMemoryGrantStore::new())
            .apis(APIS)
            .grantees(GRANTEES)
            .clock(tower_gatekeeper::clock::ManualClock::at_unix(NOW))
            .build();
        let end = 1_900_000_000;
        for (api, grantee) in [
            ("orders", Grantee::client("app-a")),
            ("orders", Grantee::client("app-b")),
            ("reports", Grantee::user("app-b")),
            ("orders", Grantee::user("1001")),
            ("reports", Grantee::api_key_owner("svc")),
        ] {
            manager.authorize(api, grantee, end).await.expect("a grant");
        }
        manager
            .apply("reports", Grantee::client("app-c"), end)
            .await
            .expect("an application");
        manager
            .apply_renew("orders", Grantee::client("app-b"), end + 86_400)
            .await
            .expect("a renewal application");
        let before = snapshot(&manager).await;
        let answer = call(GrantAdmin::new(manager.clone()), request).await;
        let status = answer.parts.status;
        check_common(&answer, &raw);
        let after = snapshot(&manager).await;
        let json = answer.json();
        let listed = json
            .as_ref()
            .and_then(|j| j.get("grants"))
            .and_then(Value::as_array);
        if !status.is_success() {
            assert_eq!(before, after, "{status} but the grants changed: {raw:?}");
            assert!(listed.is_none(), "{status} with grants: {raw:?}");
        }
        let Some(who) = who else {
            let options = method == Method::OPTIONS && status == StatusCode::NO_CONTENT;
            assert!(
                status == StatusCode::UNAUTHORIZED || options,
                "{status} without a principal: {raw:?}"
            );
            assert_eq!(before, after);
            assert!(
                listed.is_none(),
                "grants listed without a principal: {raw:?}"
            );
            return;
        };
        // Which grants changed: at most the one a successful action named.
        let changed: BTreeSet<_> = before
            .keys()
            .chain(after.keys())
            .filter(|k| before.get(*k) != after.get(*k))
            .cloned()
            .collect();
        if !changed.is_empty() {
            assert_eq!(method, Method::POST, "{raw:?}");
            assert_eq!(
                changed.iter().collect::<Vec<_>>(),
                vec![&named(&raw.body).expect("a body naming the grant")],
                "{raw:?}"
            );
        }
        let caller = Grantee::of(who.caller());
        if who.has_scope("grants:admin") {
            // Provider actions: access never ends at once, validity never shrinks.
            for key in &changed {
                let (Some(old), Some(new)) = (before.get(key), after.get(key)) else {
                    continue;
                };
                if old.access_at(NOW) == Access::Allowed {
                    assert_eq!(
                        new.access_at(NOW),
                        Access::Allowed,
                        "a provider action ended access at once: {old:?} -> {new:?}: {raw:?}"
                    );
                }
                if old.state == GrantState::Active && new.state == GrantState::Active {
                    assert!(new.ends_at >= old.ends_at, "{old:?} -> {new:?}: {raw:?}");
                }
            }
            return;
        }
        for (_, kind, id) in &changed {
            assert_eq!(
                Grantee::new(*kind, id),
                caller,
                "{caller} changed {kind}:{id}'s grant: {raw:?}"
            );
        }
        for grant in listed.into_iter().flatten() {
            let kind = grant["grantee_kind"]
                .as_str()
                .and_then(PrincipalKind::parse);
            let field = match kind {
                Some(PrincipalKind::Client) => "app_id",
                Some(PrincipalKind::User) => "user_id",
                Some(PrincipalKind::ApiKeyOwner) => "key_owner_id",
                _ => panic!("a grant without a kind: {grant}"),
            };
            assert_eq!(
                (kind, grant[field].as_str()),
                (Some(caller.kind), Some(caller.id)),
                "{caller} saw {grant}: {raw:?}"
            );
        }
    });
});
