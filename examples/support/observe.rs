//! What the quickstart tells its operator: a `tracing-subscriber` fmt layer on stderr, and a
//! Prometheus endpoint behind `--metrics-addr` (see docs/observability.md).
//!
//! The filter is `RUST_LOG`, by default `info,tower_gatekeeper=info`: audit records (sudo,
//! tenants, grant and account changes). `RUST_LOG=info,tower_gatekeeper=debug` adds every
//! decision of the layer: refusal events, and one line per decision span as it closes.

use std::net::SocketAddr;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// The flag that asks for a Prometheus endpoint, with its `HOST:PORT`.
pub const METRICS_FLAG: &str = "--metrics-addr";

/// Installs the fmt layer; with `--metrics-addr HOST:PORT` among the program's arguments,
/// serves Prometheus metrics there (`GET /metrics`), or says which feature that needs.
pub fn init() -> Result<(), String> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_gatekeeper=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only for a terminal: a log file or a pipe gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .init();
    let Some(addr) = std::env::args().skip_while(|a| a != METRICS_FLAG).nth(1) else {
        return Ok(());
    };
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| format!("{METRICS_FLAG} {addr}: {e}"))?;
    // The crate records metrics only with its `metrics` feature: without it the endpoint would
    // serve nothing, so say so instead.
    if cfg!(not(feature = "metrics")) {
        return Err(format!(
            "{METRICS_FLAG} needs the metrics feature: \
             cargo run --example quickstart --features metrics -- {METRICS_FLAG} 127.0.0.1:9000"
        ));
    }
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| format!("{METRICS_FLAG} {addr}: {e}"))?;
    eprintln!("metrics: http://{addr}/metrics");
    Ok(())
}
