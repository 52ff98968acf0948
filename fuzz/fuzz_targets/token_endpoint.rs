//! The issuer's four services — token, check, introspection, revocation — mounted by this
//! target on paths of its choosing, with the GET compatibility forms both off and on, and an
//! arbitrary method, path, query, headers and body. A path no mount names goes to a service
//! picked by the path's bytes (each service answers whatever path it is mounted on).
//!
//! | path | service |
//! | --- | --- |
//! | `/oauth/token` | `token_endpoint()` (POST only) |
//! | `/api/oauth2/server/tokens` | `token_endpoint().allow_get(true)` |
//! | `/oauth/token/check`, `/api/oauth2/server/tokens/check` | `check_endpoint()` |
//! | `/oauth/token/introspect` | `introspection_endpoint()` |
//! | `/oauth/token/revoke` | `revocation_endpoint()` (POST only) |
//! | `/api/oauth2/server/tokens/revoke` | `revocation_endpoint().allow_get_by_possession(true)` |
//!
//! The fuzzer cannot sign or guess a token, so an input may name a live one: every `@JWT@` in
//! it becomes a JWT freshly issued to `fuzz-app`, every `@OPAQUE@` an opaque token freshly
//! issued to `fuzz-opaque`.
//!
//! Invariants:
//! - no 5xx but 503; every 401 has a challenge (`Basic` for client authentication, `Bearer …
//!   error="invalid_token"` at the check), every 405 an `Allow` naming exactly the methods the
//!   mount takes; a GET form that is off is a 405, never an answer;
//! - no answer carries a client secret;
//! - a token is issued only by a token mount, only to an active registered client that
//!   authenticated in the request, only with scopes it may have, with `Cache-Control:
//!   no-store`; it verifies with the issuer's verifier as that client (kind `client`); then the
//!   check answers it, introspection says it is active for that client, revocation by
//!   possession ends it, and from then on the verifier, the check and introspection refuse it;
//! - introspection says `active` only for the live token the input named, with its client and
//!   scopes, and only to a request that authenticated a client; anything else is exactly
//!   `{"active": false}`; the check answers 200 only for that live token;
//! - a live token dies only by a 200 from a revocation mount: by possession (GET, where it is
//!   on), or from its own client (POST); another client's POST revocation leaves it live.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use tower_gatekeeper::clock::ManualClock;
use tower_gatekeeper::extract::{Credential, Source};
use tower_gatekeeper::issuer::{Client, ClientRegistry, SigningKey, TokenFormat, TokenIssuer};
use tower_gatekeeper::principal::PrincipalKind;
use tower_gatekeeper::verify::Verifier;
use tower_gatekeeper_fuzz::{Answer, RawRequest, block_on, call, check_common, parse};

/// A registered client. The seeds use these.
struct FuzzClient {
    id: &'static str,
    secret: &'static str,
    /// A generated secret (kept as a SHA-256 digest) rather than a chosen one (argon2).
    generated: bool,
    scopes: &'static [&'static str],
    format: TokenFormat,
    disabled: bool,
}

const CLIENTS: [FuzzClient; 3] = [
    FuzzClient {
        id: "fuzz-app",
        secret: "fuzz-app-secret-7f3a",
        generated: false,
        scopes: &["orders:read", "orders:write"],
        format: TokenFormat::Jwt,
        disabled: false,
    },
    FuzzClient {
        id: "fuzz-opaque",
        secret: "fuzz-opaque-generated-secret-91c2-0123456789abcdef",
        generated: true,
        scopes: &["reports:read"],
        format: TokenFormat::Opaque,
        disabled: false,
    },
    FuzzClient {
        id: "fuzz-off",
        secret: "fuzz-off-generated-secret-5d0e-0123456789abcdef",
        generated: true,
        scopes: &["orders:read"],
        format: TokenFormat::Jwt,
        disabled: true,
    },
];

/// What a live token an input names was issued to: (placeholder, client, scopes).
const LIVE: [(&str, &str, &[&str]); 2] = [
    ("@JWT@", "fuzz-app", &["orders:read"]),
    ("@OPAQUE@", "fuzz-opaque", &["reports:read"]),
];

static ISSUER: LazyLock<TokenIssuer> = LazyLock::new(|| {
    let clients = ClientRegistry::new();
    for c in CLIENTS {
        let client = if c.generated {
            Client::with_generated_secret(c.id, c.secret)
        } else {
            Client::new(c.id, c.secret)
        };
        block_on(
            clients.register(
                client
                    .allowed_scopes(c.scopes.iter().copied())
                    .token_format(c.format)
                    .disabled(c.disabled),
            ),
        )
        .expect("a client");
    }
    TokenIssuer::builder(SigningKey::hs256(b"fuzz-issuer-signing-key-0123456789").expect("a key"))
        .issuer("https://issuer.fuzz")
        .audience("fuzz-api")
        .lifetime(Duration::from_secs(600))
        .clients(clients)
        .clock(ManualClock::at_unix(1_800_000_000))
        .build()
});

