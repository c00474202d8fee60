//! Repository automation, run as `cargo xtask <subcommand>` (alias in `.cargo/config.toml`).
//!
//! Each subcommand lives in its own module with one entry function; `main` only dispatches.
//! Repository rules that can be checked statically are ordinary tests in `tests/`, so
//! `cargo test --workspace` enforces them.

mod bench;
mod ci;
mod fuzz;
mod instructions;
mod soak;
mod util;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <subcommand>

subcommands:
  bench   [--seconds S] [--instructions]: sign/verify vs raw crypto vs the Python reference and
          the Rust peers, load through the layer; --instructions adds callgrind instruction
          counts per operation (needs valgrind)
  ci      [--list]: every check CI runs (fmt, cargo-deny, clippy and rustdoc -D warnings, each
          feature of each crate, the tests), with timings; --list prints the commands
  fuzz    --seconds N [--target NAME]...: run the cargo-fuzz targets in fuzz/ (nightly)
  soak    [--seconds S]: the soak under faults (key repositories, a rotation, Redis, a burst)
          with honest and hostile callers; fails when a must-be-zero figure is not zero
  help    this text
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let subcommand = args.next();
    let rest: Vec<String> = args.collect();
    let result = match subcommand.as_deref() {
        Some("bench") => bench::run(&rest),
        Some("ci") => ci::run(&rest),
        Some("fuzz") => fuzz::run(&rest),
        Some("soak") => soak::run(&rest),
        None | Some("help" | "-h" | "--help") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprint!("xtask: unknown subcommand `{other}`\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
