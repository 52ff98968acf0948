//! What can be wrong with a configuration file, named down to the field.

use std::fmt;

/// A configuration that cannot be read, parsed or built.
///
/// Every error names the file (`origin`); a syntax or type error names the line and column; a
/// semantic error names the entry (`clients[2] (client_id = "x")`) and the field
/// (`client_secret`). No error ever carries a secret's value.
///
/// ```
/// use tower_gatekeeper::config::{Config, ConfigError, ConfigProblem};
///
/// let err = Config::from_toml_str(
///     r#"
/// audience = "api"
/// [signing_key]
/// algorithm = "HS256"
/// secret = "too-short"
/// "#,
///     "gatekeeper.toml",
/// )
/// .unwrap_err();
/// assert_eq!(err.origin(), "gatekeeper.toml");
/// assert_eq!(err.entry(), Some("signing_key"));
/// assert_eq!(err.field(), Some("secret"));
/// assert!(matches!(err.problem(), Some(ConfigProblem::TooShort { min: 32, .. })));
/// assert!(!err.to_string().contains("too-short"), "no secret in the message");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    Read {
        /// The file.
        origin: String,
        /// Why.
        error: std::io::Error,
    },
    /// The text is not TOML, or a value has the wrong type, or a key is unknown or missing.
    Syntax {
        /// The file.
        origin: String,
        /// 1-based line of the offending text (0 when the parser gave no position).
        line: usize,
        /// 1-based column of the offending text (0 when the parser gave no position).
        column: usize,
        /// The parser's message (names the key for unknown and missing keys).
        message: String,
    },
    /// The file parses, but an entry is wrong: a duplicate id, a reference to something not
    /// defined, a secret too short, a time that is not RFC 3339, a store that cannot be reached…
    Invalid {
        /// The file.
        origin: String,
        /// The entry: `signing_key`, `clients[2] (client_id = "x")`, `(top level)`…
        entry: String,
        /// The field of the entry: `client_secret`, `tenants`, `expires_at`…
        field: String,
        /// What is wrong.
        problem: ConfigProblem,
    },
}

impl ConfigError {
    pub(crate) fn invalid(
        origin: &str,
        entry: impl Into<String>,
        field: impl Into<String>,
        problem: ConfigProblem,
    ) -> Self {
        Self::Invalid {
            origin: origin.to_owned(),
            entry: entry.into(),
            field: field.into(),
            problem,
        }
    }

    pub(crate) fn syntax(origin: &str, text: &str, error: &toml::de::Error) -> Self {
        let (line, column) = match error.span() {
            Some(span) => line_column(text, span.start),
            None => (0, 0),
        };
        Self::Syntax {
            origin: origin.to_owned(),
            line,
            column,
            message: without_values(error.message().trim_end()),
        }
    }

    /// The file (or the origin given to [`Config::from_toml_str`](super::Config::from_toml_str)).
    pub fn origin(&self) -> &str {
        match self {
            Self::Read { origin, .. }
            | Self::Syntax { origin, .. }
            | Self::Invalid { origin, .. } => origin,
        }
    }

    /// The entry at fault, for a semantic error.
    pub fn entry(&self) -> Option<&str> {
        match self {
            Self::Invalid { entry, .. } => Some(entry),
            _ => None,
        }
    }

    /// The field at fault, for a semantic error.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }

    /// What is wrong, for a semantic error.
    pub fn problem(&self) -> Option<&ConfigProblem> {
        match self {
            Self::Invalid { problem, .. } => Some(problem),
            _ => None,
        }
    }

