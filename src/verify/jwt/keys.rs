//! Verification keys prepared once: HMAC key state and parsed public keys (aws-lc-rs), so a
//! request pays for the signature check alone.

use std::fmt;

use aws_lc_rs::{hmac, signature};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};

/// One allowed algorithm of a key, ready to verify.
pub(super) enum Prepared {
    /// The HMAC key with its inner and outer pads already hashed.
    Hmac(hmac::Key),
    /// A public key parsed once (RSA, ECDSA, Ed25519).
    Public(signature::ParsedPublicKey),
    /// The key material could not be read for this algorithm: every token is refused, as
    /// verifying it would fail.
    Unusable,
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Hmac(_) => "Hmac",
            Self::Public(_) => "Public",
            Self::Unusable => "Unusable",
        })
    }
}

impl Prepared {
    /// Prepares `key` for `alg`, with the same algorithm parameters `jsonwebtoken`'s
    /// aws-lc-rs backend uses (RSA 2048–8192 bits, fixed-size ECDSA signatures).
    pub(super) fn new(key: &DecodingKey, alg: Algorithm) -> Self {
        use signature as s;
        let public: &'static dyn s::VerificationAlgorithm = match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let hmac_alg = match alg {
                    Algorithm::HS256 => hmac::HMAC_SHA256,
                    Algorithm::HS384 => hmac::HMAC_SHA384,
                    _ => hmac::HMAC_SHA512,
                };
                return match key.try_get_as_bytes() {
                    Ok(secret) => Self::Hmac(hmac::Key::new(hmac_alg, secret)),
                    Err(_) => Self::Unusable,
                };
            }
            Algorithm::RS256 => &s::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &s::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &s::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &s::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &s::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &s::RSA_PSS_2048_8192_SHA512,
            Algorithm::ES256 => &s::ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &s::ECDSA_P384_SHA384_FIXED,
            Algorithm::EdDSA => &s::ED25519,
            // An algorithm added to jsonwebtoken later: not verified here.
            _ => return Self::Unusable,
        };
        let parsed = match key.kind() {
            DecodingKeyKind::SecretOrDer(bytes) => s::ParsedPublicKey::new(public, bytes),
            DecodingKeyKind::RsaModulusExponent { n, e } => {
                s::ParsedPublicKey::new(public, rsa_public_key_der(n, e))
            }
        };
        parsed.map_or(Self::Unusable, Self::Public)
    }

    /// Whether `signature` signs `message`; HMAC tags are compared in constant time.
    pub(super) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
            Self::Public(key) => key.verify_sig(message, signature).is_ok(),
            Self::Unusable => false,
        }
    }
}

/// An RFC 8017 `RSAPublicKey` (`SEQUENCE { modulus INTEGER, publicExponent INTEGER }`) in DER,
/// from big-endian unsigned components (a JWK's `n` and `e`).
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn length(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    fn integer(out: &mut Vec<u8>, value: &[u8]) {
        let start = value.iter().take_while(|b| **b == 0).count();
        let value = &value[start.min(value.len().saturating_sub(1))..];
        let pad = value.first().is_none_or(|b| b & 0x80 != 0);
        out.push(0x02);
        length(out, value.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(value);
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    integer(&mut body, n);
    integer(&mut body, e);
    let mut der = Vec::with_capacity(body.len() + 8);
    der.push(0x30);
    length(&mut der, body.len());
    der.extend_from_slice(&body);
    der
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_of_small_components() {
        // n = 0x80 needs a zero pad; e = 65537; leading zeros are dropped.
        assert_eq!(
            rsa_public_key_der(&[0, 0x80], &[1, 0, 1]),
            [
                0x30, 0x09, 0x02, 0x02, 0x00, 0x80, 0x02, 0x03, 0x01, 0x00, 0x01
            ]
        );
    }

    #[test]
    fn der_long_lengths() {
        let n = vec![0x7f; 256];
        let der = rsa_public_key_der(&n, &[3]);
        assert_eq!(&der[..4], &[0x30, 0x82, 0x01, 0x07]);
        assert_eq!(&der[4..8], &[0x02, 0x82, 0x01, 0x00]);
    }
}
