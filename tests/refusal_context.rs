//! Refusals made outside the layer still speak in the layer's realm and format, and
//! challenges name only the schemes that are accepted.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_gatekeeper::error::JsonResponder;
use tower_gatekeeper::extract::CredentialSources;
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::{BasicUsers, BasicVerifier, JwtVerifier};
use tower_gatekeeper::{GatekeeperLayer, Principal};

#[tokio::test]
async fn extractor_refusal_in_optional_mode_uses_the_layer_realm_and_responder() {
    let verifier = JwtVerifier::hs256(b"0123456789abcdef0123456789abcdef").unwrap();
    let app = Router::new()
        .route(
            "/needs",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        .layer(
            GatekeeperLayer::builder(verifier)
                .optional(true)
                .realm("billing")
                .responder(JsonResponder::Hengshi)
                .build(),
        );
    let res = app
        .oneshot(Request::get("/needs").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"billing\""
    );
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["code"], 401);
}

#[tokio::test]
async fn basic_only_layer_challenges_with_basic_only() {
    let users = BasicUsers::new();
    users
        .insert_password("alice", "pw", Identity::new("u1"))
        .unwrap();
    let app = Router::new().route("/", get(|| async { "ok" })).layer(
        GatekeeperLayer::builder(BasicVerifier::new(users))
            .sources(CredentialSources::new().bearer(false).basic(true))
            .realm("r")
            .build(),
    );
    let res = app
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenges: Vec<_> = res.headers().get_all("www-authenticate").iter().collect();
    assert_eq!(challenges, ["Basic realm=\"r\", charset=\"UTF-8\""]);
}
