//! Encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`: PBES2 with PBKDF2 or scrypt, AES-CBC), through the
//! RustCrypto `pkcs8` crate, with bounds on what the key-derivation function may cost.

use asap_core::PrivateKey;

use crate::error::LoadError;

/// PBKDF2 iteration counts above this are refused: OpenSSL writes 2048 and OWASP recommends
/// 600 000, and a hostile file could otherwise ask for 2^32 - 1 (a CPU-bound hang).
const MAX_PBKDF2_ITERATIONS: u32 = 4_000_000;
/// scrypt memory (128 * r * N bytes) above this is refused (OpenSSL's own limit is 32 MiB): a
/// hostile file could otherwise ask for terabytes and abort the process.
const MAX_SCRYPT_MEMORY: u128 = 64 * 1024 * 1024;
/// scrypt work (128 * r * N * p bytes mixed) above this is refused, for the same reason.
const MAX_SCRYPT_WORK: u128 = 256 * 1024 * 1024;

/// Refuses key-derivation parameters that would hang or exhaust memory before deriving anything
/// (found by the `private_key` fuzz target).
fn check_kdf_cost(scheme: &pkcs8::pkcs5::EncryptionScheme<'_>) -> Result<(), LoadError> {
    use pkcs8::pkcs5::pbes2::Kdf;
    let pkcs8::pkcs5::EncryptionScheme::Pbes2(params) = scheme else {
        return Ok(());
    };
    match &params.kdf {
        Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ITERATIONS => {
            Err(LoadError::UnsupportedEncryption(format!(
                "PBKDF2 with {} iterations; at most {MAX_PBKDF2_ITERATIONS} are accepted",
                p.iteration_count
            )))
        }
        Kdf::Scrypt(p) => {
            let memory = 128 * u128::from(p.block_size) * u128::from(p.cost_parameter);
            if memory > MAX_SCRYPT_MEMORY || memory * u128::from(p.parallelization) > MAX_SCRYPT_WORK {
                return Err(LoadError::UnsupportedEncryption(format!(
                    "scrypt with N={} r={} p={} is too costly (at most {MAX_SCRYPT_MEMORY} bytes of \
                     memory and {MAX_SCRYPT_WORK} of work)",
                    p.cost_parameter, p.block_size, p.parallelization
                )));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Decrypts an `ENCRYPTED PRIVATE KEY` (PKCS#8 `EncryptedPrivateKeyInfo`, RFC 5958 §3).
pub(crate) fn decrypt(der: &[u8], passphrase: &[u8]) -> Result<PrivateKey, LoadError> {
    use pkcs8::pkcs5;
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der)
        .map_err(|e| LoadError::Format(format!("malformed ENCRYPTED PRIVATE KEY: {e}")))?;
    check_kdf_cost(&info.encryption_algorithm)?;
    match info.decrypt(passphrase) {
        Ok(plain) => PrivateKey::from_pkcs8_der(plain.as_bytes()).map_err(|_| LoadError::WrongPassphrase),
        // A wrong passphrase shows as bad padding or, rarely, as padding that passes over
        // garbage that is not DER. (pkcs5 0.7 reports bad padding on decryption as
        // `EncryptFailed`.)
        Err(
            pkcs8::Error::EncryptedPrivateKey(pkcs5::Error::DecryptFailed | pkcs5::Error::EncryptFailed)
            | pkcs8::Error::Asn1(_),
        ) => Err(LoadError::WrongPassphrase),
        Err(e) => Err(LoadError::UnsupportedEncryption(e.to_string())),
    }
}
