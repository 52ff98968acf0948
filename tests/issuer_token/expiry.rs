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
