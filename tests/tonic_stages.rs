//! A tonic server with one gate for the whole server (`Server::builder().layer(gate)`) and a
//! stage layer around one service: sudo and tenant selection from metadata keys whose names
//! are configured, scopes checked on the principal the gate placed, every refusal a gRPC
//! status a real tonic client reads.

#[path = "../examples/support/greeter.rs"]
mod greeter;

use std::net::SocketAddr;

use greeter::{GreeterClient, GreeterServer, HelloReply, HelloRequest};
use jsonwebtoken::{EncodingKey, Header};
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};
use tower_gatekeeper::GatekeeperLayer;
use tower_gatekeeper::grpc::PrincipalExt;
use tower_gatekeeper::impersonate::{DirectoryUser, Impersonation, InMemoryDirectory};
use tower_gatekeeper::layer::AuthorizeLayer;
use tower_gatekeeper::verify::JwtVerifier;

const SECRET: &str = "tonic-stages-test-secret-0123456789abcdef";

fn token(sub: &str, client_id: Option<&str>, scope: &str) -> String {
    let mut claims = serde_json::json!({"sub": sub, "scope": scope, "exp": 4_000_000_000u64});
    if let Some(client) = client_id {
        claims["client_id"] = client.into();
    }
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

async fn serve() -> GreeterClient {
    let directory = InMemoryDirectory::new();
    let mut alice = DirectoryUser::new("1001", "alice");
    alice.scopes = vec!["greeter:hello".into()];
    alice.tenants = vec!["t-1".into()];
    directory.insert_user(alice).await.unwrap();
    directory
        .insert_tenant(tower_gatekeeper::principal::Tenant::new(
            "t-1",
            Some("acme"),
        ))
        .await
        .unwrap();

    let gate = GatekeeperLayer::builder(JwtVerifier::hs256(SECRET.as_bytes()).unwrap())
        .realm("greeter")
        .build();
    let stages = AuthorizeLayer::builder()
        .require_scopes(["greeter:hello"])
        .authorize(
            Impersonation::new(directory)
                .sudo_header("x-act-as")
                .tenant_id_header("x-org"),
        )
        .build();
    let greeter = GreeterServer::new(|request| {
        let p = request.principal()?;
        let message = format!(
            "{} actor={} tenant={}",
            p.subject(),
            p.actor().map_or("-".to_owned(), |a| a.subject),
            p.tenant().map_or("-", |t| t.id.as_str()),
        );
        Ok(tonic::Response::new(HelloReply { message }))
    });
    let service = tower::ServiceBuilder::new().layer(stages).service(greeter);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let router = tonic::transport::Server::builder()
        .layer(gate)
        .add_service(service);
    tokio::spawn(router.serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)));
    GreeterClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

fn hello(token: &str, metadata: &[(&'static str, &str)]) -> tonic::Request<HelloRequest> {
    let mut request = tonic::Request::new(HelloRequest {
        name: "world".into(),
    });
    let auth = format!("Bearer {token}");
    request.metadata_mut().append(
        "authorization",
        MetadataValue::try_from(auth.as_str()).unwrap(),
    );
    for (key, value) in metadata {
        request
            .metadata_mut()
            .append(*key, MetadataValue::try_from(*value).unwrap());
    }
    request
}

fn refused(result: Result<tonic::Response<HelloReply>, Status>) -> Status {
    match result {
        Ok(reply) => panic!("admitted: {:?}", reply.into_inner()),
        Err(status) => status,
    }
}

#[tokio::test]
async fn sudo_from_a_configured_metadata_key() {
    let mut client = serve().await;
    let admin = token("admin-app", Some("admin-app"), "sudo greeter:hello");

    let reply = client
        .say_hello(hello(&admin, &[("x-act-as", "uid:1001")]))
        .await
        .unwrap();
    assert_eq!(reply.get_ref().message, "1001 actor=admin-app tenant=-");

    // The default key is not read once another is configured.
    let reply = client
        .say_hello(hello(&admin, &[("x-sudo", "uid:1001")]))
        .await
        .unwrap();
    assert_eq!(reply.get_ref().message, "admin-app actor=- tenant=-");

    // A malformed selector: INVALID_ARGUMENT; without the sudo scope: PERMISSION_DENIED.
    let status = refused(
        client
            .say_hello(hello(&admin, &[("x-act-as", "nobody")]))
            .await,
    );
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let plain = token("app", Some("app"), "greeter:hello");
    let status = refused(
        client
            .say_hello(hello(&plain, &[("x-act-as", "uid:1001")]))
            .await,
    );
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
}

#[tokio::test]
async fn a_tenant_from_a_configured_metadata_key() {
    let mut client = serve().await;
    let alice = token("1001", None, "greeter:hello");
    let reply = client
        .say_hello(hello(&alice, &[("x-org", "t-1")]))
        .await
        .unwrap();
    assert_eq!(reply.get_ref().message, "1001 actor=- tenant=t-1");
    // A tenant she is not in.
    let status = refused(client.say_hello(hello(&alice, &[("x-org", "t-2")])).await);
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
}

#[tokio::test]
async fn the_stage_layer_refuses_the_grpc_way_and_the_gate_still_verifies() {
    let mut client = serve().await;
    // The gate: no token, a bad one.
    let status = refused(
        client
            .say_hello(tonic::Request::new(HelloRequest::default()))
            .await,
    );
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = refused(client.say_hello(hello("not-a-jwt", &[])).await);
    assert_eq!(status.code(), Code::Unauthenticated);
    // The stage layer: the scope is missing, in the gate's realm.
    let status = refused(
        client
            .say_hello(hello(&token("app", Some("app"), "other"), &[]))
            .await,
    );
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains("greeter:hello"),
        "{}",
        status.message()
    );
    let challenge = status.metadata().get("www-authenticate").unwrap();
    assert!(
        challenge
            .to_str()
            .unwrap()
            .starts_with(r#"Bearer realm="greeter", error="insufficient_scope""#),
        "{challenge:?}"
    );
}
