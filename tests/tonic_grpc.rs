//! A real tonic server and a real tonic client over loopback: each refusal arrives as a gRPC
//! status (16, 7, 3, 14) a tonic client reads, per-method grants are decided from the method
//! path, and the principal reaches the handler.

#[path = "../examples/support/greeter.rs"]
mod greeter;

use std::net::SocketAddr;
use std::sync::Arc;

use greeter::{GreeterClient, GreeterServer, HelloReply, HelloRequest};
use jsonwebtoken::{EncodingKey, Header};
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};
use tower_gatekeeper::extract::CredentialSources;
use tower_gatekeeper::grant::{
    ApiRoute, ApiTable, Grant, GrantCheck, GrantError, GrantState, GrantStore, GrantUpdate,
    Grantee, InMemoryGrantStore,
};
use tower_gatekeeper::grpc::PrincipalExt;
use tower_gatekeeper::principal::PrincipalKind;
use tower_gatekeeper::verify::JwtVerifier;
use tower_gatekeeper::{BoxFuture, GatekeeperLayer, MaybeReady};

const SECRET: &str = "tonic-grpc-test-secret-0123456789abcdef";
const EXP: u64 = 4_000_000_000;
const SAY_GOODBYE: &str = "/helloworld.Greeter/SayGoodbye";

