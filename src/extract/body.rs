//! Credentials in request bodies, and the body type handed to the inner service.

use std::borrow::Cow;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use pin_project_lite::pin_project;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use super::{Credential, Source, check_token};
use crate::error::AuthError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFormat {
    Form,
    Json,
}

pin_project! {
    /// The request body the inner service receives.
    ///
    /// Usually the original body, untouched. When the layer had to read the body to look for
    /// a credential, the exact bytes it read (and any trailers), replayed; when an anonymous
    /// body in optional mode grew past the limit while being read, the bytes read followed by
    /// the rest of the original stream.
    /// (Variant fields are the body, and the bytes and trailers not yet replayed.)
    #[project = RequestBodyProj]
    #[allow(missing_docs)]
    pub enum RequestBody<B> {
        /// The original body, streamed through.
        Original {
            #[pin]
            body: B,
        },
        /// A body that was read to find a credential.
        Buffered {
            data: Option<Bytes>,
            // Boxed: rare, and a `HeaderMap` inline would make every request's body as large.
            trailers: Option<Box<HeaderMap>>,
        },
        /// A body that was partly read: `prefix` (the bytes read, not yet replayed), then
        /// the rest of the original body, its trailers included.
        Prefixed {
            prefix: Option<Bytes>,
            rest: Pin<Box<B>>,
        },
    }
}

impl<B> RequestBody<B> {
    /// Wraps an original body.
    pub fn new(body: B) -> Self {
        Self::Original { body }
    }

    pub(crate) fn buffered(data: Bytes, trailers: Option<HeaderMap>) -> Self {
        Self::Buffered {
            data: (!data.is_empty()).then_some(data),
            trailers: trailers.map(Box::new),
        }
    }

    pub(crate) fn prefixed(prefix: Bytes, rest: Pin<Box<B>>) -> Self {
        Self::Prefixed {
            prefix: (!prefix.is_empty()).then_some(prefix),
            rest,
        }
    }
}

impl<B> fmt::Debug for RequestBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Original { .. } => f.write_str("RequestBody::Original"),
            Self::Buffered { data, .. } => write!(
                f,
                "RequestBody::Buffered({} bytes)",
                data.as_ref().map_or(0, Bytes::len)
            ),
            Self::Prefixed { prefix, .. } => write!(
                f,
                "RequestBody::Prefixed({} bytes, then the rest)",
                prefix.as_ref().map_or(0, Bytes::len)
            ),
        }
    }
}

impl<B> Body for RequestBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project() {
            RequestBodyProj::Original { body } => body.poll_frame(cx),
            RequestBodyProj::Buffered { data, trailers } => {
                if let Some(data) = data.take() {
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Poll::Ready(trailers.take().map(|t| Ok(Frame::trailers(*t))))
            }
            RequestBodyProj::Prefixed { prefix, rest } => {
                if let Some(prefix) = prefix.take() {
                    return Poll::Ready(Some(Ok(Frame::data(prefix))));
                }
                rest.as_mut().poll_frame(cx)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Original { body } => body.is_end_stream(),
            Self::Buffered { data, trailers } => data.is_none() && trailers.is_none(),
            Self::Prefixed { prefix, rest } => prefix.is_none() && rest.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Original { body } => body.size_hint(),
            Self::Buffered { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Self::Prefixed { prefix, rest } => {
                let read = prefix.as_ref().map_or(0, |p| p.len() as u64);
                let rest = rest.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower().saturating_add(read));
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper.saturating_add(read));
                }
                hint
            }
        }
    }
}

/// Reads at most `limit` bytes of `body`; 413 past it, 400 when the body cannot be read.
/// (The admin and token services read their bodies with it.)
#[cfg(feature = "issuer")]
pub(crate) async fn read_limited<B>(
    body: B,
    limit: usize,
    content_length: Option<u64>,
) -> Result<(Bytes, Option<HeaderMap>), AuthError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if content_length.is_some_and(|len| len > limit as u64) {
        return Err(AuthError::payload_too_large());
    }
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => {
            let trailers = collected.trailers().cloned();
            Ok((collected.to_bytes(), trailers))
        }
        Err(err) if err.is::<http_body_util::LengthLimitError>() => {
            Err(AuthError::payload_too_large())
        }
        Err(_) => Err(AuthError::invalid_request(
            "the request body could not be read",
        )),
    }
}

/// What reading a body up to a limit found.
pub(crate) enum BodyRead<B> {
    /// The whole body, within the limit, and its trailers.
    Complete(Bytes, Option<HeaderMap>),
    /// The body grew past the limit: the bytes read so far (more than the limit), and the
    /// body itself, positioned after them.
    TooLarge { prefix: Bytes, rest: Pin<Box<B>> },
}

