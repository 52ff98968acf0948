//! `config`: every kind of mistake in a configuration file is refused with an error that names
//! the file, the entry and the field (or the line and column, for syntax), and never shows a
//! secret. Each test breaks one thing in an otherwise valid file, so the error is that one.

use tower_gatekeeper::config::{BuildOptions, Config, ConfigError, ConfigProblem};

const ORIGIN: &str = "conf/gatekeeper.toml";

/// A valid file: every test below changes one thing in it.
const VALID: &str = r#"
audience = "api"
issuer = "https://auth.example"

[signing_key]
algorithm = "HS256"
secret = "a-signing-secret-of-at-least-32-bytes"

[[clients]]
client_id = "app-1"
client_secret = "app-1-secret"
scopes = ["orders:read"]

[[clients]]
client_id = "app-2"
client_secret = "app-2-secret"

[[users]]
uid = "1001"
login_name = "alice"
password = "alice-password"
tenants = ["t-1"]

[[tenants]]
id = "t-1"
code = "acme"

[[apis]]
id = "orders"
path = "/api/orders"
methods = ["GET"]
auth = ["bearer"]

[[api_keys]]
key = "key-of-reporting-0001"
owner = "reporting"

[[grants]]
client = "app-1"
api = "orders"
expires_at = "2030-01-01T00:00:00Z"
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, ORIGIN)
}

/// `VALID` with `from` replaced by `to` (which must occur exactly once).
fn with(from: &str, to: &str) -> String {
    assert_eq!(VALID.matches(from).count(), 1, "{from:?} must occur once");
    VALID.replace(from, to)
}

/// Asserts a semantic error naming `entry` and `field`, and returns its problem.
#[track_caller]
fn invalid(text: &str, entry: &str, field: &str) -> ConfigProblem {
    let err = parse(text).expect_err("the file must be refused");
    assert_names(&err, entry, field)
}

#[track_caller]
fn assert_names(err: &ConfigError, entry: &str, field: &str) -> ConfigProblem {
    assert_eq!(err.origin(), ORIGIN, "{err}");
    assert_eq!(err.entry(), Some(entry), "{err}");
    assert_eq!(err.field(), Some(field), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{ORIGIN}: {entry}: {field}: ")),
        "the message names file, entry and field: {text}"
    );
    err.problem()
        .expect("a semantic error has a problem")
        .clone()
}

#[test]
fn the_valid_file_is_valid() {
    let config = parse(VALID).unwrap();
    assert_eq!(config.origin, ORIGIN);
    assert_eq!(config.clients.len(), 2);
}

// Syntax and types ---------------------------------------------------------------------------

#[test]
fn a_syntax_error_names_the_file_line_and_column() {
    let text = "audience = \"api\"\n[signing_key]\nalgorithm = \"HS256\nsecret = \"x\"\n";
    let err = parse(text).unwrap_err();
    assert_eq!(err.origin(), ORIGIN);
    let (line, column) = err.line_column().expect("a syntax error has a position");
    assert_eq!(line, 3, "{err}");
    assert!(column > 1, "{err}");
    assert!(
        err.to_string().starts_with(&format!("{ORIGIN}:3:")),
        "{err}"
    );
    assert_eq!(err.entry(), None);
}

#[test]
fn an_unknown_key_is_refused_with_its_name_and_line() {
    let text = VALID.replace(
        "[[clients]]\nclient_id = \"app-2\"",
        "[[clients]]\nclient_id = \"app-2\"\nscope = [\"typo\"]",
    );
    let err = parse(&text).unwrap_err();
    let ConfigError::Syntax { line, message, .. } = &err else {
        panic!("a syntax error: {err}");
    };
    let expected = text.lines().position(|l| l.starts_with("scope =")).unwrap() + 1;
    assert_eq!(*line, expected, "{err}");
    assert!(message.contains("scope"), "{err}");
}

#[test]
fn a_missing_required_key_is_named() {
    let err = parse(&with("audience = \"api\"\n", "")).unwrap_err();
    assert!(err.line_column().is_some(), "{err}");
    assert!(err.to_string().contains("audience"), "{err}");
}

