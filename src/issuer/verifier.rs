//! Checking the issuer's own tokens: signature or store, then revocation and accounts.

use std::fmt;

use super::TokenIssuer;
use crate::extract::{Credential, Scheme};
use crate::maybe_ready::MaybeReady;
use crate::principal::{Identity, Principal, PrincipalKind};
use crate::verify::{Verification, Verifier, VerifyError, digest};

/// What the issuer knows of a live token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The client it was issued to.
    pub client_id: String,
    /// Its subject.
    pub subject: String,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// Issued at (Unix seconds).
    pub issued_at: Option<u64>,
    /// Expires at (Unix seconds).
    pub expires_at: u64,
    /// Its id (`jti`).
    pub token_id: Option<String>,
    /// Whether it is a JWT (else opaque).
    pub is_jwt: bool,
}

impl TokenIssuer {
    /// What the issuer knows of `token` if it is live: issued here, signature valid, not
    /// expired, not revoked, its client and user enabled. Otherwise why not (a description
    /// safe to show).
    pub fn inspect(&self, token: &str) -> Result<TokenInfo, VerifyError> {
        let info = self.decode_own(token)?;
        self.check_live(&info)?;
        Ok(info)
    }

    /// Decodes a token of this issuer's, checking signature (or store) and expiry only.
    fn decode_own(&self, token: &str) -> Result<TokenInfo, VerifyError> {
        if crate::verify::looks_like_jwt(token) {
            let identity = self.jwt_verifier().verify_token(token)?;
            let claims = identity.claims();
            let issued_at = claims
                .and_then(|c| c.get("iat"))
                .and_then(crate::principal::numeric_date);
            Ok(TokenInfo {
                client_id: identity
                    .client_id()
                    .unwrap_or(identity.subject())
                    .to_owned(),
                subject: identity.subject().to_owned(),
                scopes: identity.scopes().to_vec(),
                issued_at,
                expires_at: identity.expires_at().unwrap_or(0),
                token_id: identity.token_id().map(str::to_owned),
                is_jwt: true,
            })
        } else {
            let record = self
                .tokens()
                .opaque(&digest(token))
                .ok_or_else(|| VerifyError::invalid("the token is unknown or revoked"))?;
            if self.clock().unix_seconds() >= record.expires_at {
                return Err(VerifyError::invalid("the token has expired"));
            }
            Ok(TokenInfo {
                client_id: record.client_id.clone(),
                subject: record.subject.clone(),
                scopes: record.scopes.clone(),
                issued_at: Some(record.issued_at),
                expires_at: record.expires_at,
                token_id: Some(record.token_id.clone()),
                is_jwt: false,
            })
        }
    }

    fn check_live(&self, info: &TokenInfo) -> Result<(), VerifyError> {
        let jti = info.token_id.as_deref().filter(|_| info.is_jwt);
        let kind = PrincipalKind::of_token(&info.subject, Some(&info.client_id));
        self.check_live_parts(&info.client_id, &info.subject, kind, jti)
    }

    /// Revocation (by `jti`, for JWTs) and accounts: the checks every request pays, with no
    /// allocation. The user check applies only to a user's token (its subject is not its
    /// client): client `1001`'s own token is not user `1001`'s, and disabling that user does
    /// not touch it (the namespaces are separate, see [`PrincipalKind`]).
    fn check_live_parts(
        &self,
        client_id: &str,
        subject: &str,
        kind: PrincipalKind,
        jti: Option<&str>,
    ) -> Result<(), VerifyError> {
        if jti.is_some_and(|jti| self.tokens().is_revoked(jti)) {
            return Err(VerifyError::invalid("the token was revoked"));
        }
        if !self.clients().is_active(client_id) {
            return Err(VerifyError::invalid("the client is disabled or unknown"));
        }
        if kind == PrincipalKind::User && self.users().is_some_and(|u| u.is_disabled(subject)) {
            return Err(VerifyError::invalid("the account is disabled"));
        }
        Ok(())
    }

    /// Revokes `token`. With `by_client`, only a token issued to that client (RFC 7009);
    /// `Ok(false)` when the token was not live (unknown, expired, already revoked).
    pub fn revoke(&self, token: &str, by_client: Option<&str>) -> Result<bool, RevokeRefused> {
        let Ok(info) = self.decode_own(token) else {
            return Ok(false);
        };
        if by_client.is_some_and(|c| c != info.client_id) {
            return Err(RevokeRefused);
        }
        let now = self.clock().unix_seconds();
        if info.is_jwt {
            let Some(jti) = &info.token_id else {
                return Ok(false);
            };
            if self.tokens().is_revoked(jti) {
                return Ok(false);
            }
            self.tokens().revoke_jti(jti, info.expires_at, now);
            Ok(true)
        } else {
            Ok(self.tokens().forget_opaque(&digest(token)))
        }
    }
}

/// A client tried to revoke another client's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevokeRefused;

impl fmt::Display for RevokeRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the token was issued to another client")
    }
}

impl std::error::Error for RevokeRefused {}

/// Verifies this issuer's tokens, JWT or opaque, with revocation and account checks.
#[derive(Clone)]
pub struct IssuerVerifier {
    issuer: TokenIssuer,
}

impl fmt::Debug for IssuerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerVerifier")
            .field("issuer", &self.issuer)
            .finish()
    }
}

impl IssuerVerifier {
    pub(crate) fn new(issuer: TokenIssuer) -> Self {
        Self { issuer }
    }
}

impl Verifier for IssuerVerifier {
    fn verify(&self, credential: &Credential<'_>) -> Verification {
        let (Scheme::Bearer, Some(token)) = (credential.scheme(), credential.token()) else {
            return MaybeReady::Ready(Err(VerifyError::NotApplicable));
        };
        let issuer = &self.issuer;
        let result = if crate::verify::looks_like_jwt(token) {
            issuer.inner.jwt.verify_token(token).and_then(|identity| {
                let client_id = identity.client_id().unwrap_or(identity.subject());
                // The issuer signs client-credentials tokens only (`sub` = `client_id`): a
                // client. The kind follows the claims, so a token naming a user stays a user's.
                issuer
                    .check_live_parts(
                        client_id,
                        identity.subject(),
                        identity.kind(),
                        identity.token_id(),
                    )
                    .map(|()| Principal::new(identity))
            })
        } else {
            match issuer.tokens().opaque(&digest(token)) {
                // Not ours: another verifier of a chain may know it.
                None => Err(VerifyError::NotApplicable),
                Some(_) => issuer.inspect(token).map(|info| {
                    let kind = PrincipalKind::of_token(&info.subject, Some(&info.client_id));
                    let mut identity = Identity::new(info.subject)
                        .with_kind(kind)
                        .with_client_id(info.client_id)
                        .with_scopes(info.scopes)
                        .with_expires_at(info.expires_at);
                    if let Some(jti) = info.token_id {
                        identity = identity.with_token_id(jti);
                    }
                    Principal::new(identity)
                }),
            }
        };
        MaybeReady::Ready(result)
    }
}
