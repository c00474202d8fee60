//! `asap run`: run a command with a fresh ASAP token in its environment, for scripts.

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::Context as _;
use asap_keys::{ENV_AUDIENCE, ENV_PRIVATE_KEY};

use super::redact::Secret;
use super::signing::SignerArgs;

/// The child's variable holding the token.
pub(crate) const ENV_TOKEN: &str = "ASAP_TOKEN";
/// The child's variable holding the `Authorization` header value, `Bearer <token>`.
pub(crate) const ENV_AUTHORIZATION: &str = "ASAP_AUTHORIZATION";

const AFTER_HELP: &str = "\
The command gets ASAP_TOKEN (the token) and ASAP_AUTHORIZATION (\"Bearer <token>\", the
Authorization header value) in its environment, and not ASAP_PRIVATE_KEY: it can call the
audience for the token's lifetime (--lifetime, 60 s by default), but cannot sign. asap prints
nothing; the command replaces asap (exec), so its exit status and signals are its own; 127
when it cannot be found, 126 when it cannot be run.

Examples:
  asap run --issuer billing --private-key-repo private --audience ledger -- \\
      sh -c 'curl -H \"Authorization: $ASAP_AUTHORIZATION\" https://ledger.example.com/api'
  asap run --audience ledger --lifetime 300 -- ./nightly-export.sh";

/// Run a command with a fresh ASAP token in its environment.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// The audience (`aud`) of the token: the service the command calls (repeatable)
    #[arg(long = "audience", env = ENV_AUDIENCE, hide_env_values = true, value_name = "AUD", required = true)]
    audiences: Vec<String>,

    #[command(flatten)]
    signer: SignerArgs,

    /// The command and its arguments, after `--`
    #[arg(value_name = "COMMAND", last = true, required = true)]
    command: Vec<Secret<OsString>>,
}

/// Every variable `asap` reads a secret from: the private key, the Connect shared secret
/// (`connect-token`) and the key registry's database URL, which may hold its password
/// (`keys`). None of them reaches the child.
const SECRET_ENV: [&str; 3] = [
    ENV_PRIVATE_KEY,
    "ASAP_CONNECT_SHARED_SECRET",
    "ASAP_KEY_REGISTRY_DB",
];

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let signer = args.signer.signer()?;
    let token = signer.sign_request(&args.signer.request(&args.audiences)?)?;
    let (program, rest) = args
        .command
        .split_first()
        .context("no command: give it after `--`")?;
    let mut command = std::process::Command::new(program.expose());
    command
        .args(rest.iter().map(Secret::expose))
        .env(ENV_TOKEN, token.as_str())
        .env(ENV_AUTHORIZATION, format!("Bearer {}", token.as_str()));
    // The child gets a token, not the secrets this command could read.
    for name in SECRET_ENV {
        command.env_remove(name);
    }
    let name = program.expose().to_string_lossy().into_owned();
    let error = match spawn(&mut command) {
        Ok(code) => return Ok(code),
        Err(e) => e,
    };
    let code = if error.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    eprintln!("asap: cannot run {name}: {error}");
    Ok(ExitCode::from(code))
}

/// On Unix the command replaces this process (`exec`), so that signals reach it directly and
/// its exit status is the one the caller sees; this returns only when it cannot be run.
#[cfg(unix)]
fn spawn(command: &mut std::process::Command) -> std::io::Result<ExitCode> {
    use std::os::unix::process::CommandExt as _;
    Err(command.exec())
}

/// Elsewhere: run it and pass its exit code on.
#[cfg(not(unix))]
fn spawn(command: &mut std::process::Command) -> std::io::Result<ExitCode> {
    let status = command.status()?;
    Ok(ExitCode::from(
        status.code().map_or(1, |c| u8::try_from(c & 0xff).unwrap_or(1)),
    ))
}
