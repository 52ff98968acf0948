//! Revocations are remembered only until the token's own expiry.

use super::*;

#[tokio::test]
async fn revocations_are_remembered_only_until_the_tokens_expiry() {
    let env = env().await;
    // Three tokens issued at NOW (exp NOW + LIFETIME), all revoked.
    let mut early = Vec::new();
    for _ in 0..3 {
        early.push(env.token(APP, APP_SECRET, None).await);
    }
    for token in &early {
        assert_eq!(env.assert_revoke_get(token).await, "the token was revoked");
    }
    assert_eq!(env.issuer.tokens().revoked_len(), 3);

    // Half-way: one more, issued now (exp NOW + 1.5 LIFETIME); nothing has expired yet.
    env.advance(LIFETIME / 2);
    let mid = env.token(APP, APP_SECRET, None).await;
    env.revoke_post(Some((APP, APP_SECRET)), &[("token", &mid)])
        .await
        .assert_empty(StatusCode::OK);
    assert_eq!(env.issuer.tokens().revoked_len(), 4);

    // At the early tokens' expiry: their revocations go, the live one's stays.
    env.advance(LIFETIME / 2);
    let late = env.token(APP, APP_SECRET, None).await;
    env.assert_revoke_get(&late).await;
    assert_eq!(env.issuer.tokens().revoked_len(), 2);
    assert_eq!(env.assert_refused(&mid).await, "the token was revoked");
    for token in &early {
        assert_eq!(env.assert_refused(token).await, "the token has expired");
    }

    // Past every expiry: only the newest revocation is left.
    env.advance(2 * LIFETIME);
    let last = env.token(APP, APP_SECRET, None).await;
    env.assert_revoke_get(&last).await;
    assert_eq!(env.issuer.tokens().revoked_len(), 1);
    env.assert_refused(&last).await;
    env.assert_refused(&mid).await;

    // Opaque revocations are not in the list at all.
    let opaque = env.token(OPAQUE_APP, OPAQUE_SECRET, None).await;
    env.assert_revoke_get(&opaque).await;
    assert_eq!(env.issuer.tokens().revoked_len(), 1);
}
