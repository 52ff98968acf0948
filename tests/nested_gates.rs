//! Two gates on one route: refusals made further in (a stage layer, an extractor) answer in
//! the realm of the **innermost** gate that admitted the request, whether that gate placed a
//! principal or passed the request on anonymously, and whichever the outer gate did; also
//! when a stage replaced the principal with one of its own.

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use jsonwebtoken::{EncodingKey, Header};
use tower_gatekeeper::MaybeReady;
use tower_gatekeeper::error::AuthError;
use tower_gatekeeper::extract::CredentialSources;
use tower_gatekeeper::layer::{Authorize, AuthorizeLayer};
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::JwtVerifier;
use tower_gatekeeper::{GatekeeperLayer, Principal};

#[path = "support/reply.rs"]
mod reply;
use reply::send;

const SECRET: &[u8] = b"nested-gates-test-secret-0123456789abcdef";

fn token(scope: &str) -> String {
    let claims = serde_json::json!({
        "sub": "app", "client_id": "app", "scope": scope, "exp": 4_000_000_000u64
    });
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

/// A gate in `realm` that finds tokens only in the header `header`.
fn gate(realm: &str, header: &str, optional: bool) -> GatekeeperLayer {
    GatekeeperLayer::builder(JwtVerifier::hs256(SECRET).unwrap())
        .sources(CredentialSources::new().bearer(false).token_header(header))
        .realm(realm)
        .optional(optional)
        .build()
}

/// `/stage` needs a scope nobody has (a stage layer refuses with 403 and a challenge);
/// `/who` needs a principal (the extractor refuses an anonymous request with 401).
fn app(outer: GatekeeperLayer, inner: GatekeeperLayer) -> Router {
    let stage = Router::new()
        .route("/stage", get(|| async { "in" }))
        .route_layer(AuthorizeLayer::require_scopes(["nobody:has"]));
    Router::new()
        .route(
            "/who",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        .merge(stage)
        .layer(inner)
        .layer(outer)
}

async fn refusal(app: &Router, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let reply = send(app, uri, headers).await;
    (reply.status, reply.challenges().join(", "))
}

#[tokio::test]
async fn an_inner_gate_with_a_principal_answers_after_an_outer_anonymous_pass() {
    // The outer gate finds nothing in `x-outer` and passes the request on anonymously; the
    // inner one admits the token in `x-inner`. The stage's refusal is the inner gate's.
    let app = app(
        gate("outer", "x-outer", true),
        gate("inner", "x-inner", false),
    );
    let (status, challenge) = refusal(&app, "/stage", &[("x-inner", &token("a"))]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(challenge.contains("realm=\"inner\""), "{challenge}");
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
}

#[tokio::test]
async fn an_inner_anonymous_pass_answers_after_an_outer_principal() {
    // The outer gate admits the token in `x-outer`; the inner, optional, finds nothing in
    // `x-inner` and passes on. The stage refuses in the inner gate's realm.
    let app = app(
        gate("outer", "x-outer", false),
        gate("inner", "x-inner", true),
    );
    let (status, challenge) = refusal(&app, "/stage", &[("x-outer", &token("a"))]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(challenge.contains("realm=\"inner\""), "{challenge}");
}

#[tokio::test]
async fn both_gates_with_principals_answer_in_the_inner_realm() {
    let app = app(
        gate("outer", "x-outer", false),
        gate("inner", "x-inner", false),
    );
    let (a, b) = (token("a"), token("b"));
    let headers = [("x-outer", a.as_str()), ("x-inner", b.as_str())];
    let (status, challenge) = refusal(&app, "/stage", &headers).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(challenge.contains("realm=\"inner\""), "{challenge}");
    // The principal the handler sees is the inner gate's, and it answers.
    let (status, _) = refusal(&app, "/who", &headers).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_extractor_refuses_an_anonymous_request_in_the_inner_realm() {
    let app = app(
        gate("outer", "x-outer", true),
        gate("inner", "x-inner", true),
    );
    let (status, challenge) = refusal(&app, "/who", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("realm=\"inner\""), "{challenge}");
}

/// A stage that maps every caller onto a principal of its own making.
struct MapToService;

impl Authorize for MapToService {
    fn authorize(
        &self,
        _: Principal,
        _: &mut http::request::Parts,
    ) -> MaybeReady<Result<Principal, AuthError>> {
        MaybeReady::Ready(Ok(Principal::new(Identity::new("mapped"))))
    }
}

#[tokio::test]
async fn a_principal_a_stage_replaced_still_answers_in_the_gates_realm() {
    let app = Router::new()
        .route("/stage", get(|| async { "in" }))
        .route_layer(AuthorizeLayer::require_scopes(["nobody:has"]))
        .route_layer(AuthorizeLayer::new(MapToService))
        .layer(gate("gate", "x-token", false));
    let (status, challenge) = refusal(&app, "/stage", &[("x-token", &token("a"))]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(challenge.contains("realm=\"gate\""), "{challenge}");
}

#[test]
fn a_principal_is_unwind_safe() {
    fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    unwind_safe::<Principal>();
}