fn token(client: &str, scope: &str) -> String {
    let claims = serde_json::json!({
        "iss": "tonic-demo", "aud": "greeter", "sub": client, "client_id": client,
        "scope": scope, "exp": EXP,
    });
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn grant(store: &InMemoryGrantStore, api: &str, client: &str) {
    store
        .update_now(api, Grantee::client(client), |_| {
            Ok(Grant {
                api_id: api.into(),
                grantee: client.into(),
                grantee_kind: PrincipalKind::Client,
                state: GrantState::Active,
                starts_at: Some(1),
                ends_at: EXP,
                revoke_at: None,
                renewal: None,
            })
        })
        .unwrap();
}

struct Offline;

fn offline() -> GrantError {
    GrantError::Unavailable("db down".into())
}

impl GrantStore for Offline {
    fn get(&self, _: &str, _: Grantee<'_>) -> MaybeReady<Result<Option<Arc<Grant>>, GrantError>> {
        MaybeReady::Ready(Err(offline()))
    }
    fn update(
        &self,
        _: &str,
        _: Grantee<'_>,
        _: GrantUpdate,
    ) -> BoxFuture<Result<Arc<Grant>, GrantError>> {
        Box::pin(async { Err(offline()) })
    }
    fn list_by_api(&self, _: &str) -> BoxFuture<Result<Vec<Arc<Grant>>, GrantError>> {
        Box::pin(async { Err(offline()) })
    }
    fn list_by_grantee(&self, _: Grantee<'_>) -> BoxFuture<Result<Vec<Arc<Grant>>, GrantError>> {
        Box::pin(async { Err(offline()) })
    }
}

/// SayHello is API `greeter` (scope `greeter:hello`), SayGoodbye API `farewell` (no scope).
fn methods() -> ApiTable {
    ApiTable::new()
        .route(
            ApiRoute::grpc_method("greeter", "helloworld.Greeter/SayHello")
                .scopes(["greeter:hello"]),
        )
        .route(ApiRoute::grpc_method(
            "farewell",
            "helloworld.Greeter/SayGoodbye",
        ))
}

fn gate(store: impl GrantStore) -> GatekeeperLayer {
    let verifier = JwtVerifier::builder()
        .hs256(SECRET.as_bytes())
        .issuer("tonic-demo")
        .audience("greeter")
        .build()
        .unwrap();
    GatekeeperLayer::builder(verifier)
        .realm("greeter")
        .sources(CredentialSources::new().token_header("x-access-token"))
        .authorize(GrantCheck::by_table(store, methods()))
        .build()
}

fn greeter() -> GreeterServer {
    GreeterServer::new(|request| {
        let principal = request.principal()?;
        let subject = principal.subject().to_owned();
        let api = principal.api().unwrap_or("none").to_owned();
        let name = request.into_inner().name;
        Ok(tonic::Response::new(HelloReply {
            message: format!("Hello {name}, from {subject} via {api}"),
        }))
    })
}

fn granted_store() -> InMemoryGrantStore {
    let store = InMemoryGrantStore::new();
    grant(&store, "greeter", "app-1");
    grant(&store, "farewell", "app-2");
    store
}

enum Placement {
    /// `Server::builder().layer(gate)`: every service of the server.
    Server,
    /// Around the one service handed to `add_service`.
    Service,
}

async fn serve(layer: GatekeeperLayer, placement: Placement) -> GreeterClient {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    match placement {
        Placement::Server => {
            let router = tonic::transport::Server::builder()
                .layer(layer)
                .add_service(greeter());
            tokio::spawn(router.serve_with_incoming(incoming));
        }
        Placement::Service => {
            let service = tower::ServiceBuilder::new().layer(layer).service(greeter());
            let router = tonic::transport::Server::builder().add_service(service);
            tokio::spawn(router.serve_with_incoming(incoming));
        }
    }
    GreeterClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

fn hello(metadata: &[(&'static str, String)]) -> tonic::Request<HelloRequest> {
    let mut request = tonic::Request::new(HelloRequest {
        name: "world".into(),
    });
    for (key, value) in metadata {
        request
            .metadata_mut()
            .append(*key, MetadataValue::try_from(value.as_str()).unwrap());
    }
    request
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

fn refused(result: Result<tonic::Response<HelloReply>, Status>) -> Status {
    match result {
        Ok(reply) => panic!("admitted: {:?}", reply.into_inner()),
        Err(status) => status,
    }
}

#[tokio::test]
async fn a_granted_call_reaches_the_handler_with_its_principal() {
    for placement in [Placement::Server, Placement::Service] {
        let mut client = serve(gate(granted_store()), placement).await;
        let reply = client
            .say_hello(hello(&[bearer(&token("app-1", "greeter:hello"))]))
            .await
            .unwrap();
        assert_eq!(
            reply.get_ref().message,
            "Hello world, from app-1 via greeter"
        );
        // The token alone in a named metadata key is taken too.
        let reply = client
            .say_hello(hello(&[(
                "x-access-token",
                token("app-1", "greeter:hello"),
            )]))
            .await
            .unwrap();
        assert_eq!(
            reply.get_ref().message,
            "Hello world, from app-1 via greeter"
        );
    }
}

#[tokio::test]
async fn no_credential_or_a_bad_one_is_unauthenticated_with_no_secret_echoed() {
    let mut client = serve(gate(granted_store()), Placement::Server).await;
    let status = refused(client.say_hello(hello(&[])).await);
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        status.message(),
        "unauthorized: no credential was presented"
    );
    let challenge = status.metadata().get("www-authenticate").unwrap();
    assert!(
        challenge
            .to_str()
            .unwrap()
            .starts_with("Bearer realm=\"greeter\"")
    );

    // Signed with another key.
    let forged = {
        let claims = serde_json::json!({"iss": "tonic-demo", "aud": "greeter", "sub": "app-1",
            "client_id": "app-1", "scope": "greeter:hello", "exp": EXP});
        jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(b"another-key-another-key-another-key!"),
        )
        .unwrap()
    };
    for bad in [forged, "not-a-jwt".to_owned()] {
        let status = refused(client.say_hello(hello(&[bearer(&bad)])).await);
        assert_eq!(status.code(), Code::Unauthenticated, "{bad}");
        assert!(
            status.message().starts_with("invalid_token"),
            "{}",
            status.message()
        );
        assert!(
            !status.message().contains(&bad),
            "the token came back: {}",
            status.message()
        );
        let meta = format!("{:?}", status.metadata());
        assert!(
            !meta.contains(&bad),
            "the token came back in metadata: {meta}"
        );
    }
}

#[tokio::test]
async fn a_missing_scope_or_grant_is_permission_denied() {
    let mut client = serve(gate(granted_store()), Placement::Server).await;
    // Granted, but without the method's scope.
    let status = refused(
        client
            .say_hello(hello(&[bearer(&token("app-1", "other"))]))
            .await,
    );
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains("greeter:hello"),
        "{}",
        status.message()
    );
    // The scope, but no grant for the API (app-3 holds none).
    let status = refused(
        client
            .say_hello(hello(&[bearer(&token("app-3", "greeter:hello"))]))
            .await,
    );
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains("no grant"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn grants_are_per_method() {
    let mut client = serve(gate(granted_store()), Placement::Server).await;
    // app-2 holds `farewell` (SayGoodbye), not `greeter` (SayHello).
    let app2 = token("app-2", "greeter:hello");
    let status = refused(client.say_hello(hello(&[bearer(&app2)])).await);
    assert_eq!(status.code(), Code::PermissionDenied);
    // On SayGoodbye the layer lets app-2 through: the server itself answers (it implements
    // only SayHello).
    let status = refused(client.call(SAY_GOODBYE, hello(&[bearer(&app2)])).await);
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    // app-1 holds `greeter` only: SayGoodbye is refused by the layer.
    let app1 = token("app-1", "greeter:hello");
    let status = refused(client.call(SAY_GOODBYE, hello(&[bearer(&app1)])).await);
    assert_eq!(status.code(), Code::PermissionDenied);
    // A method in no table is refused (default deny), whatever the caller holds.
    let status = refused(
        client
            .call("/helloworld.Greeter/SayNothing", hello(&[bearer(&app1)]))
            .await,
    );
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("no API"), "{}", status.message());
}

#[tokio::test]
async fn two_credentials_are_an_invalid_argument() {
    let mut client = serve(gate(granted_store()), Placement::Server).await;
    let good = token("app-1", "greeter:hello");
    // Two `authorization` values, even two good ones.
    let status = refused(
        client
            .say_hello(hello(&[bearer(&good), bearer(&good)]))
            .await,
    );
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("invalid_request"),
        "{}",
        status.message()
    );
    // A token in `authorization` and another in the named key (RFC 6750 §2: one method).
    let status = refused(
        client
            .say_hello(hello(&[bearer(&good), ("x-access-token", good.clone())]))
            .await,
    );
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_grant_store_that_cannot_answer_is_unavailable_not_a_pass() {
    let mut client = serve(gate(Offline), Placement::Server).await;
    let status = refused(
        client
            .say_hello(hello(&[bearer(&token("app-1", "greeter:hello"))]))
            .await,
    );
    assert_eq!(status.code(), Code::Unavailable);
    // Unauthenticated calls are still refused as such, before the store is asked.
    let status = refused(client.say_hello(hello(&[])).await);
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_plain_http_request_to_the_same_server_keeps_the_json_refusal() {
    // Not gRPC (no `application/grpc` content type): the layer's HTTP responder answers.
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = tonic::transport::Server::builder()
        .accept_http1(true)
        .layer(gate(granted_store()))
        .add_service(greeter());
    tokio::spawn(router.serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)));
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let request = http::Request::post(format!("http://{addr}/helloworld.Greeter/SayHello"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    assert!(!response.headers().contains_key("grpc-status"));
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["error"], "unauthorized");
}
