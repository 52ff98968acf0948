//! The authenticated caller handed to handlers.
//!
//! A [`Principal`] is inserted into the request extensions by the layer. Handlers read it with
//! `req.extensions().get::<Principal>()` or, with the `axum` feature, as an extractor
//! (`Principal` or `Option<Principal>`).
//!
//! Its JSON form is stable:
//!
//! ```
//! use tower_gatekeeper::principal::{CredentialInfo, Identity, Principal};
//! use tower_gatekeeper::extract::{Scheme, Source};
//!
//! let principal = Principal::new(Identity::new("app-42").with_client_id("app-42").with_scopes(["read"]))
//!     .with_credential(CredentialInfo { scheme: Scheme::Bearer, source: Source::Header });
//! assert_eq!(
//!     serde_json::to_value(&principal).unwrap(),
//!     serde_json::json!({
//!         "subject": "app-42", "kind": "client", "client_id": "app-42", "scopes": ["read"],
//!         "actor": null, "tenant": null,
//!         "credential": {"scheme": "bearer", "source": "header"}
//!     })
//! );
//! ```

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeSeed as _;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::extract::{Scheme, Source};
use crate::layer::LayerContext;
use crate::verify::claims::{Any, ClaimSet, Read, ReadSeed};

/// What kind of party a credential belongs to.
///
/// Client ids, user ids and API-key owners are **separate namespaces**: client `1001` is not
/// user `1001`. Tenant membership and sudo targets only ever resolve users; a grant names its
/// grantee's kind ([`Grantee`](crate::grant::Grantee)).
///
/// Who sets it:
///
/// | credential | kind |
/// | --- | --- |
/// | the issuer's tokens (client credentials, RFC 6749 §4.4) | [`Client`](Self::Client) |
/// | Basic users ([`BasicUsers`](crate::verify::BasicUsers), [`UserRegistry`](crate::accounts::UserRegistry)) | [`User`](Self::User) |
/// | API keys ([`ApiKeyStore`](crate::verify::ApiKeyStore)) | [`ApiKeyOwner`](Self::ApiKeyOwner), unless the key's identity names a kind |
/// | sudo's effective identity | [`User`](Self::User) |
/// | JWTs and introspection answers of other issuers | by [`PrincipalKind::of_token`] |
/// | an [`Identity`] built by hand without [`Identity::with_kind`] | by [`PrincipalKind::of_token`] |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// An app: an OAuth client acting for itself.
    Client,
    /// A user of the provider (a directory user).
    User,
    /// The owner of an API key, neither a client nor a directory user.
    ApiKeyOwner,
}

impl PrincipalKind {
    /// The rule for tokens (JWTs, RFC 7662 introspection answers) and hand-built identities:
    /// a token whose subject is absent or equals its client id (`client_id`, `azp`) is a
    /// client's own token (RFC 9068 §2.2: client-credentials tokens carry the client as `sub`);
    /// any other subject is a user's.
    ///
    /// ```
    /// use tower_gatekeeper::principal::PrincipalKind;
    /// assert_eq!(PrincipalKind::of_token("app", Some("app")), PrincipalKind::Client);
    /// assert_eq!(PrincipalKind::of_token("1001", Some("app")), PrincipalKind::User);
    /// assert_eq!(PrincipalKind::of_token("1001", None), PrincipalKind::User);
    /// ```
    pub fn of_token(subject: &str, client_id: Option<&str>) -> Self {
        if client_id == Some(subject) {
            Self::Client
        } else {
            Self::User
        }
    }

    /// The name used in JSON and in grantee strings: `client`, `user` or `api_key_owner`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::User => "user",
            Self::ApiKeyOwner => "api_key_owner",
        }
    }

    /// Reads [`as_str`](Self::as_str)'s names back.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "client" => Some(Self::Client),
            "user" => Some(Self::User),
            "api_key_owner" => Some(Self::ApiKeyOwner),
            _ => None,
        }
    }
}

