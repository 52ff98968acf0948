//! End to end: start `examples/tonic.rs` as a process and call it with a real tonic client
//! over loopback: each gRPC status it answers (16, 7, 3, 14), and a reply naming the caller.

#[path = "../examples/support/greeter.rs"]
mod greeter;
#[path = "support/quickstart.rs"]
mod quickstart;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use greeter::{GreeterClient, HelloReply, HelloRequest};
use jsonwebtoken::{EncodingKey, Header};
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

const SECRET: &str = "tonic-example-test-secret-0123456789abcdef";

struct Example {
    child: Child,
    base: String,
    /// The lines printed after the banner.
    banner: Vec<String>,
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &[&str]) -> Example {
    let mut child = Command::new(quickstart::example_binary_named("tonic"))
        .args(["--addr", "127.0.0.1:0", "--secret", SECRET])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the tonic example");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut reader = BufReader::new(stdout);
    let mut first = String::new();
    reader.read_line(&mut first).expect("read the banner");
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in banner: {first:?}"))
        .to_owned();
    // The rest of what it prints (read on a thread, so the child never blocks on the pipe).
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut banner = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        let done = line.contains("grpcurl") && line.contains("-d '{}'");
        banner.push(line);
        if done {
            break;
        }
    }
    Example {
        child,
        base,
        banner,
    }
}

fn token(client: &str, scope: &str) -> String {
    let claims = serde_json::json!({
        "iss": "tonic-demo", "aud": "greeter", "sub": client, "client_id": client,
        "scope": scope, "exp": 4_000_000_000u64,
    });
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn hello(authorization: &[String]) -> tonic::Request<HelloRequest> {
    let mut request = tonic::Request::new(HelloRequest {
        name: "world".into(),
    });
    for value in authorization {
        request.metadata_mut().append(
            "authorization",
            MetadataValue::try_from(format!("Bearer {value}").as_str()).unwrap(),
        );
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
async fn the_example_answers_each_status_and_names_the_caller() {
    let example = start(&["--grant", "app-2"]);
    let mut client = GreeterClient::connect(example.base.clone()).await.unwrap();

    // The demo token it prints works, and the reply names the caller's subject.
    let printed = example
        .banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("TOKEN="))
        .unwrap_or_else(|| panic!("no demo token in {:#?}", example.banner))
        .to_owned();
    let reply = client.say_hello(hello(&[printed])).await.unwrap();
    assert_eq!(reply.get_ref().message, "Hello world, from demo-app");
    // An app granted with --grant.
    let reply = client
        .say_hello(hello(&[token("app-2", "greeter:hello")]))
        .await
        .unwrap();
    assert_eq!(reply.get_ref().message, "Hello world, from app-2");

    // 16: no token, a token signed with another secret.
    let status = refused(client.say_hello(hello(&[])).await);
    assert_eq!(status.code(), Code::Unauthenticated);
    let other = {
        let claims = serde_json::json!({"iss": "tonic-demo", "aud": "greeter", "sub": "demo-app",
            "client_id": "demo-app", "scope": "greeter:hello", "exp": 4_000_000_000u64});
        jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(b"tonic-demo-secret-change-me-0123456789"),
        )
        .unwrap()
    };
    let status = refused(client.say_hello(hello(&[other])).await);
    assert_eq!(status.code(), Code::Unauthenticated);

    // 7: without the scope; with the scope but no grant.
    let status = refused(client.say_hello(hello(&[token("demo-app", "")])).await);
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = refused(
        client
            .say_hello(hello(&[token("stranger", "greeter:hello")]))
            .await,
    );
    assert_eq!(status.code(), Code::PermissionDenied);

    // 3: two `authorization` values.
    let good = token("demo-app", "greeter:hello");
    let status = refused(client.say_hello(hello(&[good.clone(), good])).await);
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn with_its_grant_store_offline_the_example_is_unavailable() {
    let example = start(&["--grant-store-offline"]);
    let mut client = GreeterClient::connect(example.base.clone()).await.unwrap();
    let status = refused(
        client
            .say_hello(hello(&[token("demo-app", "greeter:hello")]))
            .await,
    );
    assert_eq!(status.code(), Code::Unavailable);
}

#[test]
fn the_example_prints_how_to_call_it() {
    let example = start(&[]);
    let text = example.banner.join("\n");
    assert!(text.contains("TOKEN="), "{text}");
    assert!(text.contains("helloworld.Greeter/SayHello"), "{text}");
    assert!(text.contains(&example.base["http://".len()..]), "{text}");
}
