//! `asap verify`: check a token against a key repository and print its claims.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use asap_core::{Audience, PublicKeySource, Verifier, VerifyError};
use asap_keys::{
    ConfigError, DirectoryKeySource, ENV_AUDIENCE, ENV_FALLBACK_REPOSITORY_URL, ENV_REPOSITORY_URL,
    HttpKeyRepository, JwksKeySource,
};

use super::input::{Input, read_stdin_text, read_text_file};
use super::print_line;
use super::redact::{Secret, SecretUrl};

const AFTER_HELP: &str = "\
On success prints the claims as one line of JSON (keys sorted) and exits 0; otherwise prints one
line naming the rule that failed on stderr and exits 1.

Examples:
  asap verify --audience ledger --key-repo https://keys.example.com/ \"$TOKEN\"
  asap token ... | asap verify --audience ledger --key-repo public
  asap verify --audience ledger --key-repo http://127.0.0.1:8080/ --allow-insecure-http \"$TOKEN\"
  asap verify --audience ledger --jwks https://keys.example.com/.well-known/jwks.json \"$TOKEN\"";

/// Verify an ASAP token and print its claims as JSON.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// An audience this service answers to (repeatable; the token must name one)
    #[arg(long = "audience", env = ENV_AUDIENCE, hide_env_values = true, value_name = "AUD", required = true)]
    audiences: Vec<String>,

    /// The public key repository: an https URL (`url1 | url2` for mirrors) or a directory in
    /// repository layout (DIR/KID)
    #[arg(long, env = ENV_REPOSITORY_URL, hide_env_values = true, value_name = "URL-OR-DIR")]
    key_repo: Option<SecretUrl>,

    /// Take the keys from the JSON Web Key Set at this https URL instead of a key repository
    /// (`asap serve-keys --jwks` publishes one at /.well-known/jwks.json)
    #[arg(long, value_name = "URL")]
    jwks: Option<SecretUrl>,

    /// A repository tried when every --key-repo URL fails
    #[arg(long, env = ENV_FALLBACK_REPOSITORY_URL, hide_env_values = true, value_name = "URL")]
    fallback_key_repo: Option<SecretUrl>,

    /// Accept only tokens from this issuer (repeatable) [default: any issuer]
    #[arg(long = "issuer", value_name = "ISS")]
    issuers: Vec<String>,

    /// Accept only tokens whose subject (`sub`, or `iss` when there is no `sub`) is SUB; `sub`
    /// may then differ from `iss` (repeatable). An issuer's token for itself needs
    /// `--subject ISS` too
    #[arg(long = "subject", value_name = "SUB")]
    subjects: Vec<String>,

    /// Accept any subject, not only the issuer itself
    #[arg(long, conflicts_with = "subjects")]
    any_subject: bool,

    /// Clock skew allowed on iat, nbf and exp, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    leeway: u64,

    /// Allow a plain http key repository on this machine (127.0.0.0/8, ::1, localhost)
    #[arg(long)]
    allow_insecure_http: bool,

    /// Trust the CA certificates in this PEM file for https key repositories, besides the
    /// system's
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,

    /// Accept EdDSA (Ed25519) tokens
    #[arg(long)]
    enable_eddsa: bool,

    /// The token [default: read from stdin]
    #[arg(value_name = "TOKEN")]
    token: Option<Secret>,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let token = match args.token.as_ref().map(Secret::as_str) {
        Some(token) if token != "-" => token.to_owned(),
        _ => read_token_from_stdin()?,
    };
    let mut builder = Verifier::builder_shared(key_source(&args)?)
        .leeway(Duration::from_secs(args.leeway))
        .enable_eddsa(args.enable_eddsa);
    for audience in &args.audiences {
        builder = builder.audience(Audience::new(audience.trim()).context("--audience")?);
    }
    if !args.issuers.is_empty() {
        builder = builder.allowed_issuers(args.issuers.iter().cloned());
    }
    if !args.subjects.is_empty() {
        builder = builder
            .allow_subject_other_than_issuer(true)
            .allowed_subjects(args.subjects.iter().cloned());
    }
    if args.any_subject {
        builder = builder.allow_subject_other_than_issuer(true);
    }
    let verifier = builder.build()?;
    match verifier.verify(token.trim()).await {
        Ok(verified) => print_line(&serde_json::to_string(verified.claims())?),
        Err(e @ VerifyError::AlgorithmNotEnabled(_)) => {
            Err(anyhow!("{e} (pass --enable-eddsa to accept it)"))
        }
        Err(e @ VerifyError::SubjectNotAllowed(_)) if !args.subjects.is_empty() => Err(anyhow!(
            "{e} (--subject lists every accepted subject; a token without `sub` has its issuer \
             as subject)"
        )),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn read_token_from_stdin() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        bail!("no token: give it as an argument or pipe it on stdin");
    }
    let token = read_stdin_text(Input::Token, "the token on stdin")?;
    let token = token.trim().to_owned();
    if token.is_empty() {
        bail!("no token on stdin");
    }
    Ok(token)
}