impl fmt::Display for PrincipalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a verified credential belongs to: an app (OAuth client), a user, or a key owner (see
/// [`PrincipalKind`]).
///
/// Shared behind an `Arc` by [`Principal`], so cloning a principal never copies it.
#[derive(Clone, Default, PartialEq)]
pub struct Identity {
    subject: String,
    kind: Option<PrincipalKind>,
    client_id: Option<ClientId>,
    scopes: Vec<String>,
    roles: Vec<String>,
    tenant: Option<Tenant>,
    actor: Option<Actor>,
    expires_at: Option<u64>,
    issued_at: Option<u64>,
    token_id: Option<String>,
    claims: Option<Map<String, Value>>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("subject", &self.subject)
            .field("kind", &self.kind())
            .field("client_id", &self.client_id())
            .field("scopes", &self.scopes)
            .field("roles", &self.roles)
            .field("tenant", &self.tenant)
            .field("actor", &self.actor)
            .field("expires_at", &self.expires_at)
            .field("issued_at", &self.issued_at)
            .field("claims", &self.claims.as_ref().map(|c| c.len()))
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// An identity for `subject` with no scopes.
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            ..Self::default()
        }
    }

    /// Sets what kind of party the identity is (see [`PrincipalKind`] for the rule when unset).
    pub fn with_kind(mut self, kind: PrincipalKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// Whether the kind was set explicitly (else it follows [`PrincipalKind::of_token`]).
    pub fn has_explicit_kind(&self) -> bool {
        self.kind.is_some()
    }

    /// Sets the OAuth client id.
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(ClientId::new(client_id.into(), &self.subject));
        self
    }

    /// Sets the scopes.
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the roles.
    pub fn with_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the tenant the credential is bound to.
    pub fn with_tenant(mut self, tenant: Tenant) -> Self {
        self.tenant = Some(tenant);
        self
    }

    /// Sets the actor (the party acting on the subject's behalf, RFC 8693 `act`).
    pub fn with_actor(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }

    /// Sets when the credential expires (Unix seconds).
    pub fn with_expires_at(mut self, unix_seconds: u64) -> Self {
        self.expires_at = Some(unix_seconds);
        self
    }

    /// Sets when the credential was issued (Unix seconds).
    pub fn with_issued_at(mut self, unix_seconds: u64) -> Self {
        self.issued_at = Some(unix_seconds);
        self
    }

    /// Sets the token id (`jti`).
    pub fn with_token_id(mut self, token_id: impl Into<String>) -> Self {
        self.token_id = Some(token_id.into());
        self
    }

    /// Keeps the raw claims of the token for handlers that want more.
    pub fn with_claims(mut self, claims: Map<String, Value>) -> Self {
        self.claims = Some(claims);
        self
    }

    /// Builds an identity from JWT or introspection claims.
    ///
    /// `sub` is the subject (falling back to the client id for client-credentials tokens that
    /// carry none); the client id is read from `client_id`, `azp` or `clientId`; scopes from
    /// `scope` or `scp`, each a space-delimited string or an array of strings; roles from
    /// `roles`; the tenant from `tenant` (a string id or `{"id","code"}`), `tenant_id` or
    /// `tenantId`; the actor from `act` (RFC 8693); the kind by [`PrincipalKind::of_token`]
    /// (an absent `sub` or one equal to the client id: a client; else a user). Returns `None`
    /// when no subject can be found.
    ///
    /// ```
    /// use tower_gatekeeper::principal::Identity;
    ///
    /// let claims = serde_json::json!({"sub": "u1", "azp": "app", "scp": ["a", "b"]});
    /// let id = Identity::from_claims(claims.as_object().unwrap().clone()).unwrap();
    /// assert_eq!(id.subject(), "u1");
    /// assert_eq!(id.client_id(), Some("app"));
    /// assert_eq!(id.scopes(), ["a", "b"]);
    /// assert_eq!(id.kind(), tower_gatekeeper::principal::PrincipalKind::User);
    /// ```
    pub fn from_claims(claims: Map<String, Value>) -> Option<Self> {
        let claims = Value::Object(claims);
        let identity = {
            let mut read = Read::default();
            ReadSeed {
                others: &[],
                reject_duplicates: false,
                out: &mut read,
            }
            .deserialize(&claims)
            .ok()?;
            Self::from_claim_set(&read.claims)?
        };
        match claims {
            Value::Object(map) => Some(identity.with_claims(map)),
            _ => Some(identity),
        }
    }

    /// The mapping behind [`from_claims`](Self::from_claims), from claims read once (a JWT's
    /// payload goes straight to it, without a map).
    pub(crate) fn from_claim_set(claims: &ClaimSet<'_>) -> Option<Self> {
        let string = |c: &Option<Any<'_>>| c.as_ref().and_then(Any::as_str).map(str::to_owned);
        fn str_of<'c>(c: &'c Option<Any<'_>>) -> Option<&'c str> {
            c.as_ref().and_then(Any::as_str)
        }
        let client_id = str_of(&claims.client_id)
            .or_else(|| str_of(&claims.azp))
            .or_else(|| str_of(&claims.clientId));
        // A `sub` that is present must be a string; only an absent one falls back to the
        // client id (client-credentials tokens).
        let subject = match &claims.sub {
            Some(Any::Str(sub)) => sub.to_string(),
            Some(_) => return None,
            None => client_id?.to_owned(),
        };
        if subject.is_empty() {
            return None;
        }
        // Kind (H3): sub absent or equal to the client id → a client's token, else a user's.
        let kind = Some(PrincipalKind::of_token(&subject, client_id));
        let client_id = client_id.map(|c| ClientId::new_borrowed(c, &subject));
        let scopes = claims
            .scope
            .as_ref()
            .or(claims.scp.as_ref())
            .map(Any::string_list)
            .unwrap_or_default();
        let roles = claims
            .roles
            .as_ref()
            .map(Any::string_list)
            .unwrap_or_default();
        let tenant = claims
            .tenant
            .as_ref()
            .and_then(Tenant::from_claim)
            .or_else(|| {
                string(&claims.tenant_id)
                    .or_else(|| string(&claims.tenantId))
                    .map(|id| Tenant::new(id, None::<String>))
            });
        let actor = claims.act.as_ref().and_then(Actor::from_claim);
        let numeric = |c: &Option<Any<'_>>| c.as_ref().and_then(Any::numeric_date);
        Some(Self {
            subject,
            kind,
            client_id,
            scopes,
            roles,
            tenant,
            actor,
            expires_at: numeric(&claims.exp),
            issued_at: numeric(&claims.iat),
            token_id: string(&claims.jti),
            claims: None,
        })
    }

    /// What the identity holds on the heap, in bytes (an estimate that never falls short of
    /// the strings and vectors it owns), for cache budgets.
    pub(crate) fn heap_size(&self) -> usize {
        let strings =
            |v: &[String]| std::mem::size_of_val(v) + v.iter().map(String::capacity).sum::<usize>();
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
        let tenant = self
            .tenant
            .as_ref()
            .map_or(0, |t| t.id.capacity() + opt(&t.code));
        let actor = self
            .actor
            .as_ref()
            .map_or(0, |a| a.subject.capacity() + opt(&a.client_id));
        let claims = self.claims.as_ref().map_or(0, |c| {
            // Serialized length, doubled for the map's nodes: generous on purpose.
            2 * serde_json::to_string(c).map_or(0, |s| s.len())
        });
        self.subject.capacity()
            + match &self.client_id {
                Some(ClientId::Other(c)) => c.capacity(),
                _ => 0,
            }
            + strings(&self.scopes)
            + strings(&self.roles)
            + tenant
            + actor
            + opt(&self.token_id)
            + claims
    }

    /// The subject: the user or app the credential stands for.
    pub fn subject(&self) -> &str {
        &self.subject
    }
    /// What kind of party this is: the kind set with [`with_kind`](Self::with_kind), else
    /// [`PrincipalKind::of_token`] of the subject and client id.
    pub fn kind(&self) -> PrincipalKind {
        self.kind
            .unwrap_or_else(|| PrincipalKind::of_token(&self.subject, self.client_id()))
    }
    /// Whether this is a directory user (the only kind that can be a tenant member or a sudo
    /// target).
    pub fn is_user(&self) -> bool {
        self.kind() == PrincipalKind::User
    }
    /// The OAuth client id, when the credential was issued to a client.
    pub fn client_id(&self) -> Option<&str> {
        match &self.client_id {
            None => None,
            Some(ClientId::Subject) => Some(&self.subject),
            Some(ClientId::Other(c)) => Some(c),
        }
    }
    /// The granted scopes.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
    /// The roles.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }
    /// The tenant the credential is bound to, if any.
    pub fn tenant(&self) -> Option<&Tenant> {
        self.tenant.as_ref()
    }
    /// The actor named in the credential itself (a delegated token's `act` claim).
    pub fn actor(&self) -> Option<&Actor> {
        self.actor.as_ref()
    }
    /// When the credential expires, in Unix seconds.
    pub fn expires_at(&self) -> Option<u64> {
        self.expires_at
    }
    /// When the credential was issued (a token's `iat`), in Unix seconds.
    pub fn issued_at(&self) -> Option<u64> {
        self.issued_at
    }
    /// The token id (`jti`), if any.
    pub fn token_id(&self) -> Option<&str> {
        self.token_id.as_deref()
    }
    /// The raw claims of an introspection answer, or of a JWT when its verifier keeps them
    /// ([`JwtVerifierBuilder::keep_claims`](crate::verify::JwtVerifierBuilder::keep_claims)).
    pub fn claims(&self) -> Option<&Map<String, Value>> {
        self.claims.as_ref()
    }
    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
    /// Whether the identity holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// An identity's client id: most often its subject too (client-credentials tokens), which is