/// The services, as this target mounts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mount {
    Token { get: bool },
    Check,
    Introspect,
    Revoke { get: bool },
}

impl Mount {
    const ALL: [Mount; 6] = [
        Mount::Token { get: false },
        Mount::Token { get: true },
        Mount::Check,
        Mount::Introspect,
        Mount::Revoke { get: false },
        Mount::Revoke { get: true },
    ];

    fn of(path: &str) -> Self {
        match path {
            "/oauth/token" => Mount::Token { get: false },
            "/api/oauth2/server/tokens" => Mount::Token { get: true },
            "/oauth/token/check" | "/api/oauth2/server/tokens/check" => Mount::Check,
            "/oauth/token/introspect" => Mount::Introspect,
            "/oauth/token/revoke" => Mount::Revoke { get: false },
            "/api/oauth2/server/tokens/revoke" => Mount::Revoke { get: true },
            other => {
                let sum: usize = other.bytes().map(usize::from).sum();
                Self::ALL[sum % Self::ALL.len()]
            }
        }
    }

    /// The `Allow` of this mount's 405.
    fn allow(self) -> &'static str {
        match self {
            Mount::Token { get: true } | Mount::Revoke { get: true } => "GET, POST",
            Mount::Check => "GET",
            _ => "POST",
        }
    }

    async fn call(self, issuer: &TokenIssuer, request: Request<Full<Bytes>>) -> Answer {
        match self {
            Mount::Token { get } => call(issuer.token_endpoint().allow_get(get), request).await,
            Mount::Check => call(issuer.check_endpoint(), request).await,
            Mount::Introspect => call(issuer.introspection_endpoint(), request).await,
            Mount::Revoke { get } => {
                let service = issuer.revocation_endpoint().allow_get_by_possession(get);
                call(service, request).await
            }
        }
    }
}

/// Every value the request could authenticate a client with: form parameters of the query
/// and the body (decoded), and the decoded halves of Basic headers.
fn presented(raw: &RawRequest, request: &Request<Full<Bytes>>) -> Vec<String> {
    let mut values: Vec<String> = Vec::new();
    let query = request.uri().query().unwrap_or("").as_bytes();
    for input in [query, raw.body.as_slice()] {
        values.extend(form_urlencoded::parse(input).map(|(_, v)| v.into_owned()));
    }
    for value in request.headers().get_all(http::header::AUTHORIZATION) {
        let text = String::from_utf8_lossy(value.as_bytes());
        let Some((_, encoded)) = text.split_once(' ') else {
            continue;
        };
        if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) {
            let decoded = String::from_utf8_lossy(&decoded).replace('+', " ");
            for half in decoded.split(':') {
                let half = percent_encoding_decode(half);
                values.push(half);
            }
            values.push(decoded);
        }
    }
    values
}

