//! Verification keys prepared once: HMAC key state and parsed public keys (aws-lc-rs), so a
//! request pays for the signature check alone.

use std::fmt;

use aws_lc_rs::signature;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};
use sha2::{Sha256, Sha384, Sha512};

// HMAC keys (RFC 2104) come from the RustCrypto `hmac` crate, keyed once when the verifier is
// built: the inner and outer pads are already absorbed, so a tag costs the message's blocks and
// one more, nothing for the key. Not aws-lc-rs's HMAC: copying its context per call cost more
// than hashing a typical token (measured in `benches/compare.rs`, micro mode). The unit tests
// below check the tags against aws-lc-rs.

/// A keyed HMAC; HMAC takes a key of any length (RFC 2104 §2: a longer one is hashed first).
fn keyed<M: KeyInit>(secret: &[u8]) -> M {
    M::new_from_slice(secret).expect("HMAC takes a key of any length")
}

/// Whether `tag` is the full tag of `message`. `verify_slice` compares in constant time
/// (`subtle`) and refuses a tag of another length (RFC 7518 §3.2: the full output).
fn hmac_matches<M: Mac + Clone>(keyed: &M, message: &[u8], tag: &[u8]) -> bool {
    let mut mac = keyed.clone();
    mac.update(message);
    mac.verify_slice(tag).is_ok()
}

/// One allowed algorithm of a key, ready to verify.
pub(super) enum Prepared {
    /// HS256.
    Hs256(Hmac<Sha256>),
    /// HS384.
    Hs384(Hmac<Sha384>),
    /// HS512.
    Hs512(Hmac<Sha512>),
    /// A public key parsed once (RSA, ECDSA, Ed25519).
    Public(signature::ParsedPublicKey),
    /// The key material could not be read for this algorithm: every token is refused, as
    /// verifying it would fail.
    Unusable,
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Hs256(_) | Self::Hs384(_) | Self::Hs512(_) => "Hmac",
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
                let Ok(secret) = key.try_get_as_bytes() else {
                    return Self::Unusable;
                };
                return match alg {
                    Algorithm::HS256 => Self::Hs256(keyed(secret)),
                    Algorithm::HS384 => Self::Hs384(keyed(secret)),
                    _ => Self::Hs512(keyed(secret)),
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
            Self::Hs256(key) => hmac_matches(key, message, signature),
            Self::Hs384(key) => hmac_matches(key, message, signature),
            Self::Hs512(key) => hmac_matches(key, message, signature),
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
    use aws_lc_rs::hmac as reference_hmac;

    #[test]
    fn hmac_agrees_with_aws_lc() {
        let algs = [
            (Algorithm::HS256, reference_hmac::HMAC_SHA256),
            (Algorithm::HS384, reference_hmac::HMAC_SHA384),
            (Algorithm::HS512, reference_hmac::HMAC_SHA512),
        ];
        for (alg, reference) in algs {
            // Key lengths around the block sizes (64, 128), messages of several blocks.
            for key_len in [0, 1, 32, 63, 64, 65, 127, 128, 129, 300] {
                let secret: Vec<u8> = (0..key_len).map(|i| (i * 7 + 3) as u8).collect();
                let key = DecodingKey::from_secret(&secret);
                let prepared = Prepared::new(&key, alg);
                let reference = reference_hmac::Key::new(reference, &secret);
                for msg_len in [0, 1, 55, 56, 64, 111, 112, 128, 333] {
                    let message: Vec<u8> = (0..msg_len).map(|i| (i * 13) as u8).collect();
                    let tag = reference_hmac::sign(&reference, &message);
                    assert!(
                        prepared.verify(&message, tag.as_ref()),
                        "{alg:?} {key_len} {msg_len}"
                    );
                    let mut wrong = tag.as_ref().to_vec();
                    wrong[0] ^= 1;
                    assert!(!prepared.verify(&message, &wrong));
                    // Truncated tags are refused (RFC 7518 §3.2: the full output).
                    assert!(!prepared.verify(&message, &tag.as_ref()[..16]));
                    assert!(!prepared.verify(&message, &[]));
                }
            }
        }
    }

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
