//! What the command reads from files and stdin besides tokens, each kind of input with its size
//! cap, all in this one place. An input over its cap is refused after reading at most the cap
//! plus one byte: a path given by mistake (`/dev/zero`, a log, a disk image) never fills memory.
//! A private key file has its cap in `asap_keys::read_private_key` (64 KiB).

use std::io::Read as _;
use std::path::Path;

use anyhow::{Context as _, anyhow, bail};
use asap_core::PrivateKey;
use zeroize::Zeroizing;

/// The longest public key read (`asap keys add FILE` or stdin, `--public-key FILE`): the bound
/// asap-keys' parsers put on a key text, so no file they would accept is refused.
pub(crate) const MAX_PUBLIC_KEY_BYTES: u64 = asap_keys::MAX_KEY_TEXT_BYTES as u64;

/// The longest CA certificate file read (`--cacert` of `verify`, `curl` and `proxy`): a whole
/// system bundle fits (Debian's `ca-certificates.crt` is about 220 KB).
pub(crate) const MAX_CA_BUNDLE_BYTES: u64 = 1024 * 1024;

/// The longest passphrase file read: a passphrase is short, and `--passphrase-file /dev/zero`
/// must not read without end.
pub(crate) const MAX_PASSPHRASE_FILE_BYTES: usize = 4096;

/// A kind of input read whole, and its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Input {
    /// A PEM public key or an OpenSSH `authorized_keys` line: [`MAX_PUBLIC_KEY_BYTES`].
    PublicKey,
    /// PEM CA certificates: [`MAX_CA_BUNDLE_BYTES`].
    CaBundle,
}

impl Input {
    /// The most bytes accepted.
    pub(crate) const fn max_bytes(self) -> u64 {
        match self {
            Input::PublicKey => MAX_PUBLIC_KEY_BYTES,
            Input::CaBundle => MAX_CA_BUNDLE_BYTES,
        }
    }

    const fn what(self) -> &'static str {
        match self {
            Input::PublicKey => "a public key",
            Input::CaBundle => "a CA certificate file",
        }
    }
}

/// The bytes of the file at `path`, refused when longer than its kind allows.
pub(crate) fn read_file(path: &Path, input: Input) -> anyhow::Result<Vec<u8>> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {name}"))?;
    read_capped(file, input, &name)
}

/// The text of the file at `path`, refused when longer than its kind allows or not UTF-8.
pub(crate) fn read_text_file(path: &Path, input: Input) -> anyhow::Result<String> {
    into_text(read_file(path, input)?, &path.display().to_string())
}

/// The text on stdin (`name` says what it is for the error), refused like a file.
pub(crate) fn read_stdin_text(input: Input, name: &str) -> anyhow::Result<String> {
    into_text(read_capped(std::io::stdin().lock(), input, name)?, name)
}

