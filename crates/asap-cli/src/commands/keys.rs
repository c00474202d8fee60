//! `asap keys add|list|revoke`: manage a key registry (principals' public keys on SQLite or
//! PostgreSQL), which `asap serve-keys --db` publishes.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use asap_registry::{KeyRegistry, RegisteredKey, redact_url};

use super::input::{Input, read_stdin_text, read_text_file};
use super::print_line;
use super::redact::SecretUrl;

/// The environment variable that gives `--db` a default.
pub(crate) const ENV_DB: &str = "ASAP_KEY_REGISTRY_DB";

const AFTER_HELP: &str = "\
The registry is a table of principal, key name, public key, algorithm, created and revoked
times, and fingerprint; a key's kid is PRINCIPAL/KEYNAME (ASAP), its fingerprint the kid of a
per-user token (asap user-token). --db is sqlite:PATH (the file is created and migrated on
first use) or postgres://USER[:PASSWORD]@HOST:PORT/DB [env: ASAP_KEY_REGISTRY_DB].

A session:
  asap keys add --db sqlite:keys.db --principal alice --name laptop ~/.ssh/id_ed25519.pub
  alice/laptop
  asap serve-keys --db sqlite:keys.db --listen 127.0.0.1:8080 &
  asap token --issuer alice --kid alice/laptop --private-key ~/.ssh/id_ed25519 --audience ledger
  asap keys revoke --db sqlite:keys.db --principal alice --name laptop";

/// Manage a key registry: principals' public keys (PEM or OpenSSH .pub) on SQLite or PostgreSQL.
#[derive(Debug, clap::Subcommand)]
#[command(after_help = AFTER_HELP)]
pub(crate) enum Command {
    /// Register a public key and print its kid
    Add(AddArgs),
    /// List the registered keys (revoked ones too)
    List(ListArgs),
    /// Revoke a key: it stops verifying within the registry's cache TTL (10 s)
    Revoke(RevokeArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct Db {
    /// The registry database: sqlite:PATH or postgres://USER@HOST:PORT/DB
    #[arg(long, value_name = "URL", env = ENV_DB, hide_env_values = true)]
    db: SecretUrl,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
FILE is a PEM public key (`PUBLIC KEY` or `RSA PUBLIC KEY`) or one OpenSSH authorized_keys line
(ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa of at least 2048 bits), e.g. id_ed25519.pub;
`-` reads stdin. Without --name, the key is named sha256-<first 16 hex digits of its SHA-256>.")]
pub(crate) struct AddArgs {
    #[command(flatten)]
    db: Db,

    /// The principal (the issuer that signs with the key)
    #[arg(long, value_name = "NAME")]
    principal: String,

    /// The key name: the last segment of the kid PRINCIPAL/KEYNAME
    #[arg(long, value_name = "KEYNAME")]
    name: Option<String>,

    /// The public key file (`-` for stdin)
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    db: Db,

    /// Only this principal's keys
    #[arg(long, value_name = "NAME")]
    principal: Option<String>,

    /// Print a JSON array (kid, principal, name, kind, created_at, revoked_at, fingerprint,
    /// public_key) instead of one `KID<TAB>KIND<TAB>active|revoked` line per key
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RevokeArgs {
    #[command(flatten)]
    db: Db,

    /// The principal
    #[arg(long, value_name = "NAME")]
    principal: String,

    /// The key name
    #[arg(long, value_name = "KEYNAME")]
    name: String,
}

/// Opens the registry at `url`, with the URL as [`redact_url`] shows it (no credentials, no
/// query) in the error.
pub(crate) async fn open(url: &str) -> anyhow::Result<KeyRegistry> {
    KeyRegistry::open(url)
        .await
        .with_context(|| format!("cannot open the key registry {}", redact_url(url)))
}

pub(crate) async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Add(args) => {
            let text = read_key_text(&args.file)?;
            let registry = open(args.db.db.as_str()).await?;
            let key = registry
                .add(&args.principal, args.name.as_deref(), &text)
                .await
                .with_context(|| format!("cannot add {}", args.file.display()))?;
            print_line(key.kid().as_str())
        }
        Command::List(args) => {
            let registry = open(args.db.db.as_str()).await?;
            let keys = registry.list(args.principal.as_deref()).await?;
            if args.json {
                let keys: Vec<serde_json::Value> = keys.iter().map(to_json).collect();
                return print_line(&serde_json::to_string_pretty(&keys)?);
            }
            for key in &keys {
                let status = if key.is_revoked() { "revoked" } else { "active" };
                print_line(&format!("{}\t{}\t{status}", key.kid(), key.kind()))?;
            }
            Ok(())
        }
        Command::Revoke(args) => {
            let registry = open(args.db.db.as_str()).await?;
            let key = registry.revoke(&args.principal, &args.name).await?;
            let others = registry
                .active_names_of(key.principal(), key.public_key())
                .await?;
            if !others.is_empty() {
                eprintln!(
                    "asap: warning: the same key is still registered as {}: per-user tokens signed with it still verify",
                    others.join(", ")
                );
            }
            print_line(key.kid().as_str())
        }
    }
}

fn read_key_text(file: &Path) -> anyhow::Result<String> {
    if file.as_os_str() == "-" {
        read_stdin_text(Input::PublicKey, "the key on stdin")
    } else {
        read_text_file(file, Input::PublicKey)
    }
}

fn to_json(key: &RegisteredKey) -> serde_json::Value {
    serde_json::json!({
        "kid": key.kid().as_str(),
        "principal": key.principal(),
        "name": key.name(),
        "kind": key.kind().to_string(),
        "created_at": key.created_at(),
        "revoked_at": key.revoked_at(),
        "fingerprint": key.fingerprint().as_str(),
        "public_key": key.public_key().to_pem(),
    })
}
