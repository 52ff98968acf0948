//! Claims read in one pass, typed and borrowed: only the claims this crate uses are kept,
//! every other member is skipped without being built.
//!
//! The same reader serves JWT payloads (straight from the decoded bytes) and claim maps that
//! are already parsed ([`Identity::from_claims`](crate::principal::Identity::from_claims),
//! introspection answers), so both read claims the same way.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A claim value, as much of it as any claim needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Any<'a> {
    /// `null`.
    Null,
    /// A boolean.
    Other,
    /// A number: `Some(seconds)` when it is a valid NumericDate (RFC 7519 §2: non-negative,
    /// fractions floored), `None` otherwise.
    Number(Option<u64>),
    /// A string.
    Str(Cow<'a, str>),
    /// An array: its string elements (others skipped).
    Strings(Vec<Cow<'a, str>>),
    /// An object: the members a `tenant` or `act` claim uses.
    Object(Box<Members<'a>>),
}

/// The string members of an object claim that this crate reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Members<'a> {
    pub(crate) id: Option<Cow<'a, str>>,
    pub(crate) code: Option<Cow<'a, str>>,
    pub(crate) sub: Option<Cow<'a, str>>,
    pub(crate) client_id: Option<Cow<'a, str>>,
}

impl<'a> Any<'a> {
    /// The string, if it is one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Any::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The NumericDate, if it is a valid one.
    pub(crate) fn numeric_date(&self) -> Option<u64> {
        match self {
            Any::Number(n) => *n,
            _ => None,
        }
    }

    /// A space-delimited string or an array of strings, empty items dropped; anything else is
    /// empty.
    pub(crate) fn string_list(&self) -> Vec<String> {
        match self {
            Any::Str(s) => s
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            Any::Strings(items) => items
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| s.to_string())
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn numeric_f64(f: f64) -> Option<u64> {
    (f.is_finite() && f >= 0.0 && f < u64::MAX as f64).then(|| f.floor() as u64)
}

/// Reads any JSON value into [`Any`], building only strings.
struct AnyVisitor;

impl<'de> Visitor<'de> for AnyVisitor {
    type Value = Any<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Any<'de>, E> {
        Ok(Any::Other)
    }
    fn visit_u64<E>(self, n: u64) -> Result<Any<'de>, E> {
        Ok(Any::Number(Some(n)))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Any<'de>, E> {
        Ok(Any::Number(u64::try_from(n).ok()))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Any<'de>, E> {
        Ok(Any::Number(numeric_f64(f)))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Any<'de>, E> {
        Ok(Any::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Any<'de>, E> {
        Ok(Any::Str(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Any<'de>, E> {
        Ok(Any::Str(Cow::Owned(s)))
    }
    fn visit_unit<E>(self) -> Result<Any<'de>, E> {
        Ok(Any::Null)
    }
    fn visit_none<E>(self) -> Result<Any<'de>, E> {
        Ok(Any::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Any<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<MaybeStr<'de>>()? {
            if let Some(s) = item.0 {
                items.push(s);
            }
        }
        Ok(Any::Strings(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Any<'de>, A::Error> {
        let mut members = Members::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let slot = match &*key.0 {
                "id" => &mut members.id,
                "code" => &mut members.code,
                "sub" => &mut members.sub,
                "client_id" => &mut members.client_id,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            // Like a parsed map, the last duplicate wins.
            *slot = map.next_value::<MaybeStr<'de>>()?.0;
        }
        Ok(Any::Object(Box::new(members)))
    }
}

impl<'de> de::Deserialize<'de> for Any<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AnyVisitor)
    }
}

/// A string (borrowed when it can be), or nothing for any other value (skipped).
struct MaybeStr<'a>(Option<Cow<'a, str>>);

impl<'de> de::Deserialize<'de> for MaybeStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(AnyVisitor)? {
            Any::Str(s) => Ok(MaybeStr(Some(s))),
            _ => Ok(MaybeStr(None)),
        }
    }
}

/// An object member name, borrowed when it can be.
struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The claims this crate reads, by name; each `None` when absent.
macro_rules! claim_set {
    ($($field:ident = $name:literal @ $bit:literal,)*) => {
        /// The claims this crate reads, each `None` when absent.
        #[derive(Debug, Default)]
        #[allow(non_snake_case)]
        pub(crate) struct ClaimSet<'a> {
            $(pub(crate) $field: Option<Any<'a>>,)*
        }

        /// The names of the claims a [`ClaimSet`] holds, in bit order.
        pub(crate) const NAMES: &[&str] = &[$($name),*];

        impl<'a> ClaimSet<'a> {
            /// The slot for `name` and its bit, if it is a claim this crate reads.
            fn slot(&mut self, name: &str) -> Option<(&mut Option<Any<'a>>, u32)> {
                match name {
                    $($name => Some((&mut self.$field, 1u32 << $bit)),)*
                    _ => None,
                }
            }
        }
    };
}

