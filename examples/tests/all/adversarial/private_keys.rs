//! Private key files whose key-derivation parameters would hang or exhaust memory.

use std::time::{Duration, Instant};

use asap_keys::LoadError;

/// An encrypted PKCS#8 file asking for PBKDF2 with 2^32 - 1 iterations (made with `openssl
/// pkcs8 -topk8 -v2 aes-256-cbc -iter 16` on a throw-away P-256 key, then the iteration count
/// re-encoded): without a bound, loading it spins for tens of minutes.
const PBKDF2_HUGE: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHvMFoGCSqGSIb3DQEFDTBNMCwGCSqGSIb3DQEFDDAfBAj0UWfMCL7QigIFAP//
//8wDAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEK5q99XMFdmd2rmvCP7mZkkE
gZCUkYJgZWV+HIs6oBsHl+Dt3EcYa2t6T6LlFwt31fmgmtk/JUwCR/5m8sIUzbqd
7lmD19Hjda1T3s3l5LnWvt/NtFj5JuMwAwSwXAp8d85CmRxcUqYvk2Kk8+HZFnhm
GTjqHOPRtVvxm9Du63aOnP9fk5tjRUJcitmV+JiPCsq+5jk14pp2t43ApxWygOzs
Zc8=
-----END ENCRYPTED PRIVATE KEY-----
";

/// The same with scrypt N = 2^30, r = 8 (`openssl pkcs8 -topk8 -scrypt` with small parameters,
/// then re-encoded): without a bound, loading it asks for 1 TiB and aborts the process.
const SCRYPT_HUGE: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----
MIGVMFEGCSqGSIb3DQEFDTBEMCMGCSsGAQQB2kcECzAWBAg2osRUhtfcMAIEQAAA
AAIBCAIBATAdBglghkgBZQMEASoEEBg1AxUW+B06nQHHXlI8IqAEQMJu7g9SWl7f
R9lsn0qzjn8mNmT1zUA/WoHgEL1ZQaJ7C/Mya6/QYj1Ev3lnulQ0hTqN3F0HJsSO
FWlaKBTILKQ=
-----END ENCRYPTED PRIVATE KEY-----
";

/// The `private_key` fuzz target's find: the same key mutated to 4096 bcrypt rounds, then the
/// limit, which took over 30 s to refuse nothing (now at most 512 rounds are accepted).
const OPENSSH_ROUNDS_4096: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABCr+5f+ga
PAHr8Z/T8gnCAyAAAQAAAAAAEAAABoAAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlz
dHAyNTYAAABBBB06ijArxTdT5tpdONGqUaLW6NG+u7MBCp1vd2NC367X5YAcpyQUzefyZj
h3GmX5JDXq/Hr8Z/T8gnCAyAAAAAQAAAAEAAABoAAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmldONGqUaLW6NG+u7MBCp1vd2NC367X5YAcpyQUzefyZj
h3eBDMvdQTUxOQAAACAFLhgbrseBDMvdO4zb0XgVNHamRBqeE3uULrn8XVu+Fw
AAAEADKs0I2E5TmVcXSRWOxLf1yPOgfgwaeKA==
-----END OPENSSH PRIVATE KEY-----
";

/// An OpenSSH key (`ssh-keygen -t ecdsa -a 1 -N fuzz`, throw-away) with its bcrypt rounds
/// re-encoded as 2^32 - 1.
const OPENSSH_ROUNDS_HUGE: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABCr+5f+ga
PAHr8Z/T8gnCAy/////wAAAAEAAABoAAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlz
dHAyNTYAAABBBB06ijArxTdT5tpdONGqUaLW6NG+u7MBCp1vd3NC367X5YAcpyQUzefyZj
h3GmX5JDXq/6cKcAx+xPR71j6NBAYAAACgSR7KaPv28ShTq52e3dctctAtgxwUcG+Bw27Y
zYG48daJ0MCdI9BUSN/XdHAN/qSXKQC65lWZbqj07KxwmfVwOhCiz+Pu8xwl+qdq5ohaAt
POk5o2064eHXw2KJPAGl6a3VMjs+CTnuc3ynhHrT2ohlNNahkVR4OZiZR56Yn4eUM/83vH
P6I9pqZu/TwXk3g3htTSs4puD/Y23VYxmJ/WKA==
-----END OPENSSH PRIVATE KEY-----
";

#[test]
fn hostile_encrypted_private_keys_are_refused_before_key_derivation() {
    for (case, pem) in [
        ("PBKDF2 2^32-1 iterations", PBKDF2_HUGE),
        ("scrypt N=2^30", SCRYPT_HUGE),
    ] {
        let started = Instant::now();
        let err = asap_keys::parse_private_key(pem, Some(b"fuzz")).expect_err(case);
        assert!(
            matches!(err, LoadError::UnsupportedEncryption(_)),
            "{case}: {err:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{case}: {:?}",
            started.elapsed()
        );
    }
    for (case, pem) in [
        ("2^32-1 bcrypt rounds", OPENSSH_ROUNDS_HUGE),
        ("4096 bcrypt rounds", OPENSSH_ROUNDS_4096),
    ] {
        let started = Instant::now();
        let err = asap_keys::parse_private_key(pem, Some(b"fuzz")).expect_err(case);
        assert!(
            matches!(&err, LoadError::Format(reason) if reason.contains("rounds")),
            "{case}: {err:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{case}: {:?}",
            started.elapsed()
        );
    }
}
