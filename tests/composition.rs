//! Composition: the stage layer (`AuthorizeLayer`) runs its stages on the principal a
//! router-wide gate placed, without verifying the credential again; it fails closed where no
//! gate ran; its refusals answer the gate's way. Credential sources are values: the cookie
//! source and a source written here, outside the crate, plug into the layer with no edit to
//! the crate.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use http::request::Parts;
use jsonwebtoken::{EncodingKey, Header};
use tower_gatekeeper::error::{AuthError, ChallengeScheme, JsonResponder};
use tower_gatekeeper::extract::{
    Credential, CredentialSource, CredentialSources, OneCredential, RequestHead, Source,
};
use tower_gatekeeper::grant::{
    Grant, GrantCheck, GrantState, GrantStore, Grantee, InMemoryGrantStore,
};
use tower_gatekeeper::layer::AuthorizeLayer;
use tower_gatekeeper::principal::PrincipalKind;
use tower_gatekeeper::verify::{JwtVerifier, Verification, Verifier};
use tower_gatekeeper::{GatekeeperLayer, Principal};

#[path = "support/reply.rs"]
mod reply;
use reply::send;

const SECRET: &[u8] = b"composition-test-secret-0123456789abcdef";
const EXP: u64 = 4_000_000_000;

fn token(client: &str, scope: &str) -> String {
    let claims =
        serde_json::json!({"sub": client, "client_id": client, "scope": scope, "exp": EXP});
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

/// A JWT verifier that counts how often it is asked (and allows no reuse, so a second
/// verification of one request could not hide in the layer's cache).
#[derive(Clone)]
struct Counting {
    inner: Arc<JwtVerifier>,
    calls: Arc<AtomicUsize>,
}

impl Counting {
    fn new() -> Self {
        Self {
            inner: Arc::new(JwtVerifier::hs256(SECRET).unwrap()),
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Verifier for Counting {
    fn verify(&self, credential: &Credential<'_>) -> Verification {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.verify(credential)
    }
}

fn granted(api: &str, client: &str) -> InMemoryGrantStore {
    let store = InMemoryGrantStore::new();
    store
        .update_now(api, Grantee::client(client), |_| {
            Ok(Grant {
                api_id: api.into(),
                grantee: client.into(),
                grantee_kind: PrincipalKind::Client,
                state: GrantState::Active,
                starts_at: Some(1),
                ends_at: EXP,
                revoke_at: None,
                renewal: None,
            })
        })
        .unwrap();
    store
}

fn subject() -> axum::routing::MethodRouter {
    get(|p: Principal| async move { format!("{} via {}", p.subject(), p.api().unwrap_or("-")) })
}

/// `/orders` needs a grant for the API `orders` and the scope `orders:read`, checked by a
/// stage layer under a router-wide gate; `/me` needs only the gate.
fn staged(verifier: Counting, store: impl GrantStore) -> Router {
    Router::new()
        .route("/orders", subject())
        .route_layer(
            AuthorizeLayer::builder()
                .require_scopes(["orders:read"])
                .authorize(GrantCheck::for_api(store, "orders"))
                .build(),
        )
        .route("/me", subject())
        .layer(
            GatekeeperLayer::builder(verifier)
                .realm("shop")
                .responder(JsonResponder::ErrorCodeMsg)
                .build(),
        )
}

#[tokio::test]
async fn the_stage_layer_does_not_verify_the_credential_again() {
    let verifier = Counting::new();
    let app = staged(verifier.clone(), granted("orders", "app-1"));
    let good = format!("Bearer {}", token("app-1", "orders:read"));

    let r = send(&app, "/orders", &[("authorization", &good)]).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (StatusCode::OK, "app-1 via orders")
    );
    assert_eq!(verifier.calls(), 1, "one request, one verification");
    let r = send(&app, "/me", &[("authorization", &good)]).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "app-1 via -"));
    assert_eq!(verifier.calls(), 2);

    // Refused by a stage: still one verification.
    let other = format!("Bearer {}", token("app-2", "orders:read"));
    let r = send(&app, "/orders", &[("authorization", &other)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(verifier.calls(), 3);

    // The counter does see a second verification: a second gate in the route layer.
    let twice = Router::new()
        .route("/orders", subject())
        .route_layer(GatekeeperLayer::builder(verifier.clone()).build())
        .layer(GatekeeperLayer::builder(verifier.clone()).build());
    let r = send(&twice, "/orders", &[("authorization", &good)]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(verifier.calls(), 5, "two gates verify twice");
}

#[tokio::test]
async fn stage_refusals_answer_in_the_gates_realm_and_shape() {
    let app = staged(Counting::new(), granted("orders", "app-1"));

    // The scope is missing: 403 in the gate's shape, its realm in the challenge.
    let r = send(
        &app,
        "/orders",
        &[(
            "authorization",
            &format!("Bearer {}", token("app-1", "other")),
        )],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["error_code"], "insufficient_scope");
    let challenges = r.challenges();
    assert!(
        challenges[0].starts_with(r#"Bearer realm="shop", error="insufficient_scope""#),
        "{challenges:?}"
    );

    // The scope but no grant.
    let r = send(
        &app,
        "/orders",
        &[(
            "authorization",
            &format!("Bearer {}", token("app-2", "orders:read")),
        )],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["error_code"], "access_denied");

    // No credential: the gate refuses first, with its challenge.
    let r = send(&app, "/orders", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.challenges(), [r#"Bearer realm="shop""#]);
    assert_eq!(r.json()["error_code"], "unauthorized");
}

#[tokio::test]
async fn a_stage_layer_without_a_gate_fails_closed() {
    let good = format!("Bearer {}", token("app-1", "orders:read"));
    // Misplaced: no gate at all, or the stage layer outside the gate.
    let alone: Router = Router::new()
        .route("/orders", subject())
        .route_layer(AuthorizeLayer::require_scopes(["orders:read"]));
    let outside: Router = Router::new()
        .route("/orders", subject())
        .layer(
            GatekeeperLayer::builder(Counting::new())
                .realm("shop")
                .build(),
        )
        .layer(
            AuthorizeLayer::builder()
                .realm("stages")
                .require_scopes(["orders:read"])
                .build(),
        );
    for (name, app, realm) in [("alone", alone, "api"), ("outside", outside, "stages")] {
        let r = send(&app, "/orders", &[("authorization", &good)]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}: {}", r.body);
        assert_eq!(
            r.challenges(),
            [format!(r#"Bearer realm="{realm}""#)],
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_optional_gate_does_not_open_a_stage_that_needs_a_principal() {
    let app = Router::new()
        .route("/orders", subject())
        .route_layer(AuthorizeLayer::new(GrantCheck::for_api(
            granted("orders", "app-1"),
            "orders",
        )))
        .route(
            "/maybe",
            get(|p: Option<Principal>| async move {
                p.map_or("anonymous".to_owned(), |p| p.subject().to_owned())
            }),
        )
        .layer(
            GatekeeperLayer::builder(Counting::new())
                .realm("shop")
                .optional(true)
                .build(),
        );
    let r = send(&app, "/maybe", &[]).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "anonymous"));
    let r = send(&app, "/orders", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.challenges(), [r#"Bearer realm="shop""#]);
}

/// What the handler sees of the request: the cookies and the principal's source.
fn inspect() -> axum::routing::MethodRouter {
    get(|req: axum::extract::Request| async move {
        let cookies: Vec<String> = req
            .headers()
            .get_all("cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let principal = req.extensions().get::<Principal>().unwrap();
        let source = principal.credential().unwrap().source;
        format!(
            "{} from {} with {:?}",
            principal.subject(),
            source.as_str(),
            cookies
        )
    })
}

#[tokio::test]
async fn a_token_in_a_cookie() {
    let app: Router = Router::new().route("/me", inspect()).layer(
        GatekeeperLayer::builder(Counting::new())
            .realm("web")
            .sources(
                CredentialSources::new()
                    .bearer(false)
                    .cookie("session")
                    .strip(true),
            )
            .build(),
    );
    let t = token("alice", "");

    let cookie = format!("theme=dark; session={t}; lang=fr");
    let r = send(&app, "/me", &[("cookie", &cookie)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Stripped: the other cookies reach the handler, the session cookie does not.
    assert_eq!(r.body, r#"alice from cookie with ["theme=dark; lang=fr"]"#);
    // No shared cache may store an answer to a request with cookies.
    assert_eq!(r.headers["cache-control"], "private");

    // Without it: 401, challenged with the cookie's name; `Authorization` is not accepted.
    let r = send(&app, "/me", &[("cookie", "theme=dark")]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.challenges(), [r#"Cookie realm="web", cookie="session""#]);
    let r = send(&app, "/me", &[("authorization", &format!("Bearer {t}"))]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Twice (in two `Cookie` headers, as HTTP/2 sends them): two credentials, 400.
    let session = format!("session={t}");
    let r = send(&app, "/me", &[("cookie", &session), ("cookie", &session)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Forged: 401, and the token is not echoed.
    let forged = format!("session={}x", &t[..t.len() - 1]);
    let r = send(&app, "/me", &[("cookie", &forged)]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(!r.body.contains(&t[..20]), "{}", r.body);
}

#[tokio::test]
async fn a_cookie_beside_a_bearer_token_is_two_credentials() {
    let app: Router = Router::new().route("/me", inspect()).layer(
        GatekeeperLayer::builder(Counting::new())
            .sources(CredentialSources::new().cookie("session"))
            .build(),
    );
    let t = token("alice", "");
    let r = send(
        &app,
        "/me",
        &[
            ("cookie", &format!("session={t}")),
            ("authorization", &format!("Bearer {t}")),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.json()["error"], "invalid_request");
    // Both schemes are challenged on a 401.
    let r = send(&app, "/me", &[]).await;
    assert_eq!(
        r.challenges(),
        [
            r#"Bearer realm="api""#.to_owned(),
            r#"Cookie realm="api", cookie="session""#.to_owned()
        ]
    );
}

/// A source written outside the crate: `X-Signed: v1 <token>`.
#[derive(Debug)]
struct Versioned;

impl CredentialSource for Versioned {
    fn find_in_head<'a>(
        &self,
        head: RequestHead<'a>,
        found: &mut OneCredential<'a>,
    ) -> Result<(), AuthError> {
        for value in head.headers().get_all("x-signed") {
            let text = value
                .to_str()
                .map_err(|_| AuthError::invalid_request("X-Signed is malformed"))?;
            let token = text
                .strip_prefix("v1 ")
                .ok_or_else(|| AuthError::invalid_request("X-Signed must be `v1 <token>`"))?;
            found.offer(Credential::bearer(token, Source::Header))?;
        }
        Ok(())
    }

    fn strip(&self, parts: &mut Parts) {
        parts.headers.remove("x-signed");
    }

    fn challenges(&self) -> Vec<ChallengeScheme> {
        vec![ChallengeScheme::Other {
            scheme: "Signed".into(),
            params: vec![("version".into(), "v1".into())],
        }]
    }
}

#[tokio::test]
async fn a_source_of_ones_own_gets_the_same_rules() {
    let app: Router = Router::new()
        .route(
            "/me",
            get(|req: axum::extract::Request| async move {
                let subject = req
                    .extensions()
                    .get::<Principal>()
                    .unwrap()
                    .subject()
                    .to_owned();
                format!("{subject} {}", req.headers().contains_key("x-signed"))
            }),
        )
        .layer(
            GatekeeperLayer::builder(Counting::new())
                .realm("legacy")
                .sources(CredentialSources::new().source(Versioned).strip(true))
                .build(),
        );
    let t = token("bob", "");
    let r = send(&app, "/me", &[("x-signed", &format!("v1 {t}"))]).await;
    // Admitted, and stripped before the handler.
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "bob false"));
    // Its challenge, beside the default `Bearer`.
    let r = send(&app, "/me", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.challenges(),
        [
            r#"Bearer realm="legacy""#.to_owned(),
            r#"Signed realm="legacy", version="v1""#.to_owned()
        ]
    );
    // The one-credential rule: beside `Authorization`, 400.
    let r = send(
        &app,
        "/me",
        &[
            ("x-signed", &format!("v1 {t}")),
            ("authorization", &format!("Bearer {t}")),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Its own refusal of a malformed value: 400, without the value.
    let r = send(&app, "/me", &[("x-signed", &format!("v2 {t}"))]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(!r.body.contains(&t[..20]), "{}", r.body);
    // A bad token through it: 401 invalid_token.
    let r = send(&app, "/me", &[("x-signed", "v1 nope")]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"], "invalid_token");
}
