use std::fmt;

use aws_lc_rs::signature::{KeyPair, RsaKeyPair};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

use crate::verify::{JwtKey, KeyError};

/// The key an issuer signs tokens with, and its public half.
#[derive(Clone)]
pub struct SigningKey {
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: Option<String>,
    /// RSA modulus and exponent (big-endian), for the JWK of an RSA key.
    rsa_public: Option<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl SigningKey {
    /// An HS256 secret of at least 32 bytes.
    ///
    /// ```
    /// use tower_gatekeeper::issuer::SigningKey;
    /// assert!(SigningKey::hs256(b"too short").is_err());
    /// assert!(SigningKey::hs256(&[7u8; 32]).is_ok());
    /// ```
    pub fn hs256(secret: &[u8]) -> Result<Self, KeyError> {
        // The verifier's rules (length, family) apply to the issuer too.
        JwtKey::hmac(secret, &[Algorithm::HS256])?;
        Ok(Self {
            algorithm: Algorithm::HS256,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            kid: None,
            rsa_public: None,
        })
    }

    /// An RSA private key in PEM (PKCS#8 or PKCS#1) for RS256; the public half is derived.
    pub fn rs256_pem(private_pem: &[u8]) -> Result<Self, KeyError> {
        let invalid = |why: &str| KeyError::InvalidKey(why.to_owned());
        let encoding = EncodingKey::from_rsa_pem(private_pem)
            .map_err(|e| KeyError::InvalidKey(e.to_string()))?;
        // jsonwebtoken keeps the PKCS#1 DER of the private key.
        let pair = RsaKeyPair::from_der(encoding.as_bytes())
            .map_err(|_| invalid("not an RSA private key"))?;
        let public = pair.public_key();
        let decoding = DecodingKey::from_rsa_der(public.as_ref());
        let n = public.modulus().big_endian_without_leading_zero().to_vec();
        let e = public.exponent().big_endian_without_leading_zero().to_vec();
        Ok(Self {
            algorithm: Algorithm::RS256,
            encoding,
            decoding,
            kid: None,
            rsa_public: Some((n, e)),
        })
    }

    /// The public key as a JWK (`kty`, `use: sig`, `alg`, `kid`, `n`, `e`); `None` for HMAC.
    pub fn public_jwk(&self) -> Option<serde_json::Value> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (n, e) = self.rsa_public.as_ref()?;
        let mut jwk = serde_json::json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "n": b64.encode(n), "e": b64.encode(e),
        });
        if let Some(kid) = &self.kid {
            jwk["kid"] = kid.clone().into();
        }
        Some(jwk)
    }

    /// Names the key (`kid` in token headers).
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The signing algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The key id.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The key that verifies this key's signatures.
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }
}