    /// The 1-based line and column, for a syntax error.
    pub fn line_column(&self) -> Option<(usize, usize)> {
        match self {
            Self::Syntax { line, column, .. } => Some((*line, *column)),
            _ => None,
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { origin, error } => write!(f, "{origin}: cannot read: {error}"),
            Self::Syntax {
                origin,
                line,
                column,
                message,
            } => write!(f, "{origin}:{line}:{column}: {message}"),
            Self::Invalid {
                origin,
                entry,
                field,
                problem,
            } => write!(f, "{origin}: {entry}: {field}: {problem}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// What is wrong with one field of one entry ([`ConfigError::Invalid`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// The field is required here (e.g. `secret` for HS256).
    Missing,
    /// The value is shorter than `min` bytes (a secret: its value is never shown).
    TooShort {
        /// The least length.
        min: usize,
        /// The value's length.
        actual: usize,
    },
    /// An earlier entry already has this value.
    Duplicate {
        /// The earlier entry.
        first: String,
    },
    /// A client id is a user's uid: client ids and uids must not overlap, or client `1001`
    /// would look like user `1001` to whoever reads only the id.
    ClashesWith {
        /// The other entry.
        other: String,
    },
    /// A reference to something the file does not define.
    Unknown {
        /// What kind of thing: `tenant`, `api`, `client`, `user`, `api key owner`.
        what: &'static str,
        /// The name referred to.
        name: String,
    },
    /// A grant names no grantee, or more than one.
    GranteeCount,
    /// Not an RFC 3339 time (`2030-01-01T00:00:00Z`).
    BadTime(String),
    /// Not an HTTP method.
    BadMethod(String),
    /// Not a credential kind (`bearer`, `basic`, `api_key`).
    BadScheme(String),
    /// Not a valid HTTP header name.
    BadHeaderName(String),
    /// Not a canonical absolute path (`/api/orders`: no `//`, `.` or `..` segment, no `%2F`).
    BadPath(String),
    /// The issuer is a URL with a path, but the setup mounts its endpoints at the root.
    IssuerWithPath,
    /// This needs a cargo feature the crate was built without.
    NeedsFeature(&'static str),
    /// Another check refused the value (a key that does not parse, a URL that is not one…).
    Rejected(String),
    /// The store could not be reached or written while seeding it.
    Store(String),
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("required here, and missing"),
            Self::TooShort { min, actual } => {
                write!(f, "must be at least {min} bytes (it has {actual})")
            }
            Self::Duplicate { first } => write!(f, "the same value as {first}"),
            Self::ClashesWith { other } => write!(
                f,
                "equals the uid of {other} (client ids and uids must not overlap)"
            ),
            Self::Unknown { what, name } => write!(f, "no {what} {name:?} is defined"),
            Self::GranteeCount => f.write_str("give exactly one of client, user and api_key_owner"),
            Self::BadTime(v) => write!(f, "{v:?} is not an RFC 3339 time (2030-01-01T00:00:00Z)"),
            Self::BadMethod(v) => write!(f, "{v:?} is not an HTTP method"),
            Self::BadScheme(v) => {
                write!(f, "{v:?} is not a credential kind (bearer, basic, api_key)")
            }
            Self::BadHeaderName(v) => write!(f, "{v:?} is not an HTTP header name"),
            Self::BadPath(v) => write!(
                f,
                "{v:?} is not a canonical absolute path (like /api/orders)"
            ),
            Self::IssuerWithPath => f.write_str(
                "the setup mounts its endpoints at the root, so its issuer URL cannot have a path",
            ),
            Self::NeedsFeature(feature) => {
                write!(f, "needs tower-gatekeeper's `{feature}` feature")
            }
            Self::Rejected(why) => f.write_str(why),
            Self::Store(why) => write!(f, "store: {why}"),
        }
    }
}

/// A deserializer's message without the value it quotes: `invalid type: integer `12345`,
/// expected a string` becomes `invalid type: integer, expected a string`. The value may be a
/// secret typed without its quotes (`client_secret = 12345`), and error text is logged.
fn without_values(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some(at) = rest.find(", expected")
        {
            let unexpected = &rest[..at];
            let kind = unexpected
                .split(['`', '"', '\''])
                .next()
                .unwrap_or("")
                .trim_end();
            return format!("{prefix}{kind}{}", &rest[at..]);
        }
    }
    message.to_owned()
}
