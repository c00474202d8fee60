//! The ASAP metrics on a Prometheus endpoint: `cargo run --example metrics_prometheus`.
//!
//! Installs `metrics-exporter-prometheus` as the recorder (the library crates only count through
//! the `metrics` facade; the exporter is the application's choice), runs the quickstart's calls
//! (good tokens, refused ones, key fetches), then serves the text exposition format on
//! `http://127.0.0.1:9464/metrics` until interrupted. `--once` prints it and exits instead.
//! The names and labels are in docs/metrics.md.

use asap_examples::Quickstart;
use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusBuilder;

#[tokio::main]
async fn main() -> Result<(), asap_examples::Error> {
    // Key fetch latencies as Prometheus histograms (buckets in seconds) rather than summaries.
    let recorder = PrometheusBuilder::new()
        .set_buckets(&[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)?;
    asap_core::metrics::describe();
    asap_keys::metrics::describe();

    let demo = Quickstart::start().await?;
    for observed in demo.scenarios().await? {
        eprintln!("{observed}");
    }

    if std::env::args().any(|arg| arg == "--once") {
        print!("{}", handle.render());
        return Ok(());
    }
    let app = Router::new().route("/metrics", get(move || std::future::ready(handle.render())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:9464").await?;
    eprintln!("metrics on http://{}/metrics", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