/// then not stored twice.
#[derive(Debug, Clone, PartialEq)]
enum ClientId {
    Subject,
    Other(String),
}

impl ClientId {
    fn new(client_id: String, subject: &str) -> Self {
        if client_id == subject {
            Self::Subject
        } else {
            Self::Other(client_id)
        }
    }

    fn new_borrowed(client_id: &str, subject: &str) -> Self {
        if client_id == subject {
            Self::Subject
        } else {
            Self::Other(client_id.to_owned())
        }
    }
}

/// Whether an `aud` claim (a string or an array of strings) names one of `audiences`.
#[cfg_attr(not(feature = "introspection"), allow(dead_code))]
pub(crate) fn audience_matches(claim: Option<&Value>, audiences: &[String]) -> bool {
    match claim {
        Some(Value::String(aud)) => audiences.contains(aud),
        Some(Value::Array(auds)) => auds
            .iter()
            .filter_map(Value::as_str)
            .any(|aud| audiences.iter().any(|a| a == aud)),
        _ => false,
    }
}

/// Reads a NumericDate (RFC 7519 §2): a non-negative number of seconds, fractions floored.
#[cfg_attr(not(feature = "introspection"), allow(dead_code))]
pub(crate) fn numeric_date(value: &Value) -> Option<u64> {
    if let Some(n) = value.as_u64() {
        return Some(n);
    }
    let f = value.as_f64()?;
    (f.is_finite() && f >= 0.0 && f < u64::MAX as f64).then(|| f.floor() as u64)
}

