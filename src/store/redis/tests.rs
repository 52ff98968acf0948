//! Unit tests of the Redis store against a real redis-server (REDIS_URL).

use std::process::{Child, Command, Stdio};

use serde::{Deserialize, Serialize};

use super::*;
use crate::store::table::{decode_json, encode_json};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Note {
    text: String,
}

impl Record for Note {
    const KIND: &'static str = "note";
    fn encode(&self) -> Vec<u8> {
        encode_json(self)
    }
    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        decode_json(Self::KIND, bytes)
    }
}

/// A redis-server of the test's own, on a free loopback port, so it can be killed.
struct Server {
    child: Option<Child>,
    port: u16,
}

impl Server {
    fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let mut server = Self { child: None, port };
        if !server.spawn() {
            // Where Redis is expected (REDIS_URL set, as in CI) a missing server fails.
            assert!(
                std::env::var_os("REDIS_URL").is_none(),
                "REDIS_URL is set but redis-server could not be started: install redis-server"
            );
            eprintln!("SKIPPED: redis-server is not installed");
            return None;
        }
        Some(server)
    }

    fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else { return false };
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn options() -> RedisOptions {
    RedisOptions::new()
        .heartbeat(Duration::from_millis(50))
        .staleness(Duration::from_millis(600))
        .command_timeout(Duration::from_millis(300))
        .negative_ttl(Duration::from_secs(60))
}

fn set(store: &RedisStore, key: &str, note: &Note) -> Write {
    let full = store.key(Note::KIND, key);
    Write {
        key: full.clone(),
        expect: Expect::Any,
        guards: vec![],
        ops: vec![Op::Set {
            key: full,
            value: note.encode(),
            expire_at_ms: None,
        }],
        notices: vec![format!("{}:{key}", Note::KIND)],
    }
}

async fn get(table: &Arc<Table<Note>>, key: &str) -> Result<Option<Arc<Note>>, StoreError> {
    table.get(key).await
}

#[tokio::test]
async fn a_change_on_one_node_reaches_the_other_nodes_cache() {
    let Some(server) = Server::start() else {
        return;
    };
    let a = RedisStore::connect(&server.url(), options()).await.unwrap();
    let b = RedisStore::connect(&server.url(), options()).await.unwrap();
    let (ta, tb) = (Table::<Note>::redis(&a), Table::<Note>::redis(&b));

    // B learns the key is absent and remembers it (no round trip the second time).
    assert_eq!(get(&tb, "k").await.unwrap(), None);
    assert!(tb.get("k").is_ready());

    let note = Note { text: "one".into() };
    assert_eq!(a.apply(set(&a, "k", &note)).await.unwrap(), Applied::Done);
    // The notice removes B's remembered absence; the next read sees the record.
    let mut seen = None;
    for _ in 0..200 {
        if !tb.get("k").is_ready() {
            seen = get(&tb, "k").await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(seen.as_deref(), Some(&note));
    // Now cached on both sides after one read each.
    assert_eq!(get(&ta, "k").await.unwrap().as_deref(), Some(&note));
    assert!(ta.get("k").is_ready() && tb.get("k").is_ready());
}

#[tokio::test]
async fn conditions_make_writes_atomic() {
    let Some(server) = Server::start() else {
        return;
    };
    let s = RedisStore::connect(&server.url(), options()).await.unwrap();
    let first = Note { text: "1".into() };
    let mut create = set(&s, "c", &first);
    create.expect = Expect::Absent;
    assert_eq!(s.apply(create.clone()).await.unwrap(), Applied::Done);
    // The second creation of the same key loses.
    assert_eq!(s.apply(create).await.unwrap(), Applied::Conflict);
    // Compare-and-set against a stale value loses; against the current one wins.
    let mut stale = set(&s, "c", &Note { text: "2".into() });
    stale.expect = Expect::Equals(Note { text: "0".into() }.encode());
    assert_eq!(s.apply(stale).await.unwrap(), Applied::Conflict);
    let mut fresh = set(&s, "c", &Note { text: "2".into() });
    fresh.expect = Expect::Equals(first.encode());
    assert_eq!(s.apply(fresh).await.unwrap(), Applied::Done);
    // A failed guard changes nothing.
    let mut guarded = set(&s, "d", &first);
    guarded.guards = vec![(s.key(Note::KIND, "c"), Expect::Absent)];
    assert_eq!(s.apply(guarded).await.unwrap(), Applied::Guard(0));
    assert_eq!(s.read(&s.key(Note::KIND, "d")).await.unwrap(), None);
}

#[tokio::test]
async fn an_unknown_format_version_is_refused_not_misread() {
    let Some(server) = Server::start() else {
        return;
    };
    let s = RedisStore::connect(&server.url(), options()).await.unwrap();
    let t = Table::<Note>::redis(&s);
    let full = s.key(Note::KIND, "future");
    let write = Write {
        key: full.clone(),
        expect: Expect::Any,
        guards: vec![],
        ops: vec![Op::Set {
            key: full,
            value: br#"{"v":2,"d":{"text":"x","more":1}}"#.to_vec(),
            expire_at_ms: None,
        }],
        notices: vec![],
    };
    s.apply(write).await.unwrap();
    let err = get(&t, "future").await.unwrap_err();
    assert_eq!(err.kind(), crate::store::StoreErrorKind::Format);
    assert!(err.to_string().contains("version 2"), "{err}");
}

#[tokio::test]
async fn the_cache_stays_within_its_capacity() {
    let Some(server) = Server::start() else {
        return;
    };
    let s = RedisStore::connect(&server.url(), options().cache_capacity(64))
        .await
        .unwrap();
    let t = Table::<Note>::redis(&s);
    for i in 0..1000 {
        get(&t, &format!("junk-{i}")).await.unwrap();
        assert!(t.len() <= 64 + 1, "{} slots after {i} reads", t.len());
    }
}

#[tokio::test]
async fn redis_down_serves_warm_reads_within_the_bound_then_refuses_then_recovers() {
    let Some(mut server) = Server::start() else {
        return;
    };
    let s = RedisStore::connect(&server.url(), options()).await.unwrap();
    let t = Table::<Note>::redis(&s);
    let note = Note {
        text: "warm".into(),
    };
    s.apply(set(&s, "w", &note)).await.unwrap();
    // Let the write's own notice come back before warming the cache.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(get(&t, "w").await.unwrap().as_deref(), Some(&note));
    let resyncs = s.resyncs();

    server.kill();
    // Warm: answered from memory at once while within the staleness bound.
    match t.get("w") {
        MaybeReady::Ready(Ok(Some(n))) => assert_eq!(*n, note),
        other => panic!("a warm read must be answered from the cache: {other:?}"),
    }
    // Cold: needs Redis, which is gone.
    assert_eq!(
        get(&t, "cold").await.unwrap_err().kind(),
        crate::store::StoreErrorKind::Unavailable
    );
    // Past the bound, even warm reads refuse.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(!s.is_fresh());
    assert_eq!(
        get(&t, "w").await.unwrap_err().kind(),
        crate::store::StoreErrorKind::Unavailable
    );

    // Redis comes back (empty: no persistence); the node recovers by itself.
    assert!(server.spawn());
    let mut fresh = false;
    for _ in 0..100 {
        if s.is_fresh() {
            fresh = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(fresh, "the node never resynchronised");
    assert!(s.resyncs() > resyncs);
    // The cache was emptied: the record is read again, and this Redis has none.
    assert_eq!(get(&t, "w").await.unwrap(), None);
}