fn key_source(args: &Args) -> anyhow::Result<Arc<dyn PublicKeySource>> {
    let cacert = match &args.cacert {
        Some(path) => Some(read_text_file(path, Input::CaBundle)?),
        None => None,
    };
    if let Some(url) = &args.jwks {
        let mut builder =
            JwksKeySource::builder(url.as_str().trim()).allow_insecure_loopback(args.allow_insecure_http);
        if let Some(pem) = cacert {
            builder = builder.add_root_certificates_pem(pem);
        }
        return builder
            .build()
            .map(|source| Arc::new(source) as Arc<dyn PublicKeySource>)
            .map_err(|e| insecure_url(e, args.allow_insecure_http, "key set"));
    }
    let repo = args
        .key_repo
        .as_ref()
        .map(SecretUrl::as_str)
        .ok_or_else(|| anyhow!("give --key-repo (or ASAP_PUBLIC_KEY_REPOSITORY_URL) or --jwks"))?
        .trim();
    if !repo.contains("://") {
        if args.fallback_key_repo.is_some() {
            bail!("--fallback-key-repo applies to URL key repositories only");
        }
        let dir = Path::new(repo);
        if !dir.is_dir() {
            bail!("key repository {repo:?} is neither a URL nor a directory");
        }
        return Ok(Arc::new(DirectoryKeySource::new(dir)));
    }
    let mut urls = repo.split('|').map(str::trim).filter(|u| !u.is_empty());
    let first = urls.next().ok_or_else(|| anyhow!("--key-repo is empty"))?;
    let mut builder = HttpKeyRepository::builder(first).allow_insecure_loopback(args.allow_insecure_http);
    for url in urls.chain(
        args.fallback_key_repo
            .iter()
            .flat_map(|f| f.as_str().split('|'))
            .map(str::trim),
    ) {
        if !url.is_empty() {
            builder = builder.fallback(url);
        }
    }
    if let Some(pem) = cacert {
        builder = builder.add_root_certificates_pem(pem);
    }
    builder
        .build()
        .map(|repo| Arc::new(repo) as Arc<dyn PublicKeySource>)
        .map_err(|e| insecure_url(e, args.allow_insecure_http, "key repository"))
}

/// The error for a URL that cannot be used, saying what to do about plain http.
fn insecure_url(e: ConfigError, allowed: bool, what: &str) -> anyhow::Error {
    let shown = |url: &str| asap_registry::redact_url(url);
    match e {
        ConfigError::InsecureUrl(url) if allowed => anyhow!(
            "{what} {} is plain http and not on this machine: use https \
             (--allow-insecure-http covers 127.0.0.0/8, ::1 and localhost only)",
            shown(&url)
        ),
        ConfigError::InsecureUrl(url) => anyhow!(
            "{what} {} is plain http: use https, or pass --allow-insecure-http for a \
             {what} on this machine",
            shown(&url)
        ),
        e => e.into(),
    }
}
