//! gRPC servers (feature `tonic`): refusals as gRPC statuses, and tonic interop.
//!
//! The layers work on `tonic::transport::Server::builder().layer(…)` and around one service
//! (they implement `NamedService` when the service does). Credentials come from the
//! `authorization` metadata (`Bearer`, `Basic`) and from named metadata keys
//! ([`CredentialSources::token_header`](crate::extract::CredentialSources::token_header),
//! [`api_key_header`](crate::extract::CredentialSources::api_key_header)): gRPC metadata is
//! HTTP/2 headers. Sudo and tenants come from the metadata keys of
//! [`Impersonation`](crate::impersonate::Impersonation) (`x-sudo`, `x-tenant-id`,
//! `x-tenant-code`, names configurable). Per-method decisions map the method path
//! (`/pkg.Service/Method`) to an API id and scopes with
//! [`ApiTable::grpc_method`](crate::grant::ApiTable::grpc_method); a tonic interceptor cannot
//! make them, since it never sees the method. Handlers read the [`Principal`] from
//! `request.extensions()`, or with [`PrincipalExt::principal`].
//!
//! A refusal of a gRPC request (content type `application/grpc` or `application/grpc+…`) is
//! answered by [`GrpcResponder`]: HTTP 200, `content-type: application/grpc`, a
//! `grpc-status` ([`grpc_code`]) and a percent-encoded `grpc-message`, in one HEADERS frame
//! (gRPC's "Trailers-Only" response). Other requests keep the layer's responder.
//!
//! ```
//! use http::Request;
//! use tower::ServiceExt;
//! use tower_gatekeeper::verify::JwtVerifier;
//! use tower_gatekeeper::GatekeeperLayer;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let verifier = JwtVerifier::hs256(b"0123456789abcdef0123456789abcdef").unwrap();
//! let service = tower::ServiceBuilder::new()
//!     .layer(GatekeeperLayer::builder(verifier).build())
//!     .service_fn(|_req: Request<_>| async {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
//!     });
//! let request = Request::post("/helloworld.Greeter/SayHello")
//!     .header("content-type", "application/grpc")
//!     .body(http_body_util::Empty::<bytes::Bytes>::new())
//!     .unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["grpc-status"], "16"); // UNAUTHENTICATED
//! assert_eq!(response.headers()["grpc-message"], "unauthorized: no credential was presented");
//! # });
//! ```

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONNECTION, CONTENT_TYPE, PRAGMA};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::error::{AuthError, ErrorBody, ErrorKind, Refusal, Responder, rfc6750_response};
use crate::layer::{AuthorizeService, Gatekeeper};
use crate::principal::Principal;

/// The gRPC status code for a kind of refusal.
///
/// | kind | HTTP | gRPC |
/// | --- | --- | --- |
/// | no credential, bad credential | 401 | `UNAUTHENTICATED` (16) |
/// | missing scope, not allowed | 403 | `PERMISSION_DENIED` (7) |
/// | malformed request (two credentials, bad sudo) | 400 | `INVALID_ARGUMENT` (3) |
/// | backend unreachable | 503 | `UNAVAILABLE` (14) |
/// | body over the limit | 413 | `RESOURCE_EXHAUSTED` (8) |
/// | body not read in time | 408 | `DEADLINE_EXCEEDED` (4) |
///
/// `RESOURCE_EXHAUSTED` is what gRPC implementations answer for a message larger than the
/// server accepts; `DEADLINE_EXCEEDED` says that time ran out before the call was decided
/// (`UNAVAILABLE` would invite the client to retry at once). The layer reads no gRPC bodies
/// (its body sources read form and JSON bodies), so the last two come only from stages of
/// your own.
///
/// ```
/// use tower_gatekeeper::ErrorKind;
/// use tower_gatekeeper::grpc::grpc_code;
/// assert_eq!(grpc_code(ErrorKind::InvalidToken), tonic::Code::Unauthenticated);
/// assert_eq!(grpc_code(ErrorKind::InvalidRequest) as i32, 3);
/// ```
pub fn grpc_code(kind: ErrorKind) -> tonic::Code {
    match kind {
        ErrorKind::MissingCredential | ErrorKind::InvalidToken => tonic::Code::Unauthenticated,
        ErrorKind::InsufficientScope | ErrorKind::Forbidden => tonic::Code::PermissionDenied,
        ErrorKind::InvalidRequest => tonic::Code::InvalidArgument,
        ErrorKind::Unavailable => tonic::Code::Unavailable,
        ErrorKind::PayloadTooLarge => tonic::Code::ResourceExhausted,
        ErrorKind::RequestTimeout => tonic::Code::DeadlineExceeded,
    }
}