/// The tenant a request operates in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Tenant {
    /// The tenant id.
    pub id: String,
    /// The tenant code, when known.
    pub code: Option<String>,
}

impl Tenant {
    /// A tenant with an id and, optionally, a code.
    pub fn new(id: impl Into<String>, code: Option<impl Into<String>>) -> Self {
        Self {
            id: id.into(),
            code: code.map(Into::into),
        }
    }

    fn from_claim(value: &Any<'_>) -> Option<Self> {
        match value {
            Any::Str(id) if !id.is_empty() => Some(Self::new(id.as_ref(), None::<String>)),
            Any::Object(members) => {
                let id = members.id.as_deref()?;
                Some(Self::new(id, members.code.as_deref()))
            }
            _ => None,
        }
    }
}

/// The party that acts on the subject's behalf (RFC 8693 `act`): the caller under sudo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// The actor's subject.
    pub subject: String,
    /// The actor's client id, if it is an app.
    pub client_id: Option<String>,
}

impl Actor {
    fn from_claim(value: &Any<'_>) -> Option<Self> {
        let Any::Object(members) = value else {
            return None;
        };
        Some(Self {
            subject: members.sub.as_deref()?.to_owned(),
            client_id: members.client_id.as_deref().map(str::to_owned),
        })
    }
}

/// What kind of credential was verified, and where it reached the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CredentialInfo {
    /// The kind of credential its verifier verified: an API key is [`Scheme::ApiKey`] even
    /// when it was carried as `Authorization: Bearer`. Verifiers that do not say are taken
    /// to have verified what the source carries.
    pub scheme: Scheme,
    /// Where in the request it was found.
    pub source: Source,
}

/// The authenticated caller of one request.
///
/// Cheap to clone: the identities are shared. `subject` is the effective user; under sudo,
/// [`actor`](Principal::actor) is the caller that holds the credential.
#[derive(Debug, Clone)]
pub struct Principal {
    identity: Arc<Identity>,
    caller: Option<Arc<Identity>>,
    tenant: Option<Arc<Tenant>>,
    credential: Option<CredentialInfo>,
    api: Option<Arc<str>>,
    /// How the layer that admitted the request refuses: carried here rather than as an
    /// extension of its own, so admitting a request inserts one extension, not two.
    layer: Option<LayerContext>,
}

impl Principal {
    /// A principal for a verified identity.
    pub fn new(identity: impl Into<Arc<Identity>>) -> Self {
        Self {
            identity: identity.into(),
            caller: None,
            tenant: None,
            credential: None,
            api: None,
            layer: None,
        }
    }

