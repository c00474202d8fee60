//! What the command reads from files and stdin, each kind of input with its size cap, all in
//! this one place. An input over its cap is refused after reading at most the cap plus one byte:
//! a path given by mistake (`/dev/zero`, a log, a disk image) never fills memory. A private key
//! file has its cap in `asap_keys::read_private_key` (64 KiB).

use std::io::Read as _;
use std::path::Path;

use anyhow::{Context as _, anyhow, bail};
use asap_core::PrivateKey;
use zeroize::Zeroizing;

/// The longest key text read (`asap keys add FILE` or stdin, `--public-key FILE`,
/// `serve-keys --tls-key`): the bound asap-keys' parsers put on a key text, so no file they
/// would accept is refused.
pub(crate) const MAX_KEY_TEXT_BYTES: u64 = asap_keys::MAX_KEY_TEXT_BYTES as u64;

/// The longest PEM certificate file read (`--cacert` of `verify`, `curl` and `proxy`,
/// `serve-keys --tls-cert`): a whole system bundle fits (Debian's `ca-certificates.crt` is
/// about 220 KB), and any server's chain with it.
pub(crate) const MAX_CERTIFICATES_BYTES: u64 = 1024 * 1024;

/// The longest request body: `asap curl -d @FILE` and `-d @-` read at most this, and
/// `asap proxy --max-body-bytes` forwards at most this by default.
pub(crate) const MAX_REQUEST_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The longest token read from stdin (`verify`, `inspect`): twice the verifier's size limit
/// ([`asap_core::DEFAULT_MAX_TOKEN_BYTES`]), room for the white space around a token. A token
/// between the two is refused by the verifier's own size rule, which names it.
pub(crate) const MAX_TOKEN_INPUT_BYTES: u64 = 2 * asap_core::DEFAULT_MAX_TOKEN_BYTES as u64;

/// The longest passphrase file read: a passphrase is short, and `--passphrase-file /dev/zero`
/// must not read without end.
pub(crate) const MAX_PASSPHRASE_FILE_BYTES: usize = 4096;

/// A kind of input read whole, and its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Input {
    /// A PEM public key or an OpenSSH `authorized_keys` line: [`MAX_KEY_TEXT_BYTES`].
    PublicKey,
    /// PEM CA certificates: [`MAX_CERTIFICATES_BYTES`].
    CaBundle,
    /// A server's PEM certificate chain (`serve-keys --tls-cert`): [`MAX_CERTIFICATES_BYTES`].
    CertificateChain,
    /// A server's PEM private key (`serve-keys --tls-key`): [`MAX_KEY_TEXT_BYTES`].
    TlsPrivateKey,
    /// A request body (`curl -d @FILE`, `-d @-`): [`MAX_REQUEST_BODY_BYTES`].
    RequestBody,
    /// A token on stdin: [`MAX_TOKEN_INPUT_BYTES`].
    Token,
}

impl Input {
    /// Every kind, for tests.
    #[cfg(test)]
    pub(crate) const ALL: [Input; 6] = [
        Input::PublicKey,
        Input::CaBundle,
        Input::CertificateChain,
        Input::TlsPrivateKey,
        Input::RequestBody,
        Input::Token,
    ];

    /// The most bytes accepted.
    pub(crate) const fn max_bytes(self) -> u64 {
        match self {
            Input::PublicKey | Input::TlsPrivateKey => MAX_KEY_TEXT_BYTES,
            Input::CaBundle | Input::CertificateChain => MAX_CERTIFICATES_BYTES,
            Input::RequestBody => MAX_REQUEST_BODY_BYTES as u64,
            Input::Token => MAX_TOKEN_INPUT_BYTES,
        }
    }

    const fn what(self) -> &'static str {
        match self {
            Input::PublicKey => "a public key",
            Input::CaBundle => "a CA certificate file",
            Input::CertificateChain => "a certificate chain",
            Input::TlsPrivateKey => "a TLS private key",
            Input::RequestBody => "a request body (-d)",
            Input::Token => "a token",
        }
    }
}

/// The bytes of the file at `path`, refused when longer than its kind allows.
pub(crate) fn read_file(path: &Path, input: Input) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    read_file_into(path, input, &mut bytes)?;
    Ok(bytes)
}