fn percent_encoding_decode(text: &str) -> String {
    form_urlencoded::parse(format!("x={}", text.replace('&', "%26")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Whether the request carries `client`'s secret where client authentication reads it.
fn carries_secret(values: &[String], client: &str) -> bool {
    let known = CLIENTS
        .iter()
        .find(|c| c.id == client)
        .expect("a known client");
    values.iter().any(|v| v.contains(known.secret))
}

fn is_live(issuer: &TokenIssuer, token: &str) -> bool {
    block_on(async { issuer.inspect(token).await }).is_ok()
}

fn get(target: &str) -> Request<Full<Bytes>> {
    Request::get(target)
        .body(Full::new(Bytes::new()))
        .expect("a request")
}

fn form(target: &str, body: String) -> Request<Full<Bytes>> {
    Request::post(target)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(body)))
        .expect("a request")
}

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The `scope` member of an answer about a token with `scopes`: none when it has none.
fn scope_member<S: AsRef<str>>(scopes: &[S]) -> Option<serde_json::Value> {
    let scopes: Vec<&str> = scopes.iter().map(AsRef::as_ref).collect();
    (!scopes.is_empty()).then(|| json!(scopes.join(" ")))
}

/// A token just issued over HTTP: it must work everywhere, then die by revocation.
async fn round_trip(issuer: &TokenIssuer, token: &str, client: &str, scopes: &[String]) {
    let verifier = issuer.verifier();
    let principal = verifier
        .verify(&Credential::bearer(token, Source::Header))
        .await
        .expect("the issued token verifies");
    assert_eq!(principal.subject(), client);
    assert_eq!(principal.client_id(), Some(client));
    assert_eq!(principal.kind(), PrincipalKind::Client);
    assert_eq!(principal.scopes(), scopes);

    let target = format!("/oauth/token/check?token={}", encode(token));
    let checked = Mount::Check.call(issuer, get(&target)).await;
    assert_eq!(checked.parts.status, StatusCode::OK, "{}", checked.text());
    let checked = checked.json().expect("JSON");
    assert_eq!(checked["access_token"], token);
    assert_eq!(checked.get("scope"), scope_member(scopes).as_ref());

    // Introspection as the client with a generated secret (no argon2 work).
    let FuzzClient {
        id: introspector,
        secret: introspector_secret,
        ..
    } = CLIENTS[1];
    let body = format!(
        "token={}&client_id={introspector}&client_secret={introspector_secret}",
        encode(token)
    );
    let introspected = Mount::Introspect
        .call(issuer, form("/oauth/token/introspect", body.clone()))
        .await;
    assert_eq!(introspected.parts.status, StatusCode::OK);
    let introspected = introspected.json().expect("JSON");
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(introspected["client_id"], client);
    assert_eq!(introspected.get("scope"), scope_member(scopes).as_ref());

    let target = format!("/api/oauth2/server/tokens/revoke?token={}", encode(token));
    let revoked = Mount::Revoke { get: true }.call(issuer, get(&target)).await;
    assert_eq!(revoked.parts.status, StatusCode::OK);
    assert_eq!(
        revoked.json().expect("JSON")["msg"],
        "the token was revoked"
    );

    assert!(
        verifier
            .verify(&Credential::bearer(token, Source::Header))
            .await
            .is_err(),
        "a revoked token verifies"
    );
    let target = format!("/oauth/token/check?token={}", encode(token));
    let checked = Mount::Check.call(issuer, get(&target)).await;
    assert_eq!(checked.parts.status, StatusCode::UNAUTHORIZED);
    let introspected = Mount::Introspect
        .call(issuer, form("/oauth/token/introspect", body))
        .await;
    assert_eq!(introspected.json(), Some(json!({"active": false})));
}

/// Replaces each placeholder with a token freshly issued for this input.
fn with_live_tokens(issuer: &TokenIssuer, data: &[u8]) -> (Vec<u8>, Vec<(String, usize)>) {
    let mut data = data.to_vec();
    let mut live = Vec::new();
    for (i, (placeholder, client, scopes)) in LIVE.iter().enumerate() {
        let needle = placeholder.as_bytes();
        if !data.windows(needle.len()).any(|w| w == needle) {
            continue;
        }
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        let token = block_on(issuer.issue(client, &scopes))
            .expect("a token")
            .access_token;
        let mut out = Vec::with_capacity(data.len());
        let mut rest = data.as_slice();
        while let Some(at) = rest.windows(needle.len()).position(|w| w == needle) {
            out.extend_from_slice(&rest[..at]);
            out.extend_from_slice(token.as_bytes());
            rest = &rest[at + needle.len()..];
        }
        out.extend_from_slice(rest);
        data = out;
        live.push((token, i));
    }
    (data, live)
}

fuzz_target!(|data: &[u8]| {
    let issuer = &*ISSUER;
    let (data, live) = with_live_tokens(issuer, data);
    let raw = parse(&data);
    let request = raw.to_request();
    let method = request.method().clone();
    let mount = Mount::of(request.uri().path());
    let values = presented(&raw, &request);
    let answer = block_on(mount.call(issuer, request));
    let status = answer.parts.status;
    check_common(&answer, &raw);
    let text = answer.text();
    for FuzzClient { secret, .. } in CLIENTS {
        assert!(
            !text.contains(secret),
            "a client secret in the answer: {raw:?} -> {text}"
        );
    }
    let header = |name: &str| {
        answer
            .parts
            .headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let challenge = header("www-authenticate").unwrap_or_default();

    // Methods: a mount answers only the methods it takes.
    let takes = match mount.allow() {
        "GET, POST" => method == Method::GET || method == Method::POST,
        "GET" => method == Method::GET,
        _ => method == Method::POST,
    };
    if !takes {
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{mount:?}: {raw:?}");
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        assert!(!takes, "{mount:?} refused {method}: {raw:?}");
        assert_eq!(header("allow").as_deref(), Some(mount.allow()), "{raw:?}");
    }

    let json = answer.json();
    let live_token = |t: &str| {
        live.iter()
            .find(|(token, _)| token == t)
            .map(|(_, i)| LIVE[*i])
    };
    match mount {
        Mount::Token { .. } => {
            if status == StatusCode::UNAUTHORIZED {
                assert!(
                    challenge.starts_with("Basic realm="),
                    "{challenge}: {raw:?}"
                );
            }
            if status == StatusCode::OK {
                let json = json.expect("a JSON answer");
                assert_eq!(
                    header("cache-control").as_deref(),
                    Some("no-store"),
                    "{raw:?}"
                );
                assert_eq!(header("pragma").as_deref(), Some("no-cache"), "{raw:?}");
                assert_eq!(json["token_type"], "Bearer");
                assert_eq!(json["expires_in"], 600);
                let token = json["access_token"].as_str().expect("an access token");
                let info = block_on(async { issuer.inspect(token).await })
                    .expect("the issued token is live");
                let FuzzClient {
                    id,
                    scopes: allowed,
                    disabled,
                    ..
                } = CLIENTS
                    .iter()
                    .find(|c| c.id == info.client_id)
                    .unwrap_or_else(|| panic!("a token for {}: {raw:?}", info.client_id));
                assert!(!disabled, "a token for the disabled {id}: {raw:?}");
                assert!(
                    carries_secret(&values, id),
                    "a token for {id}, whose secret the request does not carry: {raw:?}"
                );
                // No `scope` at all when none was granted: `""` is no scope (RFC 6749 §3.3).
                assert_ne!(json.get("scope"), Some(&json!("")), "{raw:?}");
                let scope = json["scope"].as_str().unwrap_or("");
                let scopes: Vec<String> = scope
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                for s in &scopes {
                    assert!(allowed.contains(&s.as_str()), "answered scope {s}: {raw:?}");
                }
                assert_eq!(info.scopes, scopes, "{raw:?}");
                block_on(round_trip(issuer, token, id, &scopes));
            }
        }
        Mount::Check => {
            if status == StatusCode::UNAUTHORIZED {
                assert!(
                    challenge.starts_with("Bearer realm=")
                        && challenge.contains("error=\"invalid_token\""),
                    "{challenge}: {raw:?}"
                );
            }
            if status == StatusCode::OK {
                let json = json.expect("a JSON answer");
                let token = json["access_token"].as_str().unwrap_or("");
                let (_, _, scopes) = live_token(token)
                    .unwrap_or_else(|| panic!("the check answered a made-up token: {raw:?}"));
                assert_eq!(json.get("scope"), scope_member(scopes).as_ref(), "{raw:?}");
                assert!(json["expires_in"].as_u64().is_some_and(|s| s <= 600));
            }
        }
        Mount::Introspect => {
            if status == StatusCode::UNAUTHORIZED {
                assert!(
                    challenge.starts_with("Basic realm="),
                    "{challenge}: {raw:?}"
                );
            }
            if status == StatusCode::OK {
                let json = json.expect("a JSON answer");
                if json != json!({"active": false}) {
                    assert_eq!(json["active"], true, "{json}: {raw:?}");
                    let client = json["client_id"].as_str().unwrap_or("");
                    let (_, _, scopes) = live
                        .iter()
                        .map(|(_, i)| LIVE[*i])
                        .find(|(_, owner, _)| *owner == client)
                        .unwrap_or_else(|| panic!("a made-up token is active ({json}): {raw:?}"));
                    assert_eq!(json["sub"], client, "{raw:?}");
                    assert_eq!(json.get("scope"), scope_member(scopes).as_ref(), "{raw:?}");
                    assert!(
                        CLIENTS.iter().any(|c| carries_secret(&values, c.id)),
                        "active without client authentication: {raw:?}"
                    );
                }
            }
        }
        Mount::Revoke { get } => {
            if status == StatusCode::UNAUTHORIZED {
                assert!(
                    challenge.starts_with("Basic realm="),
                    "{challenge}: {raw:?}"
                );
            }
            if status == StatusCode::OK && method == Method::GET {
                assert!(get, "{raw:?}");
                let json = json.expect("a JSON answer");
                assert_eq!(json["code"], 0, "{raw:?}");
            }
        }
    }

    // A live token dies only by revocation: by possession, or by its own client.
    for (token, i) in &live {
        if is_live(issuer, token) {
            continue;
        }
        let (_, owner, _) = LIVE[*i];
        assert!(
            matches!(mount, Mount::Revoke { .. }) && status == StatusCode::OK,
            "{owner}'s token died by {mount:?} {status}: {raw:?}"
        );
        if method == Method::POST {
            assert!(
                carries_secret(&values, owner),
                "{owner}'s token revoked without its secret: {raw:?}"
            );
        }
    }
});
