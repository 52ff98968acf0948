//! Time.

use super::*;

#[test]
fn exp_is_required_by_default() {
    let verifier = hs256_verifier(&secret(32));
    let token = hs256_token(&secret(32), &json!({"sub": "user-1"}));
    let why = assert_invalid(verify(&verifier, &token));
    assert!(why.contains("exp"), "{why}");

    // Not required once the list is replaced.
    let lenient = JwtVerifier::builder()
        .hs256(&secret(32))
        .required_claims(Vec::<String>::new())
        .clock(clock())
        .build()
        .unwrap();
    assert!(verify(&lenient, &token).is_ok());
}

#[test]
fn exp_is_exclusive_with_zero_leeway() {
    let clock = clock();
    let verifier = JwtVerifier::builder()
        .hs256(&secret(32))
        .leeway(0)
        .clock(clock.clone())
        .build()
        .unwrap();
    let exp = NOW + 10;
    let token = hs256_token(&secret(32), &json!({"sub": "user-1", "exp": exp}));

    clock.set_unix(exp - 1);
    let principal = verify(&verifier, &token).expect("one second before exp");
    assert_eq!(principal.identity().expires_at(), Some(exp));

    clock.set_unix(exp);
    let why = assert_invalid(verify(&verifier, &token));
    assert!(why.contains("expired"), "{why}");

    clock.set_unix(exp + 1);
    assert_invalid(verify(&verifier, &token));
}

#[test]
fn leeway_is_respected_on_exp() {
    let clock = clock();
    // Default leeway: 30 seconds.
    let default = JwtVerifier::builder()
        .hs256(&secret(32))
        .clock(clock.clone())
        .build()
        .unwrap();
    let custom = JwtVerifier::builder()
        .hs256(&secret(32))
        .leeway(120)
        .clock(clock.clone())
        .build()
        .unwrap();
    let exp = NOW;
    let token = hs256_token(&secret(32), &json!({"sub": "user-1", "exp": exp}));

    clock.set_unix(exp + 29);
    assert!(verify(&default, &token).is_ok());
    clock.set_unix(exp + 30);
    assert_invalid(verify(&default, &token));

    clock.set_unix(exp + 119);
    assert!(verify(&custom, &token).is_ok());
    clock.set_unix(exp + 120);
    assert_invalid(verify(&custom, &token));
}

#[test]
fn nbf_in_the_future_is_refused() {
    let clock = clock();
    let strict = JwtVerifier::builder()
        .hs256(&secret(32))
        .leeway(0)
        .clock(clock.clone())
        .build()
        .unwrap();
    let lenient = JwtVerifier::builder()
        .hs256(&secret(32))
        .leeway(60)
        .clock(clock.clone())
        .build()
        .unwrap();
    let token = hs256_token(
        &secret(32),
        &json!({"sub": "user-1", "exp": NOW + 600, "nbf": NOW + 60}),
    );
    let why = assert_invalid(verify(&strict, &token));
    assert!(why.contains("not valid yet"), "{why}");
    // Within leeway.
    assert!(verify(&lenient, &token).is_ok());
    // Once the time comes, accepted.
    clock.advance(std::time::Duration::from_secs(59));
    assert_invalid(verify(&strict, &token));
    clock.advance(std::time::Duration::from_secs(1));
    assert!(verify(&strict, &token).is_ok());
}

#[test]
fn non_numeric_time_claims_are_refused() {
    let verifier = hs256_verifier(&secret(32));
    for bad in [
        json!({"sub": "u", "exp": "1800000000"}),
        json!({"sub": "u", "exp": null}),
        json!({"sub": "u", "exp": -5}),
        json!({"sub": "u", "exp": NOW + 600, "nbf": "soon"}),
        json!({"sub": "u", "exp": NOW + 600, "nbf": [1]}),
    ] {
        assert_invalid(verify(&verifier, &hs256_token(&secret(32), &bad)));
    }
    // A fractional NumericDate is a number (RFC 7519 §2).
    let fractional = json!({"sub": "u", "exp": (NOW + 600) as f64 + 0.5});
    assert!(verify(&verifier, &hs256_token(&secret(32), &fractional)).is_ok());
}