/// Like [`read_file`], for a file holding a secret (a private key): read into one buffer
/// allocated up front, so no reallocation leaves a copy behind, and wiped on drop.
pub(crate) fn read_secret_file(path: &Path, input: Input) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let capacity = usize::try_from(input.max_bytes() + 1).context("the input cap")?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    read_file_into(path, input, &mut bytes)?;
    Ok(bytes)
}

/// The text of the file at `path`, refused when longer than its kind allows or not UTF-8.
pub(crate) fn read_text_file(path: &Path, input: Input) -> anyhow::Result<String> {
    into_text(read_file(path, input)?, &path.display().to_string())
}

/// The bytes on stdin (`name` says what they are for the error), refused like a file.
pub(crate) fn read_stdin(input: Input, name: &str) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    read_capped(std::io::stdin().lock(), input, name, &mut bytes)?;
    Ok(bytes)
}

/// The text on stdin (`name` says what it is for the error), refused like a file.
pub(crate) fn read_stdin_text(input: Input, name: &str) -> anyhow::Result<String> {
    into_text(read_stdin(input, name)?, name)
}

fn read_file_into(path: &Path, input: Input, bytes: &mut Vec<u8>) -> anyhow::Result<()> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {name}"))?;
    read_capped(file, input, &name, bytes)
}

fn read_capped(
    reader: impl std::io::Read,
    input: Input,
    name: &str,
    bytes: &mut Vec<u8>,
) -> anyhow::Result<()> {
    let max = input.max_bytes();
    reader
        .take(max + 1)
        .read_to_end(bytes)
        .with_context(|| format!("cannot read {name}"))?;
    if bytes.len() as u64 > max {
        bail!(
            "{name} is larger than {max} bytes{}, too large for {}",
            in_units(max),
            input.what()
        );
    }
    Ok(())
}

/// ` (16 MiB)` for a whole number of MiB or KiB, so that a cap reads as it is documented.
fn in_units(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    match bytes {
        0 => String::new(),
        b if b % MIB == 0 => format!(" ({} MiB)", b / MIB),
        b if b % KIB == 0 => format!(" ({} KiB)", b / KIB),
        _ => String::new(),
    }
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
    fn a_secret_file_is_read_into_one_buffer_allocated_up_front() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key.pem");
        let max = usize::try_from(Input::TlsPrivateKey.max_bytes()).expect("usize");
        for len in [0, 1, max / 2, max] {
            std::fs::write(&path, vec![b'k'; len]).expect("write");
            let bytes = read_secret_file(&path, Input::TlsPrivateKey).expect("read");
            assert_eq!(bytes.len(), len);
            // Never grown, so no reallocation left a copy of the key behind.
            assert_eq!(bytes.capacity(), max + 1, "{len} bytes");
        }
    }

    #[test]
    fn caps_read_as_documented() {
        assert_eq!(in_units(16 * 1024 * 1024), " (16 MiB)");
        assert_eq!(in_units(64 * 1024), " (64 KiB)");
        assert_eq!(in_units(4097), "");
    }

    #[test]
    fn an_input_over_its_cap_is_refused_and_one_at_it_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("input");
        for input in Input::ALL {
            let max = usize::try_from(input.max_bytes()).expect("usize");
            std::fs::write(&path, vec![b'x'; max]).expect("write");
            assert_eq!(read_file(&path, input).expect("at the cap").len(), max);
            assert_eq!(read_text_file(&path, input).expect("at the cap").len(), max);
            assert_eq!(read_secret_file(&path, input).expect("at the cap").len(), max);
            std::fs::write(&path, vec![b'x'; max + 1]).expect("write");
            let error = one_line(&read_file(&path, input).expect_err("over the cap"));
            assert!(error.contains(&format!("larger than {max} bytes")), "{error}");
            assert!(error.contains(input.what()), "{error}");
            let error = one_line(&read_secret_file(&path, input).expect_err("over the cap"));
            assert!(error.contains(&format!("larger than {max} bytes")), "{error}");
            #[cfg(unix)]
            {
                let endless = one_line(&read_file(Path::new("/dev/zero"), input).expect_err("endless"));
                assert!(endless.contains("larger than"), "{endless}");
            }
        }
    }
}
