//! `asap`: ASAP keys, tokens and key repositories, and Atlassian Connect tokens, from the shell.
//!
//! Exit status: 0 on success, 1 on a failure (one line on stderr, `asap: <what went wrong>`),
//! 2 on a usage error (clap's message and a pointer to `--help`).

use std::process::ExitCode;

use clap::Parser as _;

mod commands;

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("asap: {}", commands::one_line(&error));
            ExitCode::FAILURE
        }
    }
}
