//! `asap completions` and `asap man`: shell completions and man pages generated from the clap
//! definitions, so they never drift from `--help`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::CommandFactory as _;

use super::{Cli, write_stdout};

/// Print a shell completion script.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  asap completions bash > ~/.local/share/bash-completion/completions/asap
  asap completions zsh > \"${fpath[1]}/_asap\"
  asap completions fish > ~/.config/fish/completions/asap.fish")]
pub(crate) struct CompletionsArgs {
    /// The shell
    #[arg(value_name = "SHELL")]
    shell: clap_complete::Shell,
}

/// Print the man page, or write one page per command into a directory.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  asap man | man -l -
  asap man --dir /usr/local/share/man/man1   # asap.1, asap-token.1, asap-verify.1, ...")]
pub(crate) struct ManArgs {
    /// Write asap.1 and asap-COMMAND.1 for every command into DIR instead
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub(crate) fn completions(args: &CompletionsArgs) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "asap", &mut script);
    write_stdout(&script)
}

pub(crate) fn man(args: &ManArgs) -> anyhow::Result<()> {
    let command = Cli::command();
    let Some(dir) = &args.dir else {
        return write_stdout(&render(command)?);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut pages = vec![("asap.1".to_owned(), render(command.clone())?)];
    for sub in command.get_subcommands() {
        let name = format!("asap-{}", sub.get_name());
        let page = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("asap {}", sub.get_name()));
        pages.push((format!("{name}.1"), render(page)?));
    }
    for (file, page) in pages {
        let path = dir.join(file);
        std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn render(command: clap::Command) -> anyhow::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut page)
        .context("cannot render the man page")?;
    Ok(page)
}
