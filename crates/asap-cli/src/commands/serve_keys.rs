//! `asap serve-keys`: run a public key repository for a directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use anyhow::bail;
use asap_cli::serve_keys::{KeyServer, KeyServerConfig, load_tls_config};

const AFTER_HELP: &str = "\
Serves DIR/<kid> at /<kid> with Content-Type: application/x-pem-file, the layout
`asap keygen --public-dir` writes. With --db, serves the active keys of a key registry instead
(`asap keys add`): a revoked key is gone from here within the registry's cache TTL (10 s), and
from clients within that plus --max-age (default 30 s with --db). Kids are checked before the file system is touched (no path
traversal), and only PEM public keys are ever sent. One line per request goes to stderr; the
first line says where the repository listens. Ctrl-C (or SIGTERM) stops it gracefully.

Examples:
  asap serve-keys --dir public
  asap serve-keys --db sqlite:keys.db --listen 127.0.0.1:8080
  asap serve-keys --dir public --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem --max-age 600";

/// Serve a public key repository from a directory.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// The public key directory (DIR/KID)
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "db",
        conflicts_with = "db"
    )]
    dir: Option<PathBuf>,

    /// Serve a key registry instead: sqlite:PATH or postgres://USER@HOST:PORT/DB
    #[arg(long, value_name = "URL", env = super::keys::ENV_DB, hide_env_values = true)]
    db: Option<String>,

    /// The address to listen on (port 0 picks a free port)
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// The Cache-Control max-age of served keys, in seconds [default: 300, or 30 with --db]
    #[arg(long, value_name = "SECS")]
    max_age: Option<u64>,

    /// Serve HTTPS with this PEM certificate chain (leaf first)
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Do not log requests
    #[arg(long, short)]
    quiet: bool,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let (config, serving, default_max_age) = match (&args.dir, &args.db) {
        (Some(dir), None) => (KeyServerConfig::new(dir), dir.display().to_string(), 300),
        (None, Some(url)) => {
            let registry = super::keys::open(url).await?;
            let serving = format!("the {} key registry", registry.backend());
            (KeyServerConfig::from_source(Arc::new(registry)), serving, 30)
        }
        _ => bail!("give exactly one of --dir and --db"),
    };
    let mut config = config
        .max_age(Duration::from_secs(args.max_age.unwrap_or(default_max_age)))
        .log_requests(!args.quiet);
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => config = config.tls(load_tls_config(cert, key)?),
        (None, None) => {}
        _ => bail!("--tls-cert and --tls-key go together"),
    }
    let server = KeyServer::bind(args.listen, config).await?;
    // Scripts and tests wait for this line (and read the port from it when --listen used 0).
    eprintln!("asap serve-keys: serving {serving} at {}", server.url());
    server.serve(shutdown_signal()).await?;
    eprintln!("asap serve-keys: stopped");
    Ok(())
}

/// Ctrl-C, or SIGTERM (what `kill`, systemd and container runtimes send).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
