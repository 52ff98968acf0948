//! Secrets.

use super::*;

#[tokio::test]
async fn the_client_secret_never_appears_in_a_response() {
    let env = env().await;
    let grant = [("grant_type", "client_credentials")];
    let mut requests: Vec<Request<Body>> = Vec::new();
    for (id, secret) in [(APP, APP_SECRET), (ODD, ODD_SECRET), (OFF, OFF_SECRET)] {
        requests.push(post_form(&cc_body(id, secret)));
        requests.push(post_form_basic(&basic(id, secret), &grant));
        requests.push(post_form_basic(&raw_basic(id, secret), &grant));
        requests.push(get_query(&cc_body(id, secret)));
        // Errors of every kind, the secret always present.
        let mut scope = cc_body(id, secret);
        scope.push(("scope", "forbidden"));
        requests.push(post_form(&scope));
        let mut repeated = cc_body(id, secret);
        repeated.push(("client_secret", secret));
        requests.push(post_form(&repeated));
        let mut grant_type = cc_body(id, secret);
        grant_type[0] = ("grant_type", "password");
        requests.push(post_form(&grant_type));
        requests.push(post_form_basic(&basic(id, secret), &cc_body(id, secret)));
        requests.push(post_form(&[("client_id", id), ("client_secret", secret)]));
        // The secret where the id should be.
        requests.push(post_form(&cc_body(secret, secret)));
        requests.push(post_form_basic(&basic(secret, secret), &grant));
        requests.push(
            Request::builder()
                .method(Method::POST)
                .uri("/oauth/token")
                .header(CONTENT_TYPE, "application/json")
                .body(Body::from(
                    json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret})
                        .to_string(),
                ))
                .unwrap(),
        );
    }
    let forbidden: Vec<String> = ALL_SECRETS
        .iter()
        .flat_map(|s| {
            [
                (*s).to_owned(),
                form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>(),
                STANDARD.encode(s),
                URL_SAFE_NO_PAD.encode(s),
            ]
        })
        .collect();
    let mut statuses = Vec::new();
    for request in requests {
        let reply = send(&env.app_with_get(), request).await;
        statuses.push(reply.status);
        let everything = reply.everything();
        for secret in &forbidden {
            assert!(
                !everything.contains(secret.as_str()),
                "{secret:?} leaked in {everything}"
            );
        }
        // Nor inside an issued token.
        if reply.status == StatusCode::OK {
            let token = reply.json()["access_token"].as_str().unwrap().to_owned();
            let claims = jwt_claims(&token).to_string();
            for secret in ALL_SECRETS {
                assert!(!claims.contains(secret));
            }
        }
    }
    assert!(statuses.contains(&StatusCode::OK));
    assert!(statuses.contains(&StatusCode::BAD_REQUEST));
    assert!(statuses.contains(&StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn debug_output_hides_secrets() {
    let client = Client::new(APP, APP_SECRET).allowed_scopes(["read"]);
    let registry = clients().await;
    let key = SigningKey::hs256(HMAC_SECRET).unwrap();
    let env = env().await;
    let shown = format!(
        "{client:?} {registry:?} {key:?} {:?} {:?}",
        env.issuer,
        env.issuer.token_endpoint()
    );
    for secret in ALL_SECRETS {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(!shown.contains("test-only signing secret"), "{shown}");
    let issued = env.issuer.issue(APP, &["read".to_owned()]).await.unwrap();
    let shown = format!("{issued:?}");
    assert!(!shown.contains(&issued.access_token), "{shown}");
}
