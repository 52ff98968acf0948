//! Talking to other systems: the [`HttpClient`] the JWKS and introspection verifiers use.
//!
//! Bring your own client by implementing the trait, or enable the `reqwest` feature for
//! [`ReqwestClient`]. The verifiers put their own deadline on every call, so a client that
//! never answers costs a bounded wait; a client of your own should still time out and cap the
//! size of what it reads. Every failure — unreachable, timeout, a 5xx, an unreadable answer — is a
//! [`FetchError`], which the verifiers turn into 503: never a pass, never a 401.

use std::fmt;

use bytes::Bytes;

use crate::maybe_ready::BoxFuture;

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Bytes,
}

/// The remote system could not be asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError(pub String);

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FetchError {}

/// Client credentials for calls that need them (introspection). `Debug` hides the secret.
#[derive(Clone)]
pub struct ClientAuth {
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAuth")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

impl ClientAuth {
    /// The `Authorization: Basic` value, with id and secret form-urlencoded first
    /// (RFC 6749 §2.3.1).
    pub fn basic_header(&self) -> String {
        use base64::Engine as _;
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = format!("{}:{}", enc(&self.client_id), enc(&self.client_secret));
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

/// Fetches documents and posts forms for the verifiers.
pub trait HttpClient: Send + Sync + 'static {
    /// `GET url`.
    fn get(&self, url: &str) -> BoxFuture<Result<HttpResponse, FetchError>>;

    /// `POST url` with a form body, authenticated with `auth` (Basic) when given.
    fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        auth: Option<&ClientAuth>,
    ) -> BoxFuture<Result<HttpResponse, FetchError>>;
}

impl<C: HttpClient + ?Sized> HttpClient for std::sync::Arc<C> {
    fn get(&self, url: &str) -> BoxFuture<Result<HttpResponse, FetchError>> {
        (**self).get(url)
    }
    fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        auth: Option<&ClientAuth>,
    ) -> BoxFuture<Result<HttpResponse, FetchError>> {
        (**self).post_form(url, form, auth)
    }
}

#[cfg(feature = "reqwest")]
pub use reqwest_client::ReqwestClient;

#[cfg(feature = "reqwest")]
mod reqwest_client {
    use std::time::Duration;

    use super::{BoxFuture, ClientAuth, FetchError, HttpClient, HttpResponse};

    /// An [`HttpClient`] on `reqwest` with rustls, with a deadline on every call (5 s by
    /// default, connecting, sending and reading the answer included) and a cap on the size of
    /// an answer (1 MiB by default: a larger one is a [`FetchError`], read no further).
    ///
    /// ```
    /// use std::time::Duration;
    /// let client = tower_gatekeeper::verify::ReqwestClient::with_timeout(Duration::from_secs(2))
    ///     .max_response_bytes(256 * 1024);
    /// # let _ = client;
    /// ```
    #[derive(Debug, Clone)]
    pub struct ReqwestClient {
        client: reqwest::Client,
        max_response_bytes: usize,
    }

    /// The largest answer read unless configured.
    const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

    impl Default for ReqwestClient {
        fn default() -> Self {
            Self::new()
        }
    }

    impl ReqwestClient {
        /// A client with a 5 second deadline per call.
        pub fn new() -> Self {
            Self::with_timeout(Duration::from_secs(5))
        }

        /// A client with the given deadline per call (connecting, sending and reading the
        /// answer included).
        pub fn with_timeout(timeout: Duration) -> Self {
            let client = reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .build()
                .expect("the TLS backend initialises");
            Self {
                client,
                max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            }
        }

        /// A client from a configured `reqwest::Client`. Give it a timeout
        /// (`reqwest::ClientBuilder::timeout`): the verifiers add their own deadline, but the
        /// connections of a client without one can linger.
        pub fn from_client(client: reqwest::Client) -> Self {
            Self {
                client,
                max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            }
        }

        /// The largest answer read (default 1 MiB); a larger one is a [`FetchError`].
        pub fn max_response_bytes(mut self, bytes: usize) -> Self {
            self.max_response_bytes = bytes;
            self
        }
    }

    async fn answer(
        response: Result<reqwest::Response, reqwest::Error>,
        limit: usize,
    ) -> Result<HttpResponse, FetchError> {
        let mut response = response.map_err(|e| FetchError(format!("request failed: {e}")))?;
        let status = response.status().as_u16();
        let too_large = || FetchError(format!("the answer is larger than {limit} bytes"));
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError(format!("reading the answer failed: {e}")))?
        {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            body: body.into(),
        })
    }

    impl HttpClient for ReqwestClient {
        fn get(&self, url: &str) -> BoxFuture<Result<HttpResponse, FetchError>> {
            let request = self.client.get(url).header("accept", "application/json");
            let limit = self.max_response_bytes;
            Box::pin(async move { answer(request.send().await, limit).await })
        }

        fn post_form(
            &self,
            url: &str,
            form: &[(&str, &str)],
            auth: Option<&ClientAuth>,
        ) -> BoxFuture<Result<HttpResponse, FetchError>> {
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish();
            let mut request = self
                .client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("accept", "application/json")
                .body(body);
            if let Some(auth) = auth {
                request = request.header("authorization", auth.basic_header());
            }
            let limit = self.max_response_bytes;
            Box::pin(async move { answer(request.send().await, limit).await })
        }
    }
}
