//! Strict reading of the sudo and tenant query parameters.
//!
//! The query is read as `application/x-www-form-urlencoded` (WHATWG URL §5.1, the form axum's
//! `Query`, `form_urlencoded` and the Java servlet containers of the seeds use): `+` is a
//! space, `%2B` a plus. Unlike those readers this one is strict — a malformed escape or
//! invalid UTF-8 is a 400, never replaced — so whenever the gatekeeper accepts a query, a
//! handler reading it with `Query` sees exactly the same values.

use std::borrow::Cow;

use crate::error::AuthError;

/// How `+` is read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plus {
    /// `application/x-www-form-urlencoded`: `+` is a space (query strings).
    Space,
    /// RFC 3986 percent-decoding only: `+` is a plus (header values).
    Literal,
}

/// Percent-decodes `raw` exactly once. A `%` not followed by two hex digits, or bytes that are
/// not UTF-8, are errors; `+` is read as `plus` says.
pub(crate) fn decode(raw: &str, plus: Plus) -> Option<Cow<'_, str>> {
    let bytes = raw.as_bytes();
    // Nothing to decode: the text itself (most names and values), with no copy.
    if is_plain(bytes, plus) {
        return Some(Cow::Borrowed(raw));
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'+' && plus == Plus::Space {
            out.push(b' ');
            i += 1;
        } else if bytes[i] == b'%' {
            let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
            let (hi, lo) = (hex(bytes.get(i + 1))?, hex(bytes.get(i + 2))?);
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// Whether `bytes` decode to themselves: no `%`, and no `+` where it means a space.
fn is_plain(bytes: &[u8], plus: Plus) -> bool {
    match plus {
        Plus::Space => !bytes.iter().any(|&b| b == b'%' || b == b'+'),
        Plus::Literal => !bytes.contains(&b'%'),
    }
}

/// Finds the parameters `names` in `query`: each at most once (a repeat is a 400), values
/// decoded strictly.
///
/// One pass over the bytes: pairs end at `&`, a name at its first `=`; a name with no escape
/// is compared as it is (no copy), and only an escaped one is decoded.
pub(crate) fn scan<'q, const N: usize>(
    query: Option<&'q str>,
    names: [&str; N],
) -> Result<[Option<Cow<'q, str>>; N], AuthError> {
    let mut found: [Option<Cow<'q, str>>; N] = std::array::from_fn(|_| None);
    let Some(query) = query else {
        return Ok(found);
    };
    let bytes = query.as_bytes();
    let mut start = 0;
    // `&` and `=` are ASCII, so every index below is a character boundary.
    while start <= bytes.len() {
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'&')
            .map_or(bytes.len(), |i| start + i);
        let pair = &query[start..end];
        start = end + 1;
        let (raw_name, raw_value) = match pair.bytes().position(|b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, ""),
        };
        // A plain name is borrowed as it is; one that does not decode cannot be one of ours.
        let slot =
            decode(raw_name, Plus::Space).and_then(|name| names.iter().position(|n| *n == name));
        let Some(slot) = slot else {
            continue;
        };
        let name = names[slot];
        if found[slot].is_some() {
            return Err(AuthError::invalid_request(format!(
                "the parameter {name} is repeated"
            )));
        }
        let value = decode(raw_value, Plus::Space).ok_or_else(|| {
            AuthError::invalid_request(format!(
                "the parameter {name} is not validly percent-encoded UTF-8"
            ))
        })?;
        found[slot] = Some(value);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_once_and_strictly() {
        assert_eq!(decode("a%2Bb+c", Plus::Space).as_deref(), Some("a+b c"));
        assert_eq!(decode("a%2Bb+c", Plus::Literal).as_deref(), Some("a+b+c"));
        assert_eq!(decode("%252B", Plus::Space).as_deref(), Some("%2B"));
        for plus in [Plus::Space, Plus::Literal] {
            assert_eq!(decode("%ZZ", plus), None);
            assert_eq!(decode("%4", plus), None);
            assert_eq!(decode("%FF", plus), None);
            assert_eq!(decode("%C3%A9", plus).as_deref(), Some("é"));
        }
    }

    #[test]
    fn scan_finds_encoded_names_and_refuses_repeats() {
        let [a, b] = scan(Some("x=1&su%64o=uid:1&tenantId=t"), ["sudo", "tenantId"]).unwrap();
        assert_eq!((a.as_deref(), b.as_deref()), (Some("uid:1"), Some("t")));
        assert!(scan(Some("sudo=uid:1&sudo=uid:1"), ["sudo"]).is_err());
        assert!(scan(Some("sudo=%ZZ"), ["sudo"]).is_err());
        assert_eq!(scan(Some("other=%ZZ"), ["sudo"]).unwrap(), [None]);
    }

    /// The reading by `split`, as it was before the one-pass scan.
    fn scan_by_split<'q>(query: &'q str, names: [&str; 2]) -> Option<[Option<Cow<'q, str>>; 2]> {
        let mut found: [Option<Cow<'q, str>>; 2] = [None, None];
        for pair in query.split('&') {
            let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let Some(name) = decode(raw_name, Plus::Space) else {
                continue;
            };
            let Some(slot) = names.iter().position(|n| *n == &*name) else {
                continue;
            };
            if found[slot].is_some() {
                return None;
            }
            found[slot] = Some(decode(raw_value, Plus::Space)?);
        }
        Some(found)
    }

    #[test]
    fn the_one_pass_scan_reads_every_short_query_as_split_does() {
        // Every query of up to five symbols over the bytes that matter.
        let alphabet = ["a", "b", "=", "&", "%", "6", "1", "+", "é"];
        let names = ["a", "b a"];
        let mut queries = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> = queries
                .iter()
                .flat_map(|q| alphabet.iter().map(move |c| format!("{q}{c}")))
                .collect();
            queries.extend(longer);
        }
        queries.sort();
        queries.dedup();
        assert!(queries.len() > 60_000);
        for q in &queries {
            assert_eq!(scan(Some(q), names).ok(), scan_by_split(q, names), "{q:?}");
        }
    }
}