#[test]
fn a_secret_of_the_wrong_type_is_not_quoted_in_the_error() {
    let line = VALID
        .lines()
        .find(|l| l.starts_with("client_secret = "))
        .expect("a client secret in the valid config");
    let err = parse(&VALID.replacen(line, "client_secret = 987654321", 1)).unwrap_err();
    let text = err.to_string();
    assert!(!text.contains("987654321"), "{text}");
    assert!(text.contains("invalid type: integer, expected"), "{text}");
    assert!(err.line_column().is_some(), "{text}");
}

#[test]
fn a_value_of_the_wrong_type_is_refused_where_it_is() {
    let err = parse(&with(
        "scopes = [\"orders:read\"]",
        "scopes = \"orders:read\"",
    ))
    .unwrap_err();
    let (line, _) = err.line_column().unwrap();
    let expected = VALID
        .lines()
        .position(|l| l.starts_with("scopes ="))
        .unwrap()
        + 1;
    assert_eq!(line, expected, "{err}");
}

#[test]
fn an_unsupported_algorithm_is_refused_where_it_is() {
    let err = parse(&with("algorithm = \"HS256\"", "algorithm = \"none\"")).unwrap_err();
    assert!(err.line_column().is_some(), "{err}");
    assert!(err.to_string().contains("none"), "{err}");
}

#[test]
fn an_unreadable_file_names_the_path() {
    let err = Config::from_toml_file("/nonexistent/gatekeeper.toml").unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err}");
    assert_eq!(err.origin(), "/nonexistent/gatekeeper.toml");
}

