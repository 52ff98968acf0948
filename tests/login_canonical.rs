//! Logins and passwords are compared in one canonical form (RFC 7617 §2.1, RFC 8265): NFC and
//! NFD spellings are one login and one password; fullwidth forms are width-mapped; other
//! compatibility characters are refused at registration; the mapping is idempotent.

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::AUTHORIZATION;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use proptest::prelude::*;
use serde_json::Value;
use tower::ServiceExt as _;
use tower_gatekeeper::accounts::{UserAccount, UserError, UserRegistry, canonical_password};
use tower_gatekeeper::extract::CredentialSources;
use tower_gatekeeper::impersonate::{Impersonation, canonical_login, is_valid_login};
use tower_gatekeeper::principal::Identity;
use tower_gatekeeper::verify::{BasicUsers, BasicVerifier};
use tower_gatekeeper::{GatekeeperLayer, Principal};

const JOSE_NFC: &str = "jos\u{e9}";
const JOSE_NFD: &str = "jose\u{301}";

fn cheap_hash(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(8, 1, 1, None).unwrap();
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"canonical-salt!!").unwrap();
    argon
        .hash_password(canonical_password(password).as_bytes(), &salt)
        .unwrap()
        .to_string()
}

fn basic(login: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{login}:{password}")))
}

fn app(users: &UserRegistry) -> Router {
    Router::new()
        .route("/me", get(|p: Principal| async move { Json(p) }))
        .layer(
            GatekeeperLayer::builder(users.basic_verifier())
                .sources(CredentialSources::new().basic(true))
                .authorize(Impersonation::new(users.directory()))
                .build(),
        )
}

