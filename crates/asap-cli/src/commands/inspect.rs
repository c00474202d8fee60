//! `asap inspect`: what a token says and which rules would refuse it, without its key.
//!
//! Every check is the core's own: the verifier itself runs every rule that needs no key (with
//! a key source that knows no key, so that "no key for this kid" means they all passed), then
//! the time rule and the audience rule are applied to the claims. Nothing here restates a rule.

use std::time::Duration;

use anyhow::{Context as _, bail};
use asap_core::{
    Audience, Clock as _, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES, Jws, MAX_LIFETIME, RegisteredClaims,
    StaticKeySource, SystemClock, TimeRule, Verifier, VerifyError, check_audience,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::print_line;
use super::redact::Secret;
use super::verify::read_token_from_stdin;

const AFTER_HELP: &str = "\
Prints the header and the claims, then each check: pass, FAIL (with the rule and why) or not
checked. The signature is NOT verified: anyone can write a token that reads like this one; use
`asap verify` to trust it. The token itself is never printed. Exit status 0 when no check
fails, 1 when one does.

Examples:
  asap inspect \"$TOKEN\"
  asap token ... | asap inspect --audience ledger";

/// Decode a token and say which rules would refuse it, without verifying the signature.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// Check the audience too: an audience the verifying service answers to (repeatable)
    #[arg(long = "audience", value_name = "AUD")]
    audiences: Vec<String>,

    /// Clock skew allowed on iat, nbf and exp, in seconds
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_LEEWAY.as_secs())]
    leeway: u64,

    /// Check as a verifier that accepts EdDSA (Ed25519) tokens would
    #[arg(long)]
    enable_eddsa: bool,

    /// The token [default: read from stdin]
    #[arg(value_name = "TOKEN")]
    token: Option<Secret>,
}

/// One line of the report.
enum Check {
    Pass(String),
    Fail { rule: &'static str, why: String },
    NotChecked(String),
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let token = match args.token.as_ref().map(Secret::as_str) {
        Some(token) if token != "-" => token.to_owned(),
        _ => read_token_from_stdin()?,
    };
    let token = token.trim();
    let time = TimeRule::new(Duration::from_secs(args.leeway), MAX_LIFETIME).context("--leeway")?;
    let audiences = args
        .audiences
        .iter()
        .map(|a| Audience::new(a.trim()).context("--audience"))
        .collect::<anyhow::Result<Vec<_>>>()?;

    print_line("UNVERIFIED: the signature was not checked; anyone can write a token that reads like this.")?;
    let jws = match Jws::parse(token, DEFAULT_MAX_TOKEN_BYTES) {
        Ok(jws) => jws,
        Err(e) => {
            let e = VerifyError::from(e);
            report(&[Check::Fail {
                rule: e.rule(),
                why: e.to_string(),
            }])?;
            bail!("the token would be refused: {e}");
        }
    };
    // Display only: the framing rule above has accepted both segments as canonical base64url.
    let header = token.split('.').next().unwrap_or_default();
    print_line(&format!(
        "header: {}",
        json_text(&URL_SAFE_NO_PAD.decode(header).unwrap_or_default())
    ))?;
    let payload = jws.payload().unwrap_or_default();
    print_line(&format!("claims: {}", json_text(&payload)))?;

    let mut checks = vec![without_key(token, &args).await?];
    match RegisteredClaims::decode(&payload).and_then(|claims| Ok((claims.time_claims()?, claims))) {
        Ok((times, claims)) => {
            let now = SystemClock.now();
            checks.push(match time.check(&times, now) {
                Ok(()) => Check::Pass(format!(
                    "time: iat {}, exp {} (now {now}, leeway {} s)",
                    times.issued_at, times.expires_at, args.leeway
                )),
                Err(e) => fail(&e.into()),
            });
            checks.push(if audiences.is_empty() {
                Check::NotChecked("audience: give --audience to check it".into())
            } else {
                match check_audience(&claims.aud, &audiences) {
                    Ok(()) => Check::Pass("audience".into()),
                    Err(e) => fail(&e.into()),
                }
            });
        }
        // Already reported by the checks without the key.
        Err(_) => checks.push(Check::NotChecked(
            "time and audience: the claims are not usable".into(),
        )),
    }
    checks.push(Check::NotChecked(
        "signature, issuer and subject allow-lists, sub = iss, replay: these need the verifying \
         service's key and settings (asap verify)"
            .into(),
    ));
    report(&checks)?;
    let failures: Vec<&'static str> = checks
        .iter()
        .filter_map(|c| match c {
            Check::Fail { rule, .. } => Some(*rule),
            _ => None,
        })
        .collect();
    if !failures.is_empty() {
        bail!("the token would be refused ({})", failures.join(", "));
    }
    Ok(())
}

/// The verifier's own checks that run before the key lookup: size, framing, header, algorithm,
/// kid syntax, claim types and required claims, kid ownership. With no key to find, a token
/// that passes them all fails with `KeyNotFound`, and nothing else.
async fn without_key(token: &str, args: &Args) -> anyhow::Result<Check> {
    let verifier = Verifier::builder(StaticKeySource::new())
        // The audience is checked after the signature, so never reached; one is required.
        .audience(Audience::new("inspect").context("audience")?)
        .enable_eddsa(args.enable_eddsa)
        .build()?;
    Ok(match verifier.verify(token).await {
        Err(VerifyError::KeyNotFound(kid)) => Check::Pass(format!(
            "framing, header, algorithm, kid {kid} (syntax and ownership), required claims"
        )),
        Err(e @ VerifyError::AlgorithmNotEnabled(_)) => Check::Fail {
            rule: e.rule(),
            why: format!(
                "{e} (a verifier accepts EdDSA only when enabled; --enable-eddsa checks as one would)"
            ),
        },
        // A key source without keys cannot verify anything; say so rather than panic.
        Ok(_) => Check::NotChecked("the checks without the key: the verifier found a key".into()),
        Err(e) => fail(&e),
    })
}

fn fail(e: &VerifyError) -> Check {
    Check::Fail {
        rule: e.rule(),
        why: e.to_string(),
    }
}

fn report(checks: &[Check]) -> anyhow::Result<()> {
    for check in checks {
        let line = match check {
            Check::Pass(what) => format!("  pass         {what}"),
            Check::Fail { rule, why } => format!("  FAIL         {rule}: {why}"),
            Check::NotChecked(what) => format!("  not checked  {what}"),
        };
        print_line(&line)?;
    }
    Ok(())
}

/// A JSON object as one line with sorted keys, or a note when it is not JSON.
fn json_text(bytes: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .map_or_else(|_| "(not JSON)".to_owned(), |v| v.to_string())
}
