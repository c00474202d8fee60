//! `asap issuer-verify`: check a central-issuer token (api_jwt's format) against the issuer's
//! public keys and a policy.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use issuer_tokens::{IssuerPolicy, IssuerVerifier, Roles};

use super::input::{Input, read_text_file};
use super::print_line;
use super::redact::Secret;

const AFTER_HELP: &str = "\
On success prints the claims as one line of JSON, the extras typed (level a number, dnt an
integer, scopes an array), and exits 0; otherwise prints one line naming the rule that failed on
stderr and exits 1.

Roles default to api_jwt's: user = auth_user, admin = auth_admin; --role replaces them.

Examples:
  asap issuer-verify --public-key auth.pem \"$TOKEN\"
  asap issuer-verify --public-key old.pem --public-key new.pem --min-level 3 --scope admin:all \"$TOKEN\"
  asap issuer-verify --public-key auth.pem --role support=auth_support \"$TOKEN\"";

/// Verify a central-issuer token (api_jwt's format) and print its claims as JSON.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// A public key of the issuer, PEM (repeatable, at most 4; tried in order)
    #[arg(long = "public-key", value_name = "FILE", required = true)]
    public_keys: Vec<PathBuf>,

    /// The lowest authentication level accepted
    #[arg(long, value_name = "L")]
    min_level: Option<f64>,

    /// A scope the token must carry (repeatable)
    #[arg(long = "scope", value_name = "S")]
    scopes: Vec<String>,

    /// A role and the issuer name its tokens carry, ROLE=ISS (repeatable) [default:
    /// user=auth_user, admin=auth_admin]
    #[arg(long = "role", value_name = "ROLE=ISS")]
    roles: Vec<String>,

    /// An audience this service answers to; the token must then carry it [default: the token
    /// must carry no aud]
    #[arg(long, value_name = "AUD")]
    audience: Option<String>,

    /// Clock skew allowed on exp, nbf and iat, in seconds (at most 300)
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=300))]
    leeway: u64,

    /// The token (or `Bearer <token>`)
    #[arg(value_name = "TOKEN")]
    token: Secret,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let mut builder = IssuerVerifier::builder().leeway(Duration::from_secs(args.leeway));
    for path in &args.public_keys {
        let text = read_text_file(path, Input::PublicKey)?;
        let key = asap_keys::parse_public_key(&text).with_context(|| format!("{}", path.display()))?;
        builder = builder.trusted_key(key);
    }
    if !args.roles.is_empty() {
        let mut roles = Roles::new();
        for role in &args.roles {
            let (name, issuer) = role
                .split_once('=')
                .filter(|(n, i)| !n.is_empty() && !i.is_empty())
                .ok_or_else(|| anyhow!("--role {role:?} is not ROLE=ISS"))?;
            roles = roles.role(name, issuer);
        }
        builder = builder.roles(roles);
    }
    if let Some(audience) = &args.audience {
        builder = builder.audience(asap_core::Audience::new(audience.trim()).context("--audience")?);
    }
    let verifier = builder.build()?;
    let mut policy = IssuerPolicy::new().require_scopes(args.scopes.iter().cloned());
    if let Some(min) = args.min_level {
        if !min.is_finite() {
            return Err(anyhow!("--min-level must be a number"));
        }
        policy = policy.min_level(min);
    }
    let input = args.token.as_str().trim();
    let claims = if input.contains(' ') {
        verifier.verify_authorization([input.as_bytes()])?
    } else {
        verifier.verify(input)?
    };
    policy.check(&claims)?;
    print_line(&serde_json::to_string(&claims)?)
}
