//! JSON request bodies read as text first.
//!
//! RFC 8259 §8.1: JSON exchanged between systems is UTF-8. `serde_json::from_slice` checks
//! the UTF-8 of the strings it keeps but not of those it skips (an unknown member's value), so
//! a body with invalid UTF-8 in an ignored member would be accepted; checking the whole text
//! first refuses it.

use serde::de::{DeserializeOwned, Error as _};

/// `serde_json::from_slice`, refusing a body that is not UTF-8 wherever the bad bytes are.
pub(crate) fn from_utf8_slice<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| serde_json::Error::custom("the body is not UTF-8"))?;
    serde_json::from_str(text)
}
