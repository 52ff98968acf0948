//! Expiry.

use super::*;

#[tokio::test]
async fn a_token_is_refused_once_its_lifetime_has_passed() {
    let env = env().await;
    // Made before the clock moves: it shares the issuer's clock.
    let verifier = env.issuer.verifier();
    let body = send(&env.app(), post_form(&cc_body(APP, APP_SECRET)))
        .await
        .assert_token();
    let token = body["access_token"].as_str().unwrap();
    assert!(verify(&verifier, token).is_ok());

    env.clock.advance(Duration::from_secs(LIFETIME - 1));
    assert!(verify(&verifier, token).is_ok(), "one second before exp");
    assert!(verify(&env.issuer.verifier(), token).is_ok());

    env.clock.advance(Duration::from_secs(1));
    let err = verify(&verifier, token).unwrap_err();
    assert!(matches!(err, VerifyError::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(verify(&env.issuer.verifier(), token).is_err());

    // A token issued now is valid again, with iat/exp from the moved clock.
    let body = send(&env.app(), post_form(&cc_body(APP, APP_SECRET)))
        .await
        .assert_token();
    let fresh = body["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(fresh)["iat"], NOW + LIFETIME);
    assert!(verify(&verifier, fresh).is_ok());
}

#[tokio::test]
async fn issue_uses_the_configured_lifetime_and_scopes() {
    let env = env().await;
    let issued = env
        .issuer
        .issue("some-client", &["a".to_owned(), "b".to_owned()])
        .await
        .unwrap();
    assert_eq!(issued.token_type, "Bearer");
    assert_eq!(issued.expires_in, LIFETIME);
    assert_eq!(issued.scope, "a b");
    let claims = jwt_claims(&issued.access_token);
    assert_eq!(claims["exp"], NOW + LIFETIME);
    assert_eq!(claims["sub"], "some-client");
    assert_eq!(env.issuer.issuer_name(), ISS);
}

#[tokio::test]
async fn scopes_must_be_scope_tokens_and_defaults_must_be_allowed() {
    use tower_gatekeeper::issuer::RegisterError;
    let clients = ClientRegistry::new();
    assert_eq!(
        clients
            .register(Client::new("x", "s").allowed_scopes(["a b"]))
            .await
            .unwrap_err(),
        RegisterError::InvalidScope("a b".into())
    );
    assert_eq!(
        clients
            .register(Client::new("x", "s").allowed_scopes([""]))
            .await
            .unwrap_err(),
        RegisterError::InvalidScope(String::new())
    );
    assert_eq!(
        clients
            .register(
                Client::new("x", "s")
                    .allowed_scopes(["a"])
                    .default_scopes(["b"])
            )
            .await
            .unwrap_err(),
        RegisterError::DefaultScopeNotAllowed("b".into())
    );
    assert_eq!(
        clients.register(Client::new("", "s")).await.unwrap_err(),
        RegisterError::EmptyId
    );
    assert!(!clients.is_active("x").await.unwrap());
}

/// RFC 6749 Appendix A.1: `client-id = *VSCHAR`, `VSCHAR = %x20-7E`. Registration refuses an
/// id that is empty, longer than 255 bytes, or holds anything else, whichever way the client
/// is registered, and the error does not repeat the id.
#[tokio::test]
async fn client_ids_must_be_printable_ascii_and_at_most_255_bytes() {
    use tower_gatekeeper::issuer::{MAX_CLIENT_ID_LEN, RegisterError};
    assert_eq!(MAX_CLIENT_ID_LEN, 255);
    let generated = ClientRegistry::generate_secret();
    let ways: [fn(&str, &str) -> Client; 3] = [
        |id, _| Client::new(id, "a chosen secret"),
        |id, secret| Client::with_generated_secret(id, secret),
        |id, _| Client::with_secret_digest(id, [7; 32]),
    ];
    let too_long = "a".repeat(MAX_CLIENT_ID_LEN + 1);
    let refused = [
        ("ctl\u{1}x", RegisterError::InvalidId),
        ("nl\nFAKE LOG LINE", RegisterError::InvalidId),
        ("cr\rx", RegisterError::InvalidId),
        ("tab\tx", RegisterError::InvalidId),
        ("nul\0x", RegisterError::InvalidId),
        ("del\u{7f}x", RegisterError::InvalidId),
        ("we:ird+id é%", RegisterError::InvalidId),
        ("c1\u{85}x", RegisterError::InvalidId),
        ("zero\u{200b}width", RegisterError::InvalidId),
        ("ｆｕｌｌ", RegisterError::InvalidId),
        ("", RegisterError::EmptyId),
        (too_long.as_str(), RegisterError::IdTooLong),
    ];
    let clients = ClientRegistry::new();
    for way in ways {
        for (id, expected) in &refused {
            let error = clients.register(way(id, &generated)).await.unwrap_err();
            assert_eq!(&error, expected, "{id:?}");
            let text = error.to_string();
            if !id.is_empty() {
                assert!(!text.contains(id), "{text}");
            }
            assert!(!text.contains("FAKE"), "{text}");
            assert_eq!(
                &clients.create(way(id, &generated)).await.unwrap_err(),
                expected,
                "{id:?}"
            );
            assert!(!clients.contains(id).await.unwrap(), "{id:?}");
        }
    }
    // Every printable ASCII character and the space are fine, up to 255 bytes.
    let printable: String = (0x20u8..=0x7e).map(char::from).collect();
    let longest = "b".repeat(MAX_CLIENT_ID_LEN);
    for id in [
        printable.as_str(),
        longest.as_str(),
        " ",
        "~",
        "svc:reports+ops 100%",
    ] {
        clients
            .register(Client::with_generated_secret(id, &generated))
            .await
            .unwrap_or_else(|e| panic!("{id:?}: {e}"));
        assert!(
            clients
                .authenticate(id, &generated)
                .await
                .unwrap()
                .is_some()
        );
    }
}