fn read_capped(reader: impl std::io::Read, input: Input, name: &str) -> anyhow::Result<Vec<u8>> {
    let max = input.max_bytes();
    let mut bytes = Vec::new();
    reader
        .take(max + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {name}"))?;
    if bytes.len() as u64 > max {
        bail!(
            "{name} is larger than {max} bytes, too large for {}",
            input.what()
        );
    }
    Ok(bytes)
}

fn into_text(bytes: Vec<u8>, name: &str) -> anyhow::Result<String> {
    String::from_utf8(bytes).map_err(|_| anyhow!("cannot read {name}: it is not UTF-8 text"))
}

/// The private key in the file that `value` names, for a value that is neither PEM text nor a
/// data URI; `origin` is where the value came from (`--private-key`, `ASAP_PRIVATE_KEY`) and
/// `expected` the other forms it could have taken.
///
/// Such a value may still be key material (a key pasted without its PEM lines, a variable
/// holding the wrong secret), so it is shown in an error only once `stat` says it names an
/// existing file system entry: then it is a path, not a secret. Otherwise the error names the
/// origin and the forms expected, never the value.
pub(crate) fn read_private_key_file(
    value: &str,
    origin: &str,
    expected: &str,
    passphrase: Option<&[u8]>,
) -> anyhow::Result<PrivateKey> {
    let path = Path::new(value);
    if let Err(e) = std::fs::metadata(path) {
        bail!(
            "{origin} is neither {expected}, nor the path of an existing file ({e}); its value is \
             not shown, as it may be key material"
        );
    }
    Ok(asap_keys::read_private_key(path, passphrase)?)
}

/// The passphrase in a `--passphrase-file`: the file's bytes without the line end(s) that
/// editors and `echo` put after it (`\n`, `\r\n`), kept in memory that is wiped on drop.
/// Every other byte, leading and inner white space included, is part of the passphrase. The
/// file is read into one buffer allocated up front, so no reallocation leaves a copy behind,
/// and a file over [`MAX_PASSPHRASE_FILE_BYTES`] is refused.
pub(crate) fn read_passphrase_file(path: &Path) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let cannot = || format!("cannot read the passphrase file {}", path.display());
    let file = std::fs::File::open(path).with_context(cannot)?;
    let mut text = Zeroizing::new(Vec::with_capacity(MAX_PASSPHRASE_FILE_BYTES + 1));
    file.take(MAX_PASSPHRASE_FILE_BYTES as u64 + 1)
        .read_to_end(&mut text)
        .with_context(cannot)?;
    if text.len() > MAX_PASSPHRASE_FILE_BYTES {
        anyhow::bail!(
            "the passphrase file {} is longer than {MAX_PASSPHRASE_FILE_BYTES} bytes",
            path.display()
        );
    }
    while text.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        text.pop();
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::one_line;

    #[test]
    fn a_passphrase_file_loses_its_line_ends_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pass");
        for (written, passphrase) in [
            (&b"s3cret"[..], &b"s3cret"[..]),
            (b"s3cret\n", b"s3cret"),
            (b"s3cret\r\n", b"s3cret"),
            (b"s3cret\n\n", b"s3cret"),
            (b" two words \n", b" two words "),
            (b"line\none\n", b"line\none"),
            (b"\n", b""),
        ] {
            std::fs::write(&path, written).expect("write");
            assert_eq!(
                read_passphrase_file(&path).expect("read").as_slice(),
                passphrase,
                "{written:?}"
            );
        }
    }

    #[test]
    fn a_passphrase_file_over_the_cap_is_refused_and_one_at_it_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pass");
        std::fs::write(&path, vec![b'x'; MAX_PASSPHRASE_FILE_BYTES]).expect("write");
        assert_eq!(
            read_passphrase_file(&path).expect("at the cap").len(),
            MAX_PASSPHRASE_FILE_BYTES
        );
        std::fs::write(&path, vec![b'x'; MAX_PASSPHRASE_FILE_BYTES + 1]).expect("write");
        let error = read_passphrase_file(&path).expect_err("over the cap").to_string();
        assert!(error.contains("longer than 4096 bytes"), "{error}");
        let endless = read_passphrase_file(Path::new("/dev/zero"))
            .expect_err("endless")
            .to_string();
        assert!(endless.contains("longer than"), "{endless}");
    }

    #[test]
    fn a_missing_passphrase_file_is_named_in_the_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("absent");
        let error = read_passphrase_file(&path).expect_err("no file");
        assert!(one_line(&error).contains(&format!("cannot read the passphrase file {}", path.display())));
    }

    #[test]
    fn an_input_over_its_cap_is_refused_and_one_at_it_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("input");
        for input in [Input::PublicKey, Input::CaBundle] {
            let max = usize::try_from(input.max_bytes()).expect("usize");
            std::fs::write(&path, vec![b'x'; max]).expect("write");
            assert_eq!(read_file(&path, input).expect("at the cap").len(), max);
            assert_eq!(read_text_file(&path, input).expect("at the cap").len(), max);
            std::fs::write(&path, vec![b'x'; max + 1]).expect("write");
            let error = one_line(&read_file(&path, input).expect_err("over the cap"));
            assert!(error.contains(&format!("larger than {max} bytes")), "{error}");
            #[cfg(unix)]
            {
                let endless = one_line(&read_file(Path::new("/dev/zero"), input).expect_err("endless"));
                assert!(endless.contains("larger than"), "{endless}");
            }
        }
    }
}