claim_set! {
    iss = "iss" @ 0,
    sub = "sub" @ 1,
    aud = "aud" @ 2,
    exp = "exp" @ 3,
    nbf = "nbf" @ 4,
    iat = "iat" @ 5,
    jti = "jti" @ 6,
    client_id = "client_id" @ 7,
    azp = "azp" @ 8,
    clientId = "clientId" @ 9,
    scope = "scope" @ 10,
    scp = "scp" @ 11,
    roles = "roles" @ 12,
    tenant = "tenant" @ 13,
    tenant_id = "tenant_id" @ 14,
    tenantId = "tenantId" @ 15,
    act = "act" @ 16,
}

/// The bit of a claim this crate reads, for [`Read::seen`].
pub(crate) fn bit_of(name: &str) -> Option<u32> {
    NAMES.iter().position(|n| *n == name).map(|i| 1u32 << i)
}

/// What one pass over a claims object found.
#[derive(Debug, Default)]
pub(crate) struct Read<'a> {
    pub(crate) claims: ClaimSet<'a>,
    /// The claims of [`NAMES`] that were present, one bit each.
    pub(crate) seen: u32,
    /// Which of the other names asked for were present (bit `i`: `others[i]`).
    pub(crate) others_seen: u64,
}

/// Reads a claims object. `others` are further names whose presence is recorded (at most 64;
/// required claims this crate does not otherwise read). With `reject_duplicates`, a claim of
/// [`NAMES`] given twice is an error (RFC 7519 §4 lets a parser refuse them; it removes any
/// doubt about which one was checked).
///
/// The claims are read into `out` in place (a claim set is a few hundred bytes: not moved
/// through the deserializer's layers).
pub(crate) struct ReadSeed<'o, 'r, 'de> {
    pub(crate) others: &'o [String],
    pub(crate) reject_duplicates: bool,
    pub(crate) out: &'r mut Read<'de>,
}

impl<'de> DeserializeSeed<'de> for ReadSeed<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ReadSeed<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let read = self.out;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if let Some((slot, bit)) = read.claims.slot(&key.0) {
                if self.reject_duplicates && read.seen & bit != 0 {
                    return Err(de::Error::custom("duplicate claim"));
                }
                read.seen |= bit;
                *slot = Some(map.next_value::<Any<'de>>()?);
                continue;
            }
            if let Some(i) = self.others.iter().take(64).position(|o| *o == *key.0) {
                read.others_seen |= 1 << i;
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Read<'_> {
        let mut de = serde_json::Deserializer::from_str(json);
        let mut read = Read::default();
        ReadSeed {
            others: &["custom".to_owned()],
            reject_duplicates: true,
            out: &mut read,
        }
        .deserialize(&mut de)
        .unwrap();
        de.end().unwrap();
        read
    }

    #[test]
    fn values_are_read_as_claims_need_them() {
        let r = read(
            r#"{"sub":"u","exp":17.9,"nbf":-1,"iat":"x","aud":["a",1,"b"],"act":{"sub":"s","x":[1]},"custom":null,"other":{"deep":[{}]}}"#,
        );
        assert_eq!(r.claims.sub, Some(Any::Str("u".into())));
        assert_eq!(r.claims.exp.as_ref().and_then(Any::numeric_date), Some(17));
        assert_eq!(r.claims.nbf, Some(Any::Number(None)));
        assert_eq!(r.claims.iat.as_ref().and_then(Any::numeric_date), None);
        assert_eq!(
            r.claims.aud,
            Some(Any::Strings(vec!["a".into(), "b".into()]))
        );
        let Some(Any::Object(act)) = &r.claims.act else {
            panic!("act is an object")
        };
        assert_eq!(act.sub.as_deref(), Some("s"));
        assert_eq!(r.others_seen, 1);
        assert_eq!(r.seen & bit_of("iss").unwrap(), 0);
        assert_ne!(r.seen & bit_of("exp").unwrap(), 0);
    }

    #[test]
    fn escaped_strings_are_read_too() {
        let r = read(r#"{"sub":"a\"b","sc\u006fpe":"x y"}"#);
        assert_eq!(r.claims.sub.as_ref().and_then(Any::as_str), Some("a\"b"));
        assert_eq!(r.claims.scope.as_ref().unwrap().string_list(), ["x", "y"]);
    }

    #[test]
    fn duplicates_of_read_claims_are_refused() {
        let mut de = serde_json::Deserializer::from_str(r#"{"sub":"a","sub":"b"}"#);
        let mut read = Read::default();
        let seed = ReadSeed {
            others: &[],
            reject_duplicates: true,
            out: &mut read,
        };
        assert!(seed.deserialize(&mut de).is_err());
    }

    #[test]
    fn names_and_bits_agree() {
        for name in NAMES {
            let mut set = ClaimSet::default();
            assert_eq!(set.slot(name).map(|(_, b)| b), bit_of(name), "{name}");
        }
        assert!(bit_of("department").is_none());
    }
}
