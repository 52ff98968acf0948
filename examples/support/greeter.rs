//! `helloworld.Greeter` (examples/proto/helloworld.proto), written by hand so that no `protoc`
//! is needed: the messages with prost's derive macros, the server and the client on tonic's
//! generic gRPC machinery (`tonic::server::Grpc`, `tonic::client::Grpc`) with the prost codec.
//! Shared by `examples/tonic.rs` and the tonic tests (`#[path]`-included).

#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::uri::PathAndQuery;
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `message HelloRequest { string name = 1; }`
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloRequest {
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `message HelloReply { string message = 1; }`
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloReply {
    #[prost(string, tag = "1")]
    pub message: String,
}

/// The service name, as `Server::add_service` routes it.
pub const SERVICE: &str = "helloworld.Greeter";
/// The method path of `SayHello`.
pub const SAY_HELLO: &str = "/helloworld.Greeter/SayHello";

/// What `SayHello` answers.
pub type SayHelloFn =
    dyn Fn(Request<HelloRequest>) -> Result<Response<HelloReply>, Status> + Send + Sync;

/// The server: `SayHello` runs `handler`; any other method is `UNIMPLEMENTED`.
#[derive(Clone)]
pub struct GreeterServer {
    handler: Arc<SayHelloFn>,
}

impl GreeterServer {
    pub fn new(
        handler: impl Fn(Request<HelloRequest>) -> Result<Response<HelloReply>, Status>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        Self {
            handler: Arc::new(handler),
        }
    }
}

impl tonic::server::NamedService for GreeterServer {
    const NAME: &'static str = SERVICE;
}

struct SayHello(Arc<SayHelloFn>);

impl tonic::server::UnaryService<HelloRequest> for SayHello {
    type Response = HelloReply;
    type Future = std::future::Ready<Result<Response<HelloReply>, Status>>;

    fn call(&mut self, request: Request<HelloRequest>) -> Self::Future {
        std::future::ready((self.0)(request))
    }
}

impl<B> tower::Service<http::Request<B>> for GreeterServer
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let handler = self.handler.clone();
        if request.uri().path() != SAY_HELLO {
            return Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) });
        }
        Box::pin(async move {
            let codec = ProstCodec::<HelloReply, HelloRequest>::default();
            let mut grpc = tonic::server::Grpc::new(codec);
            Ok(grpc.unary(SayHello(handler), request).await)
        })
    }
}

/// The client.
#[derive(Debug, Clone)]
pub struct GreeterClient {
    inner: tonic::client::Grpc<tonic::transport::Channel>,
}

impl GreeterClient {
    /// Connects to `http://host:port`.
    pub async fn connect(address: String) -> Result<Self, tonic::transport::Error> {
        let channel = tonic::transport::Endpoint::from_shared(address)?
            .connect()
            .await?;
        Ok(Self {
            inner: tonic::client::Grpc::new(channel),
        })
    }

    /// Calls `SayHello`.
    pub async fn say_hello(
        &mut self,
        request: impl tonic::IntoRequest<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        self.call(SAY_HELLO, request).await
    }

    /// Calls any method of the service with a `HelloRequest` (to try unmapped methods).
    pub async fn call(
        &mut self,
        path: &'static str,
        request: impl tonic::IntoRequest<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        self.inner
            .ready()
            .await
            .map_err(|e| Status::unavailable(format!("the channel is not ready: {e}")))?;
        let codec = ProstCodec::<HelloRequest, HelloReply>::default();
        self.inner
            .unary(
                request.into_request(),
                PathAndQuery::from_static(path),
                codec,
            )
            .await
    }
}