    /// Records the credential: a verifier sets the kind it verified (`scheme`) when that may
    /// differ from what carried it; the layer keeps that kind and sets `source` to where the
    /// credential was found.
    pub fn with_credential(mut self, credential: CredentialInfo) -> Self {
        self.credential = Some(credential);
        self
    }

    /// Makes `effective` the subject and keeps the current identity as the actor (sudo).
    pub fn impersonating(self, effective: impl Into<Arc<Identity>>) -> Self {
        Self {
            identity: effective.into(),
            caller: Some(self.identity),
            tenant: self.tenant,
            credential: self.credential,
            api: self.api,
            layer: self.layer,
        }
    }

    /// Selects the tenant the request operates in.
    pub fn with_tenant(mut self, tenant: impl Into<Arc<Tenant>>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The effective identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The shared effective identity.
    pub fn identity_arc(&self) -> &Arc<Identity> {
        &self.identity
    }

    /// The identity that presented the credential: the actor under sudo, else the subject.
    pub fn caller(&self) -> &Identity {
        self.caller.as_deref().unwrap_or(&self.identity)
    }

    /// The effective subject.
    pub fn subject(&self) -> &str {
        self.identity.subject()
    }

    /// The kind of the effective identity.
    pub fn kind(&self) -> PrincipalKind {
        self.identity.kind()
    }

    /// The client id of the effective identity.
    pub fn client_id(&self) -> Option<&str> {
        self.identity.client_id()
    }

    /// The scopes in effect.
    pub fn scopes(&self) -> &[String] {
        self.identity.scopes()
    }

    /// Whether `scope` is in effect.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.identity.has_scope(scope)
    }

    /// The actor: the caller under sudo, or the `act` claim of a delegated token.
    pub fn actor(&self) -> Option<Actor> {
        match &self.caller {
            Some(caller) => Some(Actor {
                subject: caller.subject().to_owned(),
                client_id: caller.client_id().map(str::to_owned),
            }),
            None => self.identity.actor().cloned(),
        }
    }

    /// The tenant selected for this request, else the one the credential is bound to.
    pub fn tenant(&self) -> Option<&Tenant> {
        self.tenant
            .as_deref()
            .or(self.identity.tenant())
            .or_else(|| self.caller.as_ref().and_then(|c| c.tenant()))
    }

    /// What kind of credential was verified and where it was found (set by the layer on
    /// every principal it admits).
    pub fn credential(&self) -> Option<CredentialInfo> {
        self.credential
    }

    /// Records the published API the request was mapped to (set by the grant check).
    pub fn with_api(mut self, api_id: Arc<str>) -> Self {
        self.api = Some(api_id);
        self
    }

    // Read by the `MatchedApi` extractor (feature `axum`).
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn api_arc(&self) -> Option<&Arc<str>> {
        self.api.as_ref()
    }

    /// What the principal holds on the heap, identities included (see [`Identity::heap_size`]).
    pub(crate) fn heap_size(&self) -> usize {
        let identity = |i: &Identity| std::mem::size_of::<Identity>() + 16 + i.heap_size();
        identity(&self.identity)
            + self.caller.as_deref().map_or(0, identity)
            + self
                .tenant
                .as_ref()
                .map_or(0, |t| 16 + std::mem::size_of::<Tenant>() + t.id.capacity())
            + self.api.as_ref().map_or(0, |a| 16 + a.len())
    }

    /// The published API the request was mapped to, when a grant check ran.
    pub fn api(&self) -> Option<&str> {
        self.api.as_deref()
    }

    /// Records the layer admitting the request with this principal.
    pub(crate) fn admitted_by(mut self, layer: LayerContext) -> Self {
        self.layer = Some(layer);
        self
    }

    /// The layer that admitted the request with this principal.
    pub(crate) fn layer_context(&self) -> Option<&LayerContext> {
        self.layer.as_ref()
    }
}

impl Serialize for Principal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Principal", 7)?;
        s.serialize_field("subject", self.subject())?;
        s.serialize_field("kind", &self.kind())?;
        s.serialize_field("client_id", &self.client_id())?;
        s.serialize_field("scopes", self.scopes())?;
        s.serialize_field("actor", &self.actor())?;
        s.serialize_field("tenant", &self.tenant())?;
        s.serialize_field("credential", &self.credential)?;
        s.end()
    }
}
