//! `WWW-Authenticate` names only the schemes a layer accepts, and every 401 carries at least
//! one challenge (RFC 9110 §11.6.1, RFC 6750 §3, RFC 7617 §2): every combination of accepted
//! schemes × every kind of refusal, through the layer.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use http::header::{AUTHORIZATION, CONNECTION, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{Request, StatusCode};
use tower::ServiceExt;
use tower_gatekeeper::error::{AuthError, ErrorKind};
use tower_gatekeeper::extract::{Credential, CredentialSources};
use tower_gatekeeper::layer::Authorize;
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::{
    ApiKeyStore, ApiKeyVerifier, BasicUsers, BasicVerifier, VerifyError,
};
use tower_gatekeeper::{GatekeeperLayer, MaybeReady, Principal};

const REALM: &str = "orders";
const BEARER: &str = r#"Bearer realm="orders""#;
const BASIC: &str = r#"Basic realm="orders", charset="UTF-8""#;
const API_KEY: &str = r#"ApiKey realm="orders", header="x-api-key""#;

/// Accepts any credential whose secret is `ok` (a Basic password included).
fn accept_ok(c: Credential<'static>) -> std::future::Ready<Result<Principal, VerifyError>> {
    let ok = c.token() == Some("ok") || c.basic_parts().is_some_and(|(_, p)| p == "ok");
    std::future::ready(if ok {
        Ok(Principal::new(Identity::new("caller")))
    } else {
        Err(VerifyError::invalid("bad credential"))
    })
}

/// Refuses with the kind named in the `x-refuse` header; admits otherwise.
struct RefuseAsAsked;

impl Authorize for RefuseAsAsked {
    fn authorize(
        &self,
        principal: Principal,
        parts: &mut Parts,
    ) -> MaybeReady<Result<Principal, AuthError>> {
        let asked = parts
            .headers
            .get("x-refuse")
            .and_then(|v| v.to_str().ok())
            .and_then(refusal);
        MaybeReady::Ready(match asked {
            Some(error) => Err(error),
            None => Ok(principal),
        })
    }
}

fn refusal(name: &str) -> Option<AuthError> {
    Some(match name {
        "invalid_token" => AuthError::invalid_token("bad credential"),
        "invalid_request" => AuthError::invalid_request("bad request"),
        "insufficient_scope" => AuthError::insufficient_scope("orders:write"),
        "forbidden" => AuthError::forbidden("not yours"),
        "payload_too_large" => AuthError::payload_too_large(),
        "request_timeout" => AuthError::request_timeout(),
        "unavailable" => AuthError::unavailable("backend down"),
        _ => return None,
    })
}

/// Which schemes a layer accepts.
#[derive(Debug, Clone, Copy)]
struct Accepts {
    bearer: bool,
    basic: bool,
    api_key: bool,
    /// Bearer tokens from the query only, not from `Authorization`.
    bearer_by_query: bool,
}

impl Accepts {
    fn sources(self) -> CredentialSources {
        let mut s = CredentialSources::new()
            .bearer(self.bearer && !self.bearer_by_query)
            .basic(self.basic);
        if self.api_key {
            s = s.api_key_header("x-api-key");
        }
        if self.bearer_by_query {
            s = s.query("access_token");
        }
        s
    }

    fn app(self) -> Router {
        Router::new().route("/", get(|| async { "ok" })).layer(
            GatekeeperLayer::builder(accept_ok)
                .realm(REALM)
                .sources(self.sources())
                .authorize(RefuseAsAsked)
                .build(),
        )
    }

    /// A request carrying a credential of an accepted kind, with `secret`.
    fn request(self, secret: &str) -> Option<http::request::Builder> {
        let b = Request::get("/");
        if self.bearer_by_query {
            Some(Request::get(format!("/?access_token={secret}")))
        } else if self.bearer {
            Some(b.header(AUTHORIZATION, format!("Bearer {secret}")))
        } else if self.basic {
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!("u:{secret}"));
            Some(b.header(AUTHORIZATION, format!("Basic {encoded}")))
        } else if self.api_key {
            Some(b.header("x-api-key", secret))
        } else {
            None
        }
    }

    fn none(self) -> bool {
        !self.bearer && !self.basic && !self.api_key
    }
}