async fn call(app: &Router, uri: &str, auth: &str) -> (StatusCode, Value) {
    let response = app
        .clone()
        .oneshot(
            Request::get(uri)
                .header(AUTHORIZATION, auth)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[test]
fn nfc_nfd_width_and_case_are_one_login() {
    assert_ne!(JOSE_NFC, JOSE_NFD);
    assert_eq!(canonical_login(JOSE_NFC), canonical_login(JOSE_NFD));
    assert_eq!(canonical_login("JOSE\u{301}"), canonical_login(JOSE_NFC));
    // Fullwidth and halfwidth forms (RFC 8265 §3.4.1 step 1).
    assert_eq!(
        canonical_login("\u{FF41}\u{FF4C}\u{FF29}\u{FF43}\u{FF45}"),
        "alice"
    );
    assert_eq!(canonical_login("\u{FF76}"), "\u{30AB}"); // halfwidth katakana KA
    // Compatibility characters other than width are not folded, and cannot be registered.
    assert_ne!(canonical_login("\u{FB01}le"), "file");
    for bad in [
        "\u{FB01}le",
        "\u{210C}ans",
        "x\u{00B2}",
        "\u{2460}",
        "a\u{7}b",
        "",
    ] {
        assert!(!is_valid_login(bad), "{bad:?}");
    }
    for good in [
        JOSE_NFC,
        JOSE_NFD,
        "\u{FF41}lice",
        "Åsa",
        "dr.who",
        "王小明",
    ] {
        assert!(is_valid_login(good), "{good:?}");
    }
}

#[tokio::test]
async fn registration_refuses_a_second_spelling_and_compatibility_characters() {
    let users = UserRegistry::new();
    users
        .insert(UserAccount::new("1", JOSE_NFC).password_hash(cheap_hash("pw one")))
        .await
        .unwrap();
    for other in [JOSE_NFD, "JOS\u{c9}", "JOSE\u{301}", "\u{FF4A}os\u{e9}"] {
        assert_eq!(
            users.create(UserAccount::new("2", other)).await,
            Err(UserError::LoginNameTaken),
            "{other:?}"
        );
        assert_eq!(
            users.insert(UserAccount::new("2", other)).await,
            Err(UserError::LoginNameTaken),
            "{other:?}"
        );
    }
    assert!(!users.contains("2"));
    assert_eq!(
        users.create(UserAccount::new("3", "\u{FB01}le")).await,
        Err(UserError::LoginNameInvalid)
    );
    // The same user may be renamed to another spelling of its own login.
    users
        .insert(UserAccount::new("1", JOSE_NFD).password_hash(cheap_hash("pw one")))
        .await
        .unwrap();
}

#[tokio::test]
async fn basic_login_and_sudo_accept_every_spelling() {
    let users = UserRegistry::new();
    users
        .insert(UserAccount::new("1", JOSE_NFC).password_hash(cheap_hash("pw one")))
        .await
        .unwrap();
    users
        .insert(
            UserAccount::new("0", "root")
                .roles(["sudo"])
                .password_hash(cheap_hash("root pw")),
        )
        .await
        .unwrap();
    let app = app(&users);
    for login in [
        JOSE_NFC,
        JOSE_NFD,
        "JOSE\u{301}",
        "\u{FF4A}\u{FF4F}\u{FF53}\u{e9}",
    ] {
        let (status, body) = call(&app, "/me", &basic(login, "pw one")).await;
        assert_eq!(status, StatusCode::OK, "{login:?}: {body}");
        assert_eq!(body["subject"], "1");
        let (status, _) = call(&app, "/me", &basic(login, "pw two")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{login:?}");
    }
    // sudo=loginName: with the NFD form, percent-encoded, finds the NFC user.
    for selector in ["jose%CC%81", "jos%C3%A9", "JOSE%CC%81"] {
        let (status, body) = call(
            &app,
            &format!("/me?sudo=loginName:{selector}"),
            &basic("root", "root pw"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{selector}: {body}");
        assert_eq!(body["subject"], "1");
    }
}

#[tokio::test]
async fn passwords_are_nfc_before_hashing_and_before_verifying() {
    // The registry's own hashing path (argon2 default parameters: one user only).
    let users = UserRegistry::new();
    let nfc = "p\u{e4}ss\u{A0}word";
    users
        .insert(UserAccount::new("1", "anna").password(nfc))
        .await
        .unwrap();
    let app = app(&users);
    for typed in [
        nfc,
        "pa\u{308}ss\u{A0}word",
        "pa\u{308}ss word",
        "p\u{e4}ss\u{2003}word",
    ] {
        let (status, body) = call(&app, "/me", &basic("anna", typed)).await;
        assert_eq!(status, StatusCode::OK, "{typed:?}: {body}");
    }
    for wrong in ["pass word", "P\u{e4}ss word", "p\u{e4}ssword"] {
        let (status, _) = call(&app, "/me", &basic("anna", wrong)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{wrong:?}");
    }
}

#[tokio::test]
async fn basic_users_alone_key_by_the_canonical_login() {
    let users = BasicUsers::new();
    users
        .insert_hash(JOSE_NFD, &cheap_hash("pw"), Identity::new("u"))
        .unwrap();
    assert!(users.contains(JOSE_NFC));
    assert!(users.contains("Jos\u{c9}"));
    let verifier = BasicVerifier::new(users.clone());
    let app: Router = Router::new()
        .route("/me", get(|p: Principal| async move { Json(p) }))
        .layer(
            GatekeeperLayer::builder(verifier)
                .sources(CredentialSources::new().basic(true))
                .build(),
        );
    let (status, body) = call(&app, "/me", &basic(JOSE_NFC, "pw")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kind"], "user");
    assert!(users.set_disabled(JOSE_NFC, true));
    assert_eq!(users.is_disabled(JOSE_NFD), Some(true));
    assert!(users.remove("JOSE\u{301}"));
    assert!(!users.contains(JOSE_NFC));
}

/// Strings rich in what canonicalisation touches: combining marks, precomposed letters,
/// fullwidth forms, case pairs with special rules (İ, Σ, ß, ǅ), singletons (K, Å, Ω).
fn tricky() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "a", "A", "e", "\u{301}", "\u{308}", "\u{323}", "\u{e9}", "\u{c9}", "\u{130}", "\u{131}",
        "\u{3a3}", "\u{3c3}", "\u{3c2}", "\u{df}", "\u{1e9e}", "\u{1c5}", "\u{212a}", "\u{212b}",
        "\u{2126}", "\u{ff21}", "\u{ff41}", "\u{ff76}", "\u{ff9e}", "\u{3000}", "\u{fb01}",
        "\u{1100}", "\u{1161}", "\u{11a8}", "\u{ac00}", " ", "-", "\u{345}", "\u{399}",
    ]);
    prop::collection::vec(pieces, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn canonical_login_is_idempotent(s in "\\PC{0,16}") {
        let once = canonical_login(&s);
        prop_assert_eq!(canonical_login(&once), once);
    }

    #[test]
    fn canonical_login_is_idempotent_on_tricky_strings(s in tricky()) {
        let once = canonical_login(&s);
        prop_assert_eq!(canonical_login(&once), once.clone());
        // NFD and NFC input give the same login.
        use unicode_normalization::UnicodeNormalization;
        let nfd: String = s.nfd().collect();
        let nfc: String = s.nfc().collect();
        prop_assert_eq!(canonical_login(&nfd), once.clone());
        prop_assert_eq!(canonical_login(&nfc), once);
    }

    #[test]
    fn canonical_password_is_idempotent(s in tricky()) {
        let once = canonical_password(&s).into_owned();
        prop_assert_eq!(canonical_password(&once), once.as_str());
        use unicode_normalization::UnicodeNormalization;
        let nfd: String = s.nfd().collect();
        prop_assert_eq!(canonical_password(&nfd), once.as_str());
    }
}
