//! Issuer, audience, required claims, typ.

use super::*;

#[test]
fn iss_is_checked() {
    let verifier = JwtVerifier::builder()
        .hs256(&secret(32))
        .issuer("https://a.example")
        .issuer("https://b.example")
        .clock(clock())
        .build()
        .unwrap();
    let with = |iss: Value| {
        let mut c = claims();
        c["iss"] = iss;
        hs256_token(&secret(32), &c)
    };
    assert!(verify(&verifier, &with(json!("https://a.example"))).is_ok());
    assert!(verify(&verifier, &with(json!("https://b.example"))).is_ok());
    for bad in [
        json!("https://c.example"),
        json!("https://a.example/"),
        json!("HTTPS://A.EXAMPLE"),
        json!(["https://a.example"]),
        json!(1),
        json!(null),
    ] {
        let why = assert_invalid(verify(&verifier, &with(bad.clone())));
        assert!(why.contains("issuer"), "{bad}: {why}");
    }
    // Missing iss.
    assert_invalid(verify(&verifier, &hs256_token(&secret(32), &claims())));
    // Without a configured issuer, any iss passes.
    assert!(
        verify(
            &hs256_verifier(&secret(32)),
            &with(json!("https://c.example"))
        )
        .is_ok()
    );
}

#[test]
fn aud_is_checked_as_string_and_array() {
    let verifier = JwtVerifier::builder()
        .hs256(&secret(32))
        .audience("orders-api")
        .audience("billing-api")
        .clock(clock())
        .build()
        .unwrap();
    let with = |aud: Value| {
        let mut c = claims();
        c["aud"] = aud;
        hs256_token(&secret(32), &c)
    };
    for good in [
        json!("orders-api"),
        json!("billing-api"),
        json!(["orders-api"]),
        json!(["other", "billing-api"]),
        json!([1, "orders-api"]),
    ] {
        assert!(verify(&verifier, &with(good.clone())).is_ok(), "{good}");
    }
    for bad in [
        json!("other"),
        json!("orders-api "),
        json!("ORDERS-API"),
        json!(["other"]),
        json!([]),
        json!(""),
        json!(1),
        json!({"aud": "orders-api"}),
        json!(null),
    ] {
        let why = assert_invalid(verify(&verifier, &with(bad.clone())));
        assert!(why.contains("audience"), "{bad}: {why}");
    }
    assert_invalid(verify(&verifier, &hs256_token(&secret(32), &claims())));
}

#[test]
fn required_claims_are_enforced() {
    let verifier = JwtVerifier::builder()
        .hs256(&secret(32))
        .required_claims(["exp", "jti", "tenant"])
        .clock(clock())
        .build()
        .unwrap();
    let full = json!({"sub": "u", "exp": NOW + 60, "jti": "id-1", "tenant": "t"});
    assert!(verify(&verifier, &hs256_token(&secret(32), &full)).is_ok());
    for missing in ["exp", "jti", "tenant"] {
        let mut c = full.clone();
        c.as_object_mut().unwrap().remove(missing);
        let why = assert_invalid(verify(&verifier, &hs256_token(&secret(32), &c)));
        assert!(why.contains(missing), "{why}");
    }
}

fn typed(typ: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = typ.map(str::to_owned);
    sign(&header, &claims(), &EncodingKey::from_secret(&secret(32)))
}

fn at_jwt_verifier(expected: &str) -> JwtVerifier {
    JwtVerifier::builder()
        .hs256(&secret(32))
        .typ(expected)
        .clock(clock())
        .build()
        .unwrap()
}

#[test]
fn typ_at_jwt_is_required_when_configured() {
    let verifier = at_jwt_verifier("at+jwt");
    for good in [
        "at+jwt",
        "application/at+jwt",
        "AT+JWT",
        "APPLICATION/AT+JWT",
    ] {
        assert!(verify(&verifier, &typed(Some(good))).is_ok(), "{good}");
    }
    for bad in [
        Some("JWT"),
        Some("jwt"),
        Some("application/jwt"),
        Some("at+jwt2"),
        Some("text/at+jwt"),
        Some(""),
        None,
    ] {
        let why = assert_invalid(verify(&verifier, &typed(bad)));
        assert!(why.contains("typ"), "{bad:?}: {why}");
    }
    // Without a configured typ, anything goes.
    let any = hs256_verifier(&secret(32));
    assert!(verify(&any, &typed(None)).is_ok());
    assert!(verify(&any, &typed(Some("JWT"))).is_ok());
}

#[test]
fn typ_prefix_is_case_insensitive() {
    let verifier = at_jwt_verifier("at+jwt");
    assert!(verify(&verifier, &typed(Some("Application/at+jwt"))).is_ok());
    assert!(verify(&verifier, &typed(Some("Application/AT+JWT"))).is_ok());
}

#[test]
fn typ_configured_with_the_application_prefix() {
    let verifier = at_jwt_verifier("application/at+jwt");
    assert!(verify(&verifier, &typed(Some("application/at+jwt"))).is_ok());
    assert!(verify(&verifier, &typed(Some("at+jwt"))).is_ok());
    assert_invalid(verify(&verifier, &typed(Some("JWT"))));
}