/// Reads `body` until it ends or more than `limit` bytes have arrived; 400 when it cannot be
/// read. Allocates the body on the heap, so that a body that is too large can be handed on.
pub(crate) async fn read_up_to<B>(body: B, limit: usize) -> Result<BodyRead<B>, AuthError>
where
    B: Body<Data = Bytes>,
{
    let mut body = Box::pin(body);
    // The common case, one data frame, is kept without a copy.
    let mut first: Option<Bytes> = None;
    let mut more = BytesMut::new();
    let mut trailers: Option<HeaderMap> = None;
    let mut read = 0usize;
    while let Some(frame) = body.as_mut().frame().await {
        let frame =
            frame.map_err(|_| AuthError::invalid_request("the request body could not be read"))?;
        let frame = match frame.into_data() {
            Ok(data) => {
                read = read.saturating_add(data.len());
                match &first {
                    None => first = Some(data),
                    Some(_) => more.extend_from_slice(&data),
                }
                if read > limit {
                    let prefix = join(first, more);
                    return Ok(BodyRead::TooLarge { prefix, rest: body });
                }
                continue;
            }
            Err(frame) => frame,
        };
        if let Ok(t) = frame.into_trailers() {
            match &mut trailers {
                Some(existing) => existing.extend(t),
                None => trailers = Some(t),
            }
        }
    }
    Ok(BodyRead::Complete(join(first, more), trailers))
}

fn join(first: Option<Bytes>, more: BytesMut) -> Bytes {
    match first {
        None => Bytes::new(),
        Some(first) if more.is_empty() => first,
        Some(first) => {
            let mut all = BytesMut::with_capacity(first.len() + more.len());
            all.extend_from_slice(&first);
            all.extend_from_slice(&more);
            all.freeze()
        }
    }
}

/// Looks for the string field `field` in a form or JSON body.
///
/// A repeated field is refused (400), as is a JSON field that is not a string. A JSON body that
/// does not parse as an object holds no credential: the inner service will judge it.
pub(crate) fn find_in_body<'a>(
    format: BodyFormat,
    field: &str,
    body: &'a [u8],
) -> Result<Option<Credential<'a>>, AuthError> {
    let repeated = super::more_than_one;
    match format {
        BodyFormat::Form => {
            let mut found: Option<Cow<'a, str>> = None;
            for (key, value) in form_urlencoded::parse(body) {
                if key == field {
                    if found.is_some() {
                        return Err(repeated());
                    }
                    check_token(&value)?;
                    found = Some(value);
                }
            }
            Ok(found.map(|t| Credential::bearer(t, Source::Body)))
        }
        BodyFormat::Json => {
            let mut de = serde_json::Deserializer::from_slice(body);
            // Anything after the object makes the body unparseable: no credential.
            let parsed = (FieldSeed { field })
                .deserialize(&mut de)
                .and_then(|f| de.end().map(|()| f));
            match parsed {
                Ok(JsonField::Found(token)) => {
                    check_token(&token)?;
                    Ok(Some(Credential::bearer(token, Source::Body)))
                }
                Ok(JsonField::Absent) => Ok(None),
                Ok(JsonField::Repeated) => Err(repeated()),
                Ok(JsonField::NotAString) => Err(AuthError::invalid_request(
                    "the access token field in the JSON body is not a string",
                )),
                Err(_) => Ok(None),
            }
        }
    }
}

enum JsonField {
    Absent,
    Found(String),
    Repeated,
    NotAString,
}

struct FieldSeed<'f> {
    field: &'f str,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = JsonField;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<JsonField, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = JsonField;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonField, A::Error> {
        let mut result = JsonField::Absent;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key != self.field {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value = map.next_value::<serde_json::Value>()?;
            result = match (result, value) {
                (JsonField::Absent, serde_json::Value::String(s)) => JsonField::Found(s),
                (JsonField::Absent, _) => JsonField::NotAString,
                _ => JsonField::Repeated,
            };
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn form_field() {
        let c = find_in_body(
            BodyFormat::Form,
            "access_token",
            b"a=1&access_token=tok%2Bx&b=2",
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.token(), Some("tok+x"));
        let err = find_in_body(
            BodyFormat::Form,
            "access_token",
            b"access_token=a&access_token=a",
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    }

    #[test]
    fn json_field() {
        let c = find_in_body(
            BodyFormat::Json,
            "access_token",
            br#"{"x":[1,{"access_token":"no"}],"access_token":"yes"}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.token(), Some("yes"));
        for (body, kind) in [
            (
                &br#"{"access_token":"a","access_token":"a"}"#[..],
                ErrorKind::InvalidRequest,
            ),
            (br#"{"access_token":42}"#, ErrorKind::InvalidRequest),
            (br#"{"access_token":""}"#, ErrorKind::InvalidRequest),
        ] {
            assert_eq!(
                find_in_body(BodyFormat::Json, "access_token", body)
                    .unwrap_err()
                    .kind(),
                kind
            );
        }
        assert!(
            find_in_body(BodyFormat::Json, "access_token", b"[1,2]")
                .unwrap()
                .is_none()
        );
        assert!(
            find_in_body(BodyFormat::Json, "access_token", b"{not json")
                .unwrap()
                .is_none()
        );
    }
}
