//! `asap serve-keys`: run [`asap_keys::server`] for a directory or a key registry, logging one
//! line per request on stderr.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use asap_keys::server::{ConnectionLimits, KeyServer, KeyServerConfig, tls_config_from_pem};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::input::{Input, read_file, read_secret_file};
use super::redact::SecretUrl;

const AFTER_HELP: &str = "\
Serves DIR/<kid> at /<kid> with Content-Type: application/x-pem-file, the layout
`asap keygen --public-dir` writes. With --db, serves the active keys of a key registry instead
(`asap keys add`): a revoked key is gone from here within the registry's cache TTL (10 s), and
from clients within that plus --max-age (default 30 s with --db). Kids are checked before the
file system is touched (no path traversal); only regular files inside DIR are read, and only the
parsed public key is sent, re-serialised (never the file, never a file with private key
material). Anything that is not a key here gets the same 404.

Every connection is bounded: the client must send its first request within --request-timeout
and the next one within --idle-timeout, and at most --max-connections are served at once.

With --jwks, the directory is also published as one JSON Web Key Set at
/.well-known/jwks.json (Content-Type: application/jwk-set+json, the same max-age), each key read
by the same rules, so PEM-by-kid and JWKS consumers share one repository.

One line per request goes to stderr; the first line says where the repository listens. Ctrl-C
(or SIGTERM) stops it gracefully.

Examples:
  asap serve-keys --dir public
  asap serve-keys --db sqlite:keys.db --listen 127.0.0.1:8080
  asap serve-keys --dir public --jwks
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
    db: Option<SecretUrl>,

    /// Also publish the directory as a JSON Web Key Set at /.well-known/jwks.json
    #[arg(long, conflicts_with = "db")]
    jwks: bool,

    /// The address to listen on (port 0 picks a free port)
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// The Cache-Control max-age of served keys, in seconds [default: 300, or 30 with --db]
    #[arg(long, value_name = "SECS")]
    max_age: Option<u64>,

    /// Serve HTTPS with this PEM certificate chain (leaf first; at most 1 MiB)
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert (at most 64 KiB)
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Close a connection whose first complete request (TLS handshake included) takes longer,
    /// in seconds [default: 10]
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    request_timeout: Option<Duration>,

    /// Close a connection that sends no new request for this long after the last one, in
    /// seconds [default: 30]
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    idle_timeout: Option<Duration>,

    /// Serve at most this many connections at once; more wait [default: 512]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    max_connections: Option<u64>,

    /// Log only warnings, not every request
    #[arg(long, short)]
    quiet: bool,
}

/// Seconds, possibly fractional (`0.5`), more than zero.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 86_400.0 => Ok(Duration::from_secs_f64(secs)),
        _ => Err("expected a number of seconds, more than 0 and at most 86400".to_owned()),
    }
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    install_log(if args.quiet { Level::WARN } else { Level::INFO });
    let (config, serving, default_max_age) = match (&args.dir, &args.db) {
        (Some(dir), None) => (KeyServerConfig::new(dir), dir.display().to_string(), 300),
        (None, Some(url)) => {
            let registry = super::keys::open(url.as_str()).await?;
            let serving = format!("the {} key registry", registry.backend());
            (KeyServerConfig::from_source(Arc::new(registry)), serving, 30)
        }
        _ => bail!("give exactly one of --dir and --db"),
    };
    let mut limits = ConnectionLimits::default();
    if let Some(timeout) = args.request_timeout {
        limits = limits.request_timeout(timeout);
    }
    if let Some(timeout) = args.idle_timeout {
        limits = limits.idle_timeout(timeout);
    }
    if let Some(max) = args.max_connections {
        limits = limits.max_connections(usize::try_from(max).unwrap_or(usize::MAX));
    }
    let mut config = config
        .max_age(Duration::from_secs(args.max_age.unwrap_or(default_max_age)))
        .publish_jwks(args.jwks)
        .limits(limits);
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => config = with_tls(config, cert, key)?,
        (None, None) => {}
        _ => bail!("--tls-cert and --tls-key go together"),
    }
    let server = KeyServer::bind(args.listen, config).await?;
    // Scripts and tests wait for this line (and read the port from it when --listen used 0).
    eprintln!("asap serve-keys: serving {serving} at {}", server.url());
    if args.jwks {
        eprintln!(
            "asap serve-keys: key set at {}{}",
            server.url().trim_end_matches('/'),
            asap_keys::server::JWKS_PATH
        );
    }
    server.serve(shutdown_signal()).await?;
    eprintln!("asap serve-keys: stopped");
    Ok(())
}

/// `config` serving HTTPS with `--tls-cert` and `--tls-key`, each read up to its cap; the
/// key's bytes are wiped once parsed.
fn with_tls(config: KeyServerConfig, cert: &Path, key: &Path) -> anyhow::Result<KeyServerConfig> {
    let chain = read_file(cert, Input::CertificateChain)?;
    let key = read_secret_file(key, Input::TlsPrivateKey)?;
    Ok(config.tls(tls_config_from_pem(&chain, &key)?))
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

/// The server's `tracing` events at `level` and above (the request events are `INFO`), and
/// warnings of any crate, one line each on stderr.
fn install_log(level: Level) {
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(Level::WARN)
        .with_target("asap_keys", level);
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .event_format(LogLine)
        .finish();
    use tracing_subscriber::layer::SubscriberExt as _;
    // Only fails when a subscriber is already installed, and then that one logs.
    let _ = tracing::subscriber::set_global_default(subscriber.with(filter));
}

/// `asap serve-keys: PEER METHOD "PATH" STATUS BYTESB MSms (REASON)` for a request event;
/// `asap serve-keys: [warning: ]MESSAGE key=value…` for anything else.
struct LogLine;

impl<S, N> FormatEvent<S, N> for LogLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        write!(writer, "asap serve-keys: ")?;
        let level = *event.metadata().level();
        if level == Level::WARN {
            write!(writer, "warning: ")?;
        } else if level == Level::ERROR {
            write!(writer, "error: ")?;
        }
        if let Some(status) = fields.take("status") {
            let field = |fields: &mut Fields, name| fields.take(name).unwrap_or_else(|| "-".to_owned());
            let peer = field(&mut fields, "peer");
            let method = field(&mut fields, "method");
            let path = field(&mut fields, "path");
            let bytes = field(&mut fields, "bytes");
            let ms = fields
                .take("duration_ms")
                .and_then(|ms| ms.parse::<f64>().ok())
                .unwrap_or_default();
            write!(writer, "{peer} {method} {path} {status} {bytes}B {ms:.1}ms")?;
            if let Some(reason) = fields.take("reason") {
                write!(writer, " ({reason})")?;
            }
        } else {
            write!(writer, "{}", fields.take("message").unwrap_or_default())?;
            for (name, value) in &fields.0 {
                write!(writer, " {name}={value}")?;
            }
        }
        writeln!(writer)
    }
}

/// An event's fields as text, in order.
#[derive(Default)]
struct Fields(Vec<(&'static str, String)>);

impl Fields {
    fn take(&mut self, name: &str) -> Option<String> {
        let at = self.0.iter().position(|(n, _)| *n == name)?;
        Some(self.0.remove(at).1)
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push((field.name(), format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        // Quoted and escaped, so that a client's bytes cannot forge a log line.
        self.0.push((field.name(), format!("{value:?}")));
    }
}