#[test]
fn a_file_names_itself_in_its_errors() {
    let dir = std::env::temp_dir().join(format!("gatekeeper-config-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("short-secret.toml");
    std::fs::write(
        &path,
        with("a-signing-secret-of-at-least-32-bytes", "short"),
    )
    .unwrap();
    let err = Config::from_toml_file(&path).unwrap_err();
    assert_eq!(err.origin(), path.display().to_string());
    assert_eq!(err.entry(), Some("signing_key"));
    assert_eq!(err.field(), Some("secret"));
    let _ = std::fs::remove_dir_all(&dir);
}

// The signing key ------------------------------------------------------------------------------

#[test]
fn an_hs256_secret_shorter_than_32_bytes_is_refused_without_showing_it() {
    let secret = "only-31-bytes-long-secret-value";
    assert_eq!(secret.len(), 31);
    let text = with("a-signing-secret-of-at-least-32-bytes", secret);
    let problem = invalid(&text, "signing_key", "secret");
    assert_eq!(
        problem,
        ConfigProblem::TooShort {
            min: 32,
            actual: 31
        }
    );
    let err = parse(&text).unwrap_err();
    assert!(!err.to_string().contains(secret), "{err}");
    assert!(!format!("{err:?}").contains(secret), "{err:?}");
}

#[test]
fn hs256_without_a_secret_is_refused() {
    let text = with("secret = \"a-signing-secret-of-at-least-32-bytes\"\n", "");
    assert_eq!(
        invalid(&text, "signing_key", "secret"),
        ConfigProblem::Missing
    );
}

#[tokio::test]
async fn an_rs256_key_file_that_is_missing_is_named_at_build() {
    let text = with(
        "algorithm = \"HS256\"\nsecret = \"a-signing-secret-of-at-least-32-bytes\"",
        "algorithm = \"RS256\"\nprivate_key_pem = \"no-such-key.pem\"",
    );
    let err = parse(&text)
        .unwrap()
        .build(BuildOptions::new())
        .await
        .unwrap_err();
    let problem = assert_names(&err, "signing_key", "private_key_pem");
    assert!(matches!(problem, ConfigProblem::Rejected(_)), "{err}");
    assert!(err.to_string().contains("no-such-key.pem"), "{err}");
}

#[tokio::test]
async fn an_rs256_key_file_that_is_not_a_key_is_named_at_build() {
    let dir = std::env::temp_dir().join(format!("gatekeeper-config-pem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bad.pem"), "not a pem").unwrap();
    let text = with(
        "algorithm = \"HS256\"\nsecret = \"a-signing-secret-of-at-least-32-bytes\"",
        "algorithm = \"RS256\"\nprivate_key_pem = \"bad.pem\"",
    );
    let err = parse(&text)
        .unwrap()
        .build(BuildOptions::new().base_dir(&dir))
        .await
        .unwrap_err();
    assert_names(&err, "signing_key", "private_key_pem");
    let _ = std::fs::remove_dir_all(&dir);
}

// Duplicates -----------------------------------------------------------------------------------

#[test]
fn a_duplicate_client_id_names_both_entries() {
    let text = with("client_id = \"app-2\"", "client_id = \"app-1\"");
    assert_eq!(
        invalid(&text, "clients[1] (client_id = \"app-1\")", "client_id"),
        ConfigProblem::Duplicate {
            first: "clients[0] (client_id = \"app-1\")".into()
        }
    );
}

#[test]
fn a_duplicate_uid_is_refused() {
    let text = VALID.replace(
        "[[tenants]]",
        "[[users]]\nuid = \"1001\"\nlogin_name = \"alice2\"\npassword = \"p\"\n\n[[tenants]]",
    );
    let problem = invalid(&text, "users[1] (uid = \"1001\")", "uid");
    assert!(
        matches!(problem, ConfigProblem::Duplicate { .. }),
        "{problem:?}"
    );
}

#[test]
fn a_duplicate_login_name_is_refused_whatever_its_case() {
    let text = VALID.replace(
        "[[tenants]]",
        "[[users]]\nuid = \"1002\"\nlogin_name = \"ALICE\"\npassword = \"p\"\n\n[[tenants]]",
    );
    assert_eq!(
        invalid(&text, "users[1] (uid = \"1002\")", "login_name"),
        ConfigProblem::Duplicate {
            first: "users[0] (uid = \"1001\")".into()
        }
    );
}

#[test]
fn a_duplicate_tenant_id_or_code_is_refused() {
    let text = VALID.replace(
        "[[apis]]",
        "[[tenants]]\nid = \"t-1\"\ncode = \"other\"\n\n[[apis]]",
    );
    invalid(&text, "tenants[1] (id = \"t-1\")", "id");
    let text = VALID.replace(
        "[[apis]]",
        "[[tenants]]\nid = \"t-2\"\ncode = \"acme\"\n\n[[apis]]",
    );
    assert_eq!(
        invalid(&text, "tenants[1] (id = \"t-2\")", "code"),
        ConfigProblem::Duplicate {
            first: "tenants[0] (id = \"t-1\")".into()
        }
    );
}

#[test]
fn a_duplicate_api_id_is_refused() {
    let text = VALID.replace(
        "[[api_keys]]",
        "[[apis]]\nid = \"orders\"\npath = \"/api/other\"\n\n[[api_keys]]",
    );
    invalid(&text, "apis[1] (id = \"orders\")", "id");
}

#[test]
fn a_duplicate_api_key_is_refused_by_owner_without_showing_the_key() {
    let text = VALID.replace(
        "[[grants]]",
        "[[api_keys]]\nkey = \"key-of-reporting-0001\"\nowner = \"billing\"\n\n[[grants]]",
    );
    assert_eq!(
        invalid(&text, "api_keys[1] (owner = \"billing\")", "key"),
        ConfigProblem::Duplicate {
            first: "api_keys[0] (owner = \"reporting\")".into()
        }
    );
    let err = parse(&text).unwrap_err();
    assert!(!err.to_string().contains("key-of-reporting-0001"), "{err}");
}

#[test]
fn a_duplicate_grant_is_refused() {
    let text = format!(
        "{VALID}\n[[grants]]\nclient = \"app-1\"\napi = \"orders\"\nexpires_at = \"2031-01-01T00:00:00Z\"\n"
    );
    invalid(
        &text,
        "grants[1] (api = \"orders\", client:app-1)",
        "client",
    );
}

#[test]
fn a_client_id_that_is_a_uid_is_refused() {
    let text = with("client_id = \"app-2\"", "client_id = \"1001\"");
    assert_eq!(
        invalid(&text, "clients[1] (client_id = \"1001\")", "client_id"),
        ConfigProblem::ClashesWith {
            other: "users[0] (uid = \"1001\")".into()
        }
    );
}

// References -----------------------------------------------------------------------------------

#[test]
fn a_user_in_an_unknown_tenant_is_refused() {
    let text = with("tenants = [\"t-1\"]", "tenants = [\"t-1\", \"t-9\"]");
    assert_eq!(
        invalid(&text, "users[0] (uid = \"1001\")", "tenants"),
        ConfigProblem::Unknown {
            what: "tenant",
            name: "t-9".into()
        }
    );
}

#[test]
fn a_grant_for_an_unknown_api_is_refused() {
    let text = with("api = \"orders\"", "api = \"ordres\"");
    assert_eq!(
        invalid(&text, "grants[0] (api = \"ordres\", client:app-1)", "api"),
        ConfigProblem::Unknown {
            what: "api",
            name: "ordres".into()
        }
    );
}

#[test]
fn a_grant_to_an_unknown_client_user_or_key_owner_is_refused() {
    let text = with("client = \"app-1\"", "client = \"app-9\"");
    assert_eq!(
        invalid(
            &text,
            "grants[0] (api = \"orders\", client:app-9)",
            "client"
        ),
        ConfigProblem::Unknown {
            what: "client",
            name: "app-9".into()
        }
    );
    // A uid is no client id: the namespaces are separate.
    let text = with("client = \"app-1\"", "client = \"1001\"");
    invalid(&text, "grants[0] (api = \"orders\", client:1001)", "client");
    let text = with("client = \"app-1\"", "user = \"1009\"");
    invalid(&text, "grants[0] (api = \"orders\", user:1009)", "user");
    let text = with("client = \"app-1\"", "api_key_owner = \"app-1\"");
    invalid(
        &text,
        "grants[0] (api = \"orders\", api_key_owner:app-1)",
        "api_key_owner",
    );
}

#[test]
fn a_grant_must_name_exactly_one_grantee() {
    let text = with("client = \"app-1\"", "client = \"app-1\"\nuser = \"1001\"");
    assert_eq!(
        invalid(&text, "grants[0] (api = \"orders\")", "client"),
        ConfigProblem::GranteeCount
    );
    let text = with("client = \"app-1\"\n", "");
    assert_eq!(
        invalid(&text, "grants[0] (api = \"orders\")", "client"),
        ConfigProblem::GranteeCount
    );
}

// Values ---------------------------------------------------------------------------------------

#[test]
fn a_bad_time_is_refused() {
    for bad in ["2030-01-01", "tomorrow", "2030-13-01T00:00:00Z"] {
        let text = with("2030-01-01T00:00:00Z", bad);
        assert_eq!(
            invalid(
                &text,
                "grants[0] (api = \"orders\", client:app-1)",
                "expires_at"
            ),
            ConfigProblem::BadTime(bad.into())
        );
    }
}

#[test]
fn a_bad_method_scheme_or_path_is_refused() {
    let text = with("methods = [\"GET\"]", "methods = [\"GET\", \"GE T\"]");
    assert_eq!(
        invalid(&text, "apis[0] (id = \"orders\")", "methods"),
        ConfigProblem::BadMethod("GE T".into())
    );
    let text = with("auth = [\"bearer\"]", "auth = [\"bearer\", \"jwt\"]");
    assert_eq!(
        invalid(&text, "apis[0] (id = \"orders\")", "auth"),
        ConfigProblem::BadScheme("jwt".into())
    );
    for path in ["api/orders", "/api//orders", "/api/../admin", "/api/%2e%2e"] {
        let text = with("path = \"/api/orders\"", &format!("path = \"{path}\""));
        assert_eq!(
            invalid(&text, "apis[0] (id = \"orders\")", "path"),
            ConfigProblem::BadPath(path.into()),
            "{path}"
        );
    }
}

#[test]
fn a_bad_header_name_is_refused() {
    let text = format!("{VALID}\n[credentials]\napi_key_headers = [\"x api key\"]\n");
    // `[credentials]` comes after the arrays of tables: TOML puts it at the top level.
    assert_eq!(
        invalid(&text, "credentials", "api_key_headers"),
        ConfigProblem::BadHeaderName("x api key".into())
    );
}

// At build time ----------------------------------------------------------------------------------

#[tokio::test]
async fn an_issuer_url_with_a_path_is_refused_at_build() {
    let text = with(
        "issuer = \"https://auth.example\"",
        "issuer = \"https://auth.example/tenant-1\"",
    );
    let err = parse(&text)
        .unwrap()
        .build(BuildOptions::new())
        .await
        .unwrap_err();
    assert_eq!(
        assert_names(&err, "(top level)", "issuer"),
        ConfigProblem::IssuerWithPath
    );
    assert!(err.to_string().contains("cannot have a path"), "{err}");
}

#[tokio::test]
async fn no_issuer_and_no_address_is_refused_at_build() {
    let text = with("issuer = \"https://auth.example\"\n", "");
    let err = parse(&text)
        .unwrap()
        .build(BuildOptions::new())
        .await
        .unwrap_err();
    assert_names(&err, "(top level)", "issuer");
    // With an address, the same file builds.
    parse(&text)
        .unwrap()
        .build(BuildOptions::new().listening_on("127.0.0.1:3000".parse().unwrap()))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_resource_that_is_not_a_url_is_refused_at_build() {
    let text = with(
        "issuer = \"https://auth.example\"",
        "issuer = \"https://auth.example\"\nresource = \"not a url\"",
    );
    let err = parse(&text)
        .unwrap()
        .build(BuildOptions::new())
        .await
        .unwrap_err();
    assert_names(&err, "(top level)", "resource");
}

#[tokio::test]
async fn a_bad_client_scope_is_named_at_build() {
    let text = with("scopes = [\"orders:read\"]", "scopes = [\"orders read\"]");
    let err = parse(&text)
        .unwrap()
        .build(BuildOptions::new())
        .await
        .unwrap_err();
    assert_names(&err, "clients[0] (client_id = \"app-1\")", "scopes");
}

/// RFC 6749 Appendix A.1: a client id is `*VSCHAR` (`%x20-7E`); the registry refuses any
/// other, and the build names the entry and `client_id`.
#[tokio::test]
async fn a_client_id_outside_printable_ascii_is_named_at_build() {
    for (id, entry) in [
        (r"app\u0001two", r"app\u{1}two"),
        (r"app\ntwo", r"app\ntwo"),
        (r"app\u007Ftwo", r"app\u{7f}two"),
        ("app-twö", "app-twö"),
    ] {
        let text = with("client_id = \"app-2\"", &format!("client_id = \"{id}\""));
        let err = parse(&text)
            .unwrap()
            .build(BuildOptions::new())
            .await
            .unwrap_err();
        let problem = assert_names(
            &err,
            &format!("clients[1] (client_id = \"{entry}\")"),
            "client_id",
        );
        assert!(problem.to_string().contains("printable ASCII"), "{problem}");
        // The message is one line: the entry shows the id escaped.
        assert!(!err.to_string().contains('\n'), "{err}");
    }
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn an_unreachable_redis_is_named_without_its_url() {
    // Nothing listens on port 1; the URL's password must not reach the message.
    let text =
        format!("{VALID}\n[store]\nredis_url = \"redis://:hunter2-password@127.0.0.1:1/\"\n");
    let err = parse(&text)
        .unwrap()
        .build(BuildOptions::new())
        .await
        .unwrap_err();
    let problem = assert_names(&err, "store", "redis_url");
    assert!(matches!(problem, ConfigProblem::Store(_)), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[cfg(not(feature = "redis"))]
#[tokio::test]
async fn a_redis_store_needs_the_redis_feature() {
    let text = format!("{VALID}\n[store]\nredis_url = \"redis://127.0.0.1:6379/\"\n");
    let err = parse(&text)
        .unwrap()
        .build(BuildOptions::new())
        .await
        .unwrap_err();
    assert_eq!(
        assert_names(&err, "store", "redis_url"),
        ConfigProblem::NeedsFeature("redis")
    );
}

// Secrets ----------------------------------------------------------------------------------------

#[test]
fn no_secret_shows_in_the_debug_output_of_a_config() {
    let config = parse(&format!(
        "{VALID}\n[store]\nredis_url = \"redis://:hunter2-password@127.0.0.1:6379/\"\n"
    ))
    .unwrap();
    let debug = format!("{config:?}");
    for secret in [
        "a-signing-secret-of-at-least-32-bytes",
        "app-1-secret",
        "alice-password",
        "key-of-reporting-0001",
        "hunter2",
    ] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    assert!(debug.contains("app-1"), "ids are shown: {debug}");
}

/// The fields are public: a `Config` changed in code after it was read is checked again by
/// `build`, so a method that does not parse cannot open an API to every method.
#[tokio::test]
async fn build_checks_a_config_changed_in_code() {
    let text = r#"
audience = "a"
[signing_key]
algorithm = "HS256"
secret = "a-secret-of-at-least-thirty-two-bytes"
[[apis]]
id = "orders"
path = "/api/orders"
methods = ["GET"]
"#;
    let mut config = Config::from_toml_str(text, "code.toml").unwrap();
    config.apis[0].methods = vec!["G T".into()];
    let error = match config.build(BuildOptions::new()).await {
        Ok(_) => panic!("a method that does not parse was built"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("code.toml"), "{error}");
    assert!(error.contains("methods"), "{error}");
}