/// Whether `headers` are a gRPC request's: content type `application/grpc`, or
/// `application/grpc+<format>` (gRPC over HTTP/2, "Content-Type"), case-insensitive.
/// `application/grpc-web` is not (its framing differs).
///
/// ```
/// use tower_gatekeeper::grpc::is_grpc_request;
/// let with = |ct: &str| {
///     let mut h = http::HeaderMap::new();
///     h.insert("content-type", ct.parse().unwrap());
///     is_grpc_request(&h)
/// };
/// assert!(with("application/grpc") && with("application/grpc+proto") && with("Application/GRPC"));
/// assert!(!with("application/grpc-web") && !with("application/json") && !with("application/grpcx"));
/// ```
pub fn is_grpc_request(headers: &HeaderMap) -> bool {
    crate::layer::is_grpc_content_type(headers)
}

/// Bytes a `grpc-message` carries percent-encoded: everything outside `%x20-7E`, and `%`
/// itself (gRPC over HTTP/2, "Percent-Encoded"). Non-ASCII is always encoded.
const GRPC_MESSAGE: &AsciiSet = &CONTROLS.add(b'%');

/// The `grpc-message` for `error`: `<code>: <description>`, percent-encoded.
///
/// ```
/// use tower_gatekeeper::AuthError;
/// use tower_gatekeeper::grpc::grpc_message;
/// let m = grpc_message(&AuthError::forbidden("100% not yours — élan"));
/// assert_eq!(m, "access_denied: 100%25 not yours %E2%80%94 %C3%A9lan");
/// ```
pub fn grpc_message(error: &AuthError) -> HeaderValue {
    let text = error.to_string();
    let encoded = utf8_percent_encode(&text, GRPC_MESSAGE).to_string();
    // Only visible ASCII and spaces remain, which a header value always accepts.
    HeaderValue::try_from(encoded).unwrap_or_else(|_| HeaderValue::from_static("refused"))
}

/// Answers refusals the gRPC way: HTTP 200, `content-type: application/grpc`, `grpc-status`
/// (see [`grpc_code`]) and `grpc-message` ([`grpc_message`]), with no body (a Trailers-Only
/// response: tonic, grpc-go and grpc-java clients read the status from these headers).
///
/// The RFC 6750 challenges are kept as metadata (`www-authenticate` on `UNAUTHENTICATED`, and
/// on `INVALID_ARGUMENT` / `PERMISSION_DENIED` for bearer tokens, as RFC 6750 §3 places them),
/// so a client can still learn the realm and schemes. HTTP/1-only headers (`Connection`) and
/// cache headers are not sent.
///
/// The layer chooses it automatically for gRPC requests
/// ([`GatekeeperBuilder::grpc_responder`](crate::GatekeeperBuilder::grpc_responder)); as
/// [`responder`](crate::GatekeeperBuilder::responder) it answers every refusal this way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GrpcResponder;

impl Responder for GrpcResponder {
    fn respond(&self, refusal: &Refusal<'_>) -> Response<Full<Bytes>> {
        let error = refusal.error();
        let mut response = rfc6750_response(refusal, ErrorBody::empty());
        *response.status_mut() = StatusCode::OK;
        let headers = response.headers_mut();
        for name in [CACHE_CONTROL, PRAGMA, CONNECTION] {
            headers.remove(name);
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert(
            "grpc-status",
            HeaderValue::from(grpc_code(error.kind()) as i32),
        );
        headers.insert("grpc-message", grpc_message(error));
        response
    }
}

/// A refusal as a `tonic::Status`, for handlers that refuse by themselves: the code of
/// [`grpc_code`], the message `<code>: <description>`.
impl From<AuthError> for tonic::Status {
    fn from(error: AuthError) -> Self {
        tonic::Status::new(grpc_code(error.kind()), error.to_string())
    }
}

/// Reads the [`Principal`] of a tonic request.
///
/// ```
/// use tower_gatekeeper::grpc::PrincipalExt;
/// use tower_gatekeeper::principal::{Identity, Principal};
///
/// let mut request = tonic::Request::new(());
/// assert_eq!(request.principal().unwrap_err().code(), tonic::Code::Unauthenticated);
/// request.extensions_mut().insert(Principal::new(Identity::new("alice")));
/// assert_eq!(request.principal().unwrap().subject(), "alice");
/// ```
pub trait PrincipalExt {
    /// The principal the layer placed; `UNAUTHENTICATED` when there is none (the service is
    /// not behind a layer, or its layer runs in optional mode and the call was anonymous).
    fn principal(&self) -> Result<&Principal, tonic::Status>;
}

impl<T> PrincipalExt for tonic::Request<T> {
    fn principal(&self) -> Result<&Principal, tonic::Status> {
        self.extensions().get::<Principal>().ok_or_else(|| {
            tonic::Status::unauthenticated("unauthorized: no credential was presented")
        })
    }
}

/// A service behind the layer keeps its gRPC name, so `Server::add_service` takes it.
impl<S: tonic::server::NamedService> tonic::server::NamedService for Gatekeeper<S> {
    const NAME: &'static str = S::NAME;
}

/// A service behind the stage layer keeps its gRPC name.
impl<S: tonic::server::NamedService> tonic::server::NamedService for AuthorizeService<S> {
    const NAME: &'static str = S::NAME;
}
