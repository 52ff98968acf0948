//! A flood of distinct valid tokens against the verified-credential cache: the cache stays
//! within its bounds (entries and bytes), and the process's memory with it.
//!
//! ```text
//! cargo run --release --example cache_flood [-- TOKENS]        # default 1,000,000
//! ```
//!
//! Every token is signed here (HS256, the shape of the issuer's access tokens, a different
//! `sub` and `jti` each) and verified through a `CachedVerifier` with the default bounds,
//! twice: once keeping every answer at once (`admit_first_seen(true)`, so every token is
//! inserted and the bounds are what stops it), once with the default second-sighting
//! admission (a flood of tokens seen once inserts nothing). Prints the counters, the bytes per
//! entry and the resident memory as it goes.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use tower_gatekeeper::MaybeReady;
use tower_gatekeeper::extract::{Credential, Source};
use tower_gatekeeper::verify::{CacheConfig, CachedVerifier, JwtVerifier, Verifier};

const SECRET: &[u8] = b"cache-flood-secret-0123456789abcdef";

/// Resident memory in MiB, from /proc (Linux); 0 elsewhere.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |pages| pages * 4096.0 / (1024.0 * 1024.0))
}

fn flood(tokens: usize, config: CacheConfig, label: &str) {
    let verifier = JwtVerifier::builder()
        .hs256(SECRET)
        .issuer("flood")
        .audience("flood-api")
        .build()
        .expect("valid key");
    let cached = CachedVerifier::with_config(verifier, config);
    let cache = cached.cache();
    let key = EncodingKey::from_secret(SECRET);
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".to_owned());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let start = Instant::now();
    println!("\n{label}: {tokens} distinct tokens");
    println!(
        "{:>10} {:>9} {:>12} {:>10} {:>10} {:>9} {:>8}",
        "tokens", "entries", "bytes", "bytes/entry", "evictions", "rss MiB", "s"
    );
    let mut max_entries = 0;
    let mut max_bytes = 0;
    for i in 1..=tokens {
        let claims = serde_json::json!({
            "iss": "flood", "sub": format!("app-{i}"), "client_id": format!("app-{i}"),
            "aud": "flood-api", "exp": now + 3600, "iat": now, "jti": format!("jti-{i:012}"),
            "scope": "orders:read orders:write"
        });
        let token = encode(&header, &claims, &key).expect("token");
        match cached.verify(&Credential::bearer(token, Source::Header)) {
            MaybeReady::Ready(Ok(_)) => {}
            other => panic!("token {i} refused: {other:?}"),
        }
        let s = cache.stats();
        max_entries = max_entries.max(s.entries);
        max_bytes = max_bytes.max(s.bytes);
        if i % (tokens / 10).max(1) == 0 || i == tokens {
            println!(
                "{i:>10} {:>9} {:>12} {:>10} {:>10} {:>9.1} {:>8.1}",
                s.entries,
                s.bytes,
                s.bytes.checked_div(s.entries).unwrap_or(0),
                s.evictions,
                rss_mib(),
                start.elapsed().as_secs_f64()
            );
        }
    }
    let s = cache.stats();
    println!(
        "largest seen: {max_entries} entries (capacity {}), {max_bytes} bytes (budget {}); {s:?}",
        s.capacity, s.max_bytes
    );
    assert!(max_entries <= s.capacity && max_bytes <= s.max_bytes);
}

fn main() {
    let tokens = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    flood(
        tokens,
        CacheConfig::new().admit_first_seen(true),
        "every answer kept at once",
    );
    flood(
        tokens,
        CacheConfig::new(),
        "default admission (kept on a second sighting)",
    );
}
