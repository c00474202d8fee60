//! The command line: one module per subcommand, and what they share.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use asap_core::Algorithm;
use clap::{Parser, Subcommand};

mod connect_token;
mod curl;
mod data_uri;
mod generate;
mod input;
mod inspect;
mod issuer_verify;
mod keygen;
mod keys;
mod proxy;
mod qsh;
mod redact;
mod run;
mod serve_keys;
mod signing;
mod token;
mod user_token;
mod user_verify;
mod verify;

use input::read_passphrase_file;

const AFTER_HELP: &str = "\
A session:
  asap keygen --issuer billing --private-dir private --public-dir public
  asap serve-keys --dir public --listen 127.0.0.1:8080 &
  TOKEN=$(asap token --issuer billing --private-key-repo private --audience ledger)
  asap verify --audience ledger --key-repo http://127.0.0.1:8080/ --allow-insecure-http \"$TOKEN\"

Exit status: 0 on success, 1 on failure (one line on stderr), 2 on a usage error.";

/// ASAP (Atlassian Service Authentication Protocol) and Atlassian Connect from the shell: make
/// keys and tokens, verify tokens, send authenticated requests, serve a public key repository.
#[derive(Debug, Parser)]
#[command(name = "asap", version, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Keygen(keygen::Args),
    #[command(subcommand)]
    Keys(keys::Command),
    Token(token::Args),
    Verify(verify::Args),
    Curl(curl::Args),
    ServeKeys(serve_keys::Args),
    DataUri(data_uri::Args),
    Qsh(qsh::Args),
    ConnectToken(connect_token::Args),
    Proxy(proxy::Args),
    Run(run::Args),
    Inspect(inspect::Args),
    Completions(generate::CompletionsArgs),
    Man(generate::ManArgs),
    UserToken(user_token::Args),
    UserVerify(user_verify::Args),
    IssuerVerify(issuer_verify::Args),
}

/// Runs the command; an error becomes one line on stderr and exit status 1.
pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Keygen(args) => keygen::run(&args),
        Command::Keys(command) => block_on(keys::run(command)),
        Command::Token(args) => token::run(&args),
        Command::Verify(args) => block_on(verify::run(args)),
        Command::Curl(args) => block_on(curl::run(args)),
        Command::ServeKeys(args) => block_on(serve_keys::run(args)),
        Command::DataUri(args) => data_uri::run(&args),
        Command::Qsh(args) => qsh::run(&args),
        Command::ConnectToken(args) => connect_token::run(&args),
        Command::Proxy(args) => block_on(proxy::run(args)),
        // The command's own exit status.
        Command::Run(args) => return run::run(&args),
        Command::Inspect(args) => block_on(inspect::run(args)),
        Command::Completions(args) => generate::completions(&args),
        Command::Man(args) => generate::man(&args),
        Command::UserToken(args) => user_token::run(&args),
        Command::UserVerify(args) => block_on(user_verify::run(args)),
        Command::IssuerVerify(args) => issuer_verify::run(&args),
    }
    .map(|()| ExitCode::SUCCESS)
}

fn block_on<F: Future<Output = anyhow::Result<()>>>(future: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(future)
}

/// The error and its causes on one line, without repeating a cause that a message already
/// quotes (many library errors include their source in their own message).
pub(crate) fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if message.is_empty() || line.contains(&message) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&message);
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Writes one line to stdout. A closed pipe (`asap token | head -c0`) is not an error.
fn print_line(line: &str) -> anyhow::Result<()> {
    write_stdout(format!("{line}\n").as_bytes())
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("cannot write to stdout"),
        _ => Ok(()),
    }
}

/// Parses an algorithm name for `--alg`.
fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    name.parse::<Algorithm>().map_err(|e| {
        let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.as_str()).collect();
        format!("{e}; one of {}", names.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn one_line_skips_causes_already_quoted() {
        let inner = std::io::Error::other("disk on fire");
        let error = anyhow::Error::new(inner).context("cannot read key.pem: disk on fire");
        assert_eq!(one_line(&error), "cannot read key.pem: disk on fire");
        let error = anyhow::anyhow!("line one\nline two").context("outer");
        assert_eq!(one_line(&error), "outer: line one line two");
    }
}
