//! `asap completions` and `asap man`: generated from the clap definitions, every command in.

use crate::support::{path_str, run};

const COMMANDS: [&str; 6] = ["token", "verify", "proxy", "run", "inspect", "serve-keys"];

#[test]
fn completions_name_every_command_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(&["completions", shell]);
        let script = out.ok();
        for command in COMMANDS {
            assert!(script.contains(command), "{shell} completions lack {command}");
        }
        assert!(script.contains("upstream"), "{shell}: the options of proxy");
    }
    run(&["completions", "tcsh"]).usage_error();
}

#[test]
fn the_man_page_is_roff_with_every_command() {
    let out = run(&["man"]);
    // roff writes a hyphen as `\-`.
    let page = out.ok().replace("\\-", "-");
    assert!(page.contains(".TH asap 1"), "{page}");
    for command in COMMANDS {
        assert!(page.contains(command), "the man page lacks {command}");
    }
}

#[test]
fn man_dir_writes_one_page_per_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    let man = dir.path().join("man1");
    run(&["man", "--dir", path_str(&man)]).ok();
    let page = std::fs::read_to_string(man.join("asap-proxy.1")).expect("asap-proxy.1");
    assert!(page.contains(".TH asap-proxy 1"), "{page}");
    assert!(page.contains("upstream"), "{page}");
    for command in COMMANDS {
        assert!(man.join(format!("asap-{command}.1")).is_file(), "{command}");
    }
    assert!(man.join("asap.1").is_file());
}