/// The challenges expected for `kind`, written from the rules, not from the code.
fn expected(accepts: Accepts, kind: ErrorKind, description: &str) -> Vec<String> {
    let bearer_error = |code: &str, scope: Option<&str>| {
        let mut v =
            format!(r#"Bearer realm="orders", error="{code}", error_description="{description}""#);
        if let Some(scope) = scope {
            v.push_str(&format!(r#", scope="{scope}""#));
        }
        v
    };
    let mut out = Vec::new();
    match kind {
        ErrorKind::MissingCredential | ErrorKind::InvalidToken => {
            // A 401 must challenge; with nothing accepted, a bare Bearer.
            if accepts.bearer || accepts.none() {
                out.push(if kind == ErrorKind::InvalidToken {
                    bearer_error("invalid_token", None)
                } else {
                    BEARER.to_owned()
                });
            }
            if accepts.basic {
                out.push(BASIC.to_owned());
            }
            if accepts.api_key {
                out.push(API_KEY.to_owned());
            }
        }
        ErrorKind::InvalidRequest if accepts.bearer => {
            out.push(bearer_error("invalid_request", None));
        }
        ErrorKind::InsufficientScope if accepts.bearer => {
            out.push(bearer_error("insufficient_scope", Some("orders:write")));
        }
        // RFC 6750 §3: a token that does not enable access is challenged; §3.1's code for a
        // 403 is `insufficient_scope`. (`request` presents a bearer token wherever one is
        // accepted.)
        ErrorKind::Forbidden if accepts.bearer => {
            out.push(bearer_error("insufficient_scope", None));
        }
        _ => {}
    }
    out
}

fn every_combination() -> Vec<Accepts> {
    let mut all = Vec::new();
    for bits in 0..8u8 {
        all.push(Accepts {
            bearer: bits & 1 != 0,
            basic: bits & 2 != 0,
            api_key: bits & 4 != 0,
            bearer_by_query: false,
        });
    }
    // Bearer accepted only from the query: still a Bearer layer.
    for api_key in [false, true] {
        all.push(Accepts {
            bearer: true,
            basic: false,
            api_key,
            bearer_by_query: true,
        });
    }
    all
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, Vec<String>, Option<String>) {
    let res = app.clone().oneshot(req).await.unwrap();
    let challenges = res
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let connection = res
        .headers()
        .get(CONNECTION)
        .map(|v| v.to_str().unwrap().to_owned());
    (res.status(), challenges, connection)
}

#[tokio::test]
async fn every_scheme_combination_times_every_refusal() {
    let kinds = [
        ("invalid_token", ErrorKind::InvalidToken, "bad credential"),
        ("invalid_request", ErrorKind::InvalidRequest, "bad request"),
        (
            "insufficient_scope",
            ErrorKind::InsufficientScope,
            "the request requires the orders:write scope",
        ),
        ("forbidden", ErrorKind::Forbidden, "not yours"),
        (
            "payload_too_large",
            ErrorKind::PayloadTooLarge,
            "the request body exceeds the size limit",
        ),
        (
            "request_timeout",
            ErrorKind::RequestTimeout,
            "the request body did not arrive in time",
        ),
        ("unavailable", ErrorKind::Unavailable, "backend down"),
    ];
    let mut checked = 0;
    for accepts in every_combination() {
        let app = accepts.app();

        // No credential.
        let (status, challenges, _) =
            send(&app, Request::get("/").body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{accepts:?}");
        assert_eq!(
            challenges,
            expected(accepts, ErrorKind::MissingCredential, ""),
            "{accepts:?} missing"
        );
        assert!(
            !challenges.is_empty(),
            "{accepts:?}: a 401 without challenge"
        );
        checked += 1;

        let Some(_) = accepts.request("ok") else {
            continue;
        };
        // A credential the verifier refuses: 401 invalid_token, from the verifier itself.
        let (status, challenges, _) = send(
            &app,
            accepts
                .request("wrong")
                .unwrap()
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{accepts:?}");
        assert_eq!(
            challenges,
            expected(accepts, ErrorKind::InvalidToken, "bad credential"),
            "{accepts:?} verifier refusal"
        );
        assert!(!challenges.is_empty());

        // Every kind of refusal, from a stage after a good credential.
        for (name, kind, description) in kinds {
            let (status, challenges, connection) = send(
                &app,
                accepts
                    .request("ok")
                    .unwrap()
                    .header("x-refuse", name)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
            assert_eq!(status, kind.status(), "{accepts:?} {name}");
            assert_eq!(
                challenges,
                expected(accepts, kind, description),
                "{accepts:?} {name}"
            );
            if status == StatusCode::UNAUTHORIZED {
                assert!(!challenges.is_empty(), "{accepts:?} {name}");
            }
            assert_eq!(
                connection.as_deref(),
                (kind == ErrorKind::RequestTimeout).then_some("close"),
                "{accepts:?} {name}"
            );
            checked += 1;
        }
    }
    // Ten combinations; nine of them accept a credential to present.
    assert_eq!(checked, 10 + 9 * 7, "every row ran");
}

#[tokio::test]
async fn a_forbidden_password_or_api_key_gets_no_access_token_challenge() {
    let accepts = Accepts {
        bearer: true,
        basic: true,
        api_key: true,
        bearer_by_query: false,
    };
    let app = accepts.app();
    let basic = base64::engine::general_purpose::STANDARD.encode("u:ok");
    for (name, value) in [
        (AUTHORIZATION.as_str(), format!("Basic {basic}")),
        ("x-api-key", "ok".to_owned()),
    ] {
        let req = Request::get("/")
            .header(name, value)
            .header("x-refuse", "forbidden")
            .body(Body::empty())
            .unwrap();
        let (status, challenges, _) = send(&app, req).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
        assert_eq!(challenges, Vec::<String>::new(), "{name}");
    }
    // The same refusal of a bearer token is challenged.
    let req = Request::get("/")
        .header(AUTHORIZATION, "Bearer ok")
        .header("x-refuse", "forbidden")
        .body(Body::empty())
        .unwrap();
    let (status, challenges, _) = send(&app, req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        challenges,
        expected(accepts, ErrorKind::Forbidden, "not yours")
    );
    assert_eq!(challenges.len(), 1);
}

#[tokio::test]
async fn a_basic_only_layer_never_advertises_bearer() {
    let users = BasicUsers::new();
    users
        .insert_password("alice", "pw", Identity::new("u-alice"))
        .unwrap();
    let app = Router::new().route("/", get(|| async { "ok" })).layer(
        GatekeeperLayer::builder(BasicVerifier::new(users))
            .realm(REALM)
            .sources(CredentialSources::new().bearer(false).basic(true))
            .build(),
    );
    let basic = |raw: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    };
    // Wrong password: 401, Basic only.
    let (status, challenges, _) = send(
        &app,
        Request::get("/")
            .header(AUTHORIZATION, basic("alice:nope"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenges, [BASIC]);
    // Malformed Basic: 400, and no Bearer error challenge.
    let (status, challenges, _) = send(
        &app,
        Request::get("/")
            .header(AUTHORIZATION, "Basic !!!")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(challenges.is_empty(), "{challenges:?}");
    // A bearer token is no credential here: 401 with the Basic challenge only.
    let (status, challenges, _) = send(
        &app,
        Request::get("/")
            .header(AUTHORIZATION, "Bearer abc")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenges, [BASIC]);
}

#[tokio::test]
async fn an_api_key_only_layer_challenges_with_its_header() {
    let keys = ApiKeyStore::new();
    keys.insert("k-1", Identity::new("svc")).await.unwrap();
    let app = Router::new().route("/", get(|| async { "ok" })).layer(
        GatekeeperLayer::builder(ApiKeyVerifier::new(keys))
            .realm(REALM)
            .sources(
                CredentialSources::new()
                    .bearer(false)
                    .api_key_header("x-api-key")
                    .api_key_header("apikey"),
            )
            .build(),
    );
    let both = [
        API_KEY.to_owned(),
        r#"ApiKey realm="orders", header="apikey""#.to_owned(),
    ];
    let (status, challenges, _) = send(&app, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenges, both);
    let (status, challenges, _) = send(
        &app,
        Request::get("/")
            .header("x-api-key", "k-2")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenges, both);
    let (status, _, _) = send(
        &app,
        Request::get("/")
            .header("apikey", "k-1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_realm_and_header_name_are_quoted() {
    let app = Router::new().route("/", get(|| async { "ok" })).layer(
        GatekeeperLayer::builder(accept_ok)
            .realm(r#"a "quoted" \realm"#)
            .sources(
                CredentialSources::new()
                    .bearer(false)
                    .api_key_header("x-key"),
            )
            .build(),
    );
    let (_, challenges, _) = send(&app, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(
        challenges,
        [r#"ApiKey realm="a \"quoted\" \\realm", header="x-key""#]
    );
}

/// A refusal a handler returns is answered by the layer, which knows what the request
/// presented: a password's 403 carries no access-token challenge, a bearer token's does, and
/// so for `insufficient_scope` as for `access_denied`.
#[tokio::test]
async fn a_handlers_refusal_is_challenged_by_what_was_presented() {
    let app = Router::new()
        .route(
            "/forbidden",
            get(|| async { Err::<(), _>(AuthError::forbidden("the handler says no")) }),
        )
        .route(
            "/scope",
            get(|| async { Err::<(), _>(AuthError::insufficient_scope("orders:write")) }),
        )
        .layer(
            GatekeeperLayer::builder(accept_ok)
                .realm(REALM)
                .sources(CredentialSources::new().bearer(true).basic(true))
                .build(),
        );
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("u:ok")
    );
    for path in ["/forbidden", "/scope"] {
        let req = |auth: &str| {
            Request::get(path)
                .header(AUTHORIZATION, auth)
                .body(Body::empty())
                .unwrap()
        };
        let (status, challenges, _) = send(&app, req(&basic)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(challenges, Vec::<String>::new(), "{path}");
        let (status, challenges, _) = send(&app, req("Bearer ok")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(challenges.len(), 1, "{path}");
        assert!(
            challenges[0].contains(r#"error="insufficient_scope""#),
            "{path}: {challenges:?}"
        );
    }
}
