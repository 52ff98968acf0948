//! The responder owns every refusal: each ready-made shape used by a layer keeps the RFC 6750
//! status and challenges (every 401 still carries `WWW-Authenticate`, RFC 9110 §11.6.1), and
//! refusals made after the layer ran (the `Principal` and `MatchedApi` extractors, an
//! `AuthError` a handler returns) answer in that layer's realm and with its responder, not a
//! fixed `api` realm and OAuth body.

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use jsonwebtoken::{EncodingKey, Header};
use tower::ServiceExt;
use tower_gatekeeper::error::{AuthError, JsonResponder, Responder};
use tower_gatekeeper::grant::MatchedApi;
use tower_gatekeeper::verify::JwtVerifier;
use tower_gatekeeper::{GatekeeperLayer, Principal};

#[path = "support/reply.rs"]
mod reply;
use reply::{Reply, send};

const SECRET: &[u8] = b"responders-test-secret-0123456789abcdef";

fn token(scope: &str) -> String {
    let claims = serde_json::json!({"sub": "alice", "scope": scope, "exp": 4_000_000_000u64});
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

fn verifier() -> JwtVerifier {
    JwtVerifier::hs256(SECRET).unwrap()
}

/// `/me` needs the scope `me:read`; `/refuse` is a handler that returns an `AuthError`.
fn app(layer: GatekeeperLayer) -> Router {
    Router::new()
        .route(
            "/me",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        .route(
            "/refuse",
            get(|| async { Err::<String, _>(AuthError::invalid_token("the session ended")) }),
        )
        .route(
            "/api",
            get(|api: MatchedApi| async move { api.id().to_owned() }),
        )
        .layer(layer)
}

fn shaped(responder: impl Responder) -> Router {
    app(GatekeeperLayer::builder(verifier())
        .realm("shop")
        .responder(responder)
        .require_scopes(["me:read"])
        .build())
}

/// What each shape's body says for a refusal with `code`, `status` and `description`.
fn assert_shape(shape: JsonResponder, reply: &Reply, code: &str, description: &str) {
    let status = reply.status.as_u16();
    let json = reply.json();
    let want = match shape {
        JsonResponder::OAuth => {
            serde_json::json!({"error": code, "error_description": description})
        }
        JsonResponder::ErrorCodeMsg => {
            serde_json::json!({"error_code": code, "error_msg": description})
        }
        JsonResponder::CodeMsg => serde_json::json!({"code": status, "msg": description}),
        JsonResponder::Problem => serde_json::json!({
            "type": "about:blank",
            "title": reply.status.canonical_reason().unwrap(),
            "status": status,
            "detail": description,
        }),
        other => panic!("a shape this test does not know: {other:?}"),
    };
    assert_eq!(json, want, "{shape:?}");
    let content_type = match shape {
        JsonResponder::Problem => "application/problem+json",
        _ => "application/json",
    };
    assert_eq!(reply.header("content-type"), content_type, "{shape:?}");
    assert_eq!(reply.header("cache-control"), "no-store", "{shape:?}");
}

const SHAPES: [JsonResponder; 4] = [
    JsonResponder::OAuth,
    JsonResponder::ErrorCodeMsg,
    JsonResponder::CodeMsg,
    JsonResponder::Problem,
];

#[tokio::test]
async fn every_shape_keeps_the_status_and_every_401_its_challenge() {
    for shape in SHAPES {
        let app = shaped(shape);

        let r = send(&app, "/me", &[]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{shape:?}");
        assert_eq!(r.challenges(), [r#"Bearer realm="shop""#], "{shape:?}");
        assert_shape(shape, &r, "unauthorized", "no credential was presented");

        let bad = "Bearer not-a-jwt";
        let r = send(&app, "/me", &[("authorization", bad)]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{shape:?}");
        let challenges = r.challenges();
        assert_eq!(challenges.len(), 1, "{shape:?}: {challenges:?}");
        assert!(
            challenges[0].starts_with(r#"Bearer realm="shop", error="invalid_token""#),
            "{shape:?}: {challenges:?}"
        );
        assert_eq!(
            r.json().as_object().unwrap().len(),
            if shape == JsonResponder::Problem {
                4
            } else {
                2
            }
        );

        let r = send(
            &app,
            "/me",
            &[("authorization", &format!("Bearer {}", token("other")))],
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{shape:?}");
        assert_shape(
            shape,
            &r,
            "insufficient_scope",
            "the request requires the me:read scope",
        );
        assert!(
            r.challenges()[0].contains(r#"scope="me:read""#),
            "{shape:?}: {:?}",
            r.challenges()
        );

        let r = send(
            &app,
            "/me",
            &[("authorization", &format!("Bearer {}", token("me:read")))],
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{shape:?}");
        assert_eq!(r.body, "alice");
    }
}

#[tokio::test]
async fn a_principal_rejection_answers_in_the_layers_realm_and_shape() {
    // Optional mode lets an anonymous request reach the handler; its `Principal` extractor
    // refuses it the layer's way.
    for shape in SHAPES {
        let app = app(GatekeeperLayer::builder(verifier())
            .realm("shop")
            .responder(shape)
            .optional(true)
            .build());
        let r = send(&app, "/me", &[]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{shape:?}");
        assert_eq!(r.challenges(), [r#"Bearer realm="shop""#], "{shape:?}");
        assert_shape(shape, &r, "unauthorized", "no credential was presented");
    }

    // With no layer at all: the defaults (realm `api`, the OAuth body), still a challenge.
    let bare: Router = Router::new().route(
        "/me",
        get(|p: Principal| async move { p.subject().to_owned() }),
    );
    let r = send(&bare, "/me", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.challenges(), [r#"Bearer realm="api""#]);
    assert_shape(
        JsonResponder::OAuth,
        &r,
        "unauthorized",
        "no credential was presented",
    );
}

#[tokio::test]
async fn a_handlers_auth_error_is_answered_again_by_the_layer() {
    let good = format!("Bearer {}", token("me:read"));
    for shape in SHAPES {
        let r = send(&shaped(shape), "/refuse", &[("authorization", &good)]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{shape:?}");
        let challenges = r.challenges();
        assert_eq!(challenges.len(), 1, "{shape:?}: {challenges:?}");
        assert!(
            challenges[0].starts_with(r#"Bearer realm="shop", error="invalid_token""#),
            "the layer's realm, not `api`: {challenges:?}"
        );
        assert_shape(shape, &r, "invalid_token", "the session ended");
    }
}

#[tokio::test]
async fn a_matched_api_rejection_answers_with_the_layers_responder() {
    // No grant check ran, so no API was matched: 403, in the layer's shape.
    let good = format!("Bearer {}", token("me:read"));
    for shape in SHAPES {
        let r = send(&shaped(shape), "/api", &[("authorization", &good)]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{shape:?}");
        assert_shape(
            shape,
            &r,
            "access_denied",
            "no API is published at this path",
        );
    }
}

#[tokio::test]
async fn a_responder_of_its_own_decides_the_status_of_every_refusal() {
    use http_body_util::Full;
    use tower_gatekeeper::error::Refusal;

    /// A responder that hides protected routes behind 404s.
    struct Hide;
    impl Responder for Hide {
        fn respond(&self, _: &Refusal<'_>) -> http::Response<Full<Bytes>> {
            let mut r = http::Response::new(Full::new(Bytes::from_static(b"not here")));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    }
    let app = shaped(Hide);
    for path in ["/me", "/refuse"] {
        let r = send(&app, path, &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.body, "not here");
    }
    // The handler's own refusal goes through it too.
    let good = format!("Bearer {}", token("me:read"));
    let r = send(&app, "/refuse", &[("authorization", &good)]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// A gRPC responder used as the layer's only responder answers every refusal the gRPC way,
/// and keeps the challenge as metadata.
#[cfg(feature = "tonic")]
#[tokio::test]
async fn the_grpc_responder_as_the_layers_responder() {
    use tower_gatekeeper::grpc::GrpcResponder;
    let app = shaped(GrpcResponder);
    let r = send(&app, "/me", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "application/grpc");
    assert_eq!(r.header("grpc-status"), "16");
    assert_eq!(
        r.header("grpc-message"),
        "unauthorized: no credential was presented"
    );
    assert_eq!(r.challenges(), [r#"Bearer realm="shop""#]);
    assert!(r.body.is_empty());
    assert!(r.headers.get("cache-control").is_none());

    let r = send(
        &app,
        "/me",
        &[("authorization", &format!("Bearer {}", token("other")))],
    )
    .await;
    assert_eq!(r.header("grpc-status"), "7");
}

/// gRPC requests are answered the gRPC way even when refused further in (a handler's
/// `AuthError`, the `Principal` extractor); the other requests keep the layer's shape.
#[cfg(feature = "tonic")]
#[tokio::test]
async fn refusals_further_in_answer_grpc_requests_the_grpc_way() {
    let grpc = [("content-type", "application/grpc")];
    let good = format!("Bearer {}", token("me:read"));
    let app = shaped(JsonResponder::ErrorCodeMsg);
    let r = send(&app, "/refuse", &[grpc[0], ("authorization", &good)]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("grpc-status"), "16");
    assert_eq!(r.header("grpc-message"), "invalid_token: the session ended");
    assert!(
        r.challenges()[0].starts_with(r#"Bearer realm="shop""#),
        "{:?}",
        r.challenges()
    );
    let r = send(&app, "/api", &[grpc[0], ("authorization", &good)]).await;
    assert_eq!(r.header("grpc-status"), "7");

    let optional = app_optional_grpc();
    let r = send(&optional, "/me", &grpc).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("grpc-status"), "16");
    assert_eq!(r.challenges(), [r#"Bearer realm="shop""#]);

    // Not gRPC: the layer's own shape.
    let r = send(&app, "/refuse", &[("authorization", &good)]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_shape(
        JsonResponder::ErrorCodeMsg,
        &r,
        "invalid_token",
        "the session ended",
    );
}

#[cfg(feature = "tonic")]
fn app_optional_grpc() -> Router {
    app(GatekeeperLayer::builder(verifier())
        .realm("shop")
        .optional(true)
        .build())
}

/// The layer's responder is what `tower::Service` users get too, without axum's routing.
#[tokio::test]
async fn a_plain_tower_service_gets_the_problem_shape() {
    let service = tower::ServiceBuilder::new()
        .layer(
            GatekeeperLayer::builder(verifier())
                .realm("files")
                .responder(JsonResponder::Problem)
                .build(),
        )
        .service_fn(|_req: Request<_>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(Empty::<Bytes>::new()))
        });
    let response = service
        .oneshot(Request::get("/").body(Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="files""#
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    // RFC 9457 §3.1: `type` first is what the ready-made shape writes.
    assert!(
        body.starts_with(br#"{"type":"about:blank","title":"Unauthorized","status":401"#),
        "{body:?}"
    );
}
