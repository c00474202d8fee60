//! `--passphrase-file` of `asap token`, `asap user-token` and `asap data-uri`: one reader, so
//! one rule for what the file holds.

use crate::keys::ssh_keygen;
use crate::support::{path_str, run};

#[test]
fn every_command_reads_a_passphrase_file_without_its_line_end_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((private, _)) = ssh_keygen(dir.path(), "id_ed25519", &["-t", "ed25519", "-N", "s3cret"]) else {
        return;
    };
    let private = path_str(&private);
    let with_line_end = dir.path().join("with-line-end");
    std::fs::write(&with_line_end, "s3cret\r\n").expect("write");
    let with_trailing_space = dir.path().join("with-trailing-space");
    std::fs::write(&with_trailing_space, "s3cret \n").expect("write");
    let commands = |passphrase_file: &str| {
        [
            run(&[
                "token",
                "--issuer",
                "billing",
                "--kid",
                "billing/k1",
                "--audience",
                "ledger",
                "--private-key",
                private,
                "--passphrase-file",
                passphrase_file,
            ]),
            run(&[
                "user-token",
                "--username",
                "ann",
                "--private-key",
                private,
                "--passphrase-file",
                passphrase_file,
            ]),
            run(&[
                "data-uri",
                "--kid",
                "billing/k1",
                "--passphrase-file",
                passphrase_file,
                private,
            ]),
        ]
    };
    for decrypted in commands(path_str(&with_line_end)) {
        assert!(!decrypted.ok().is_empty(), "{decrypted:#?}");
    }
    for refused in commands(path_str(&with_trailing_space)) {
        refused.failure();
    }
    let missing = dir.path().join("missing");
    for refused in commands(path_str(&missing)) {
        assert!(
            refused.failure().contains("cannot read the passphrase file"),
            "{refused:#?}"
        );
    }
}
