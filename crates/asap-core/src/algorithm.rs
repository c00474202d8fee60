//! The signature algorithms ASAP allows.

use std::fmt;
use std::str::FromStr;

use crate::error::AlgorithmError;

/// A JWS signature algorithm that ASAP accepts.
///
/// `HS*` (a shared secret would let every verifier forge tokens) and `none` are not representable:
/// [`Algorithm::from_str`] refuses them in any letter case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// ECDSA on P-521 with SHA-512.
    ES512,
    /// Ed25519. Accepted by a verifier only when enabled.
    EdDSA,
}

/// The kind of key an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyKind {
    /// An RSA key (at least 2048 bits).
    Rsa,
    /// An EC key on NIST P-256.
    P256,
    /// An EC key on NIST P-384.
    P384,
    /// An EC key on NIST P-521.
    P521,
    /// An Ed25519 key.
    Ed25519,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::Rsa => "RSA",
            KeyKind::P256 => "EC P-256",
            KeyKind::P384 => "EC P-384",
            KeyKind::P521 => "EC P-521",
            KeyKind::Ed25519 => "Ed25519",
        })
    }
}

impl Algorithm {
    /// Every algorithm, in a stable order.
    pub const ALL: [Algorithm; 10] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::EdDSA,
    ];

    /// The name used in the JWS `alg` header.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::ES512 => "ES512",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The kind of key this algorithm signs and verifies with. ES256 takes only P-256, and so on:
    /// a key of another kind is refused rather than used with a different curve or hash.
    pub const fn key_kind(self) -> KeyKind {
        match self {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => KeyKind::Rsa,
            Algorithm::ES256 => KeyKind::P256,
            Algorithm::ES384 => KeyKind::P384,
            Algorithm::ES512 => KeyKind::P521,
            Algorithm::EdDSA => KeyKind::Ed25519,
        }
    }

    /// The default algorithm for a key: RS256 for RSA, the curve's ES* for EC, EdDSA for Ed25519.
    pub const fn default_for(kind: KeyKind) -> Algorithm {
        match kind {
            KeyKind::Rsa => Algorithm::RS256,
            KeyKind::P256 => Algorithm::ES256,
            KeyKind::P384 => Algorithm::ES384,
            KeyKind::P521 => Algorithm::ES512,
            KeyKind::Ed25519 => Algorithm::EdDSA,
        }
    }

    /// The index of this algorithm in [`Algorithm::ALL`].
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = AlgorithmError;

    /// Parses an `alg` header value. Names are case-sensitive as in RFC 7515, so `rs256` is refused;
    /// `none` and `HS*` are refused whatever their case, with their own error.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(alg) = Algorithm::ALL.into_iter().find(|a| a.as_str() == s) {
            return Ok(alg);
        }
        let lower = s.to_ascii_lowercase();
        if lower == "none" || lower.starts_with("hs") {
            return Err(AlgorithmError::Forbidden(truncate(s)));
        }
        Err(AlgorithmError::Unknown(truncate(s)))
    }
}

/// Error messages quote attacker-controlled text: this keeps it to 64 bytes (on a character
/// boundary, with `…` when cut), so a hostile token cannot flood logs through an error.
pub fn truncate(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_round_trips_through_its_name() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.as_str().parse::<Algorithm>(), Ok(alg));
            assert_eq!(Algorithm::ALL[alg.index()], alg);
        }
    }

    #[test]
    fn none_and_hmac_are_forbidden_in_any_case() {
        for name in ["none", "None", "NONE", "nOnE", "HS256", "hs256", "Hs384", "HS512"] {
            assert!(
                matches!(name.parse::<Algorithm>(), Err(AlgorithmError::Forbidden(_))),
                "{name}"
            );
        }
    }

    #[test]
    fn names_are_case_sensitive_and_unknown_names_are_refused() {
        for name in ["rs256", "es256", "EDDSA", "RS1024", "", "ES256K"] {
            assert!(
                matches!(name.parse::<Algorithm>(), Err(AlgorithmError::Unknown(_))),
                "{name}"
            );
        }
    }

    #[test]
    fn key_kind_matches_curve() {
        assert_eq!(Algorithm::ES256.key_kind(), KeyKind::P256);
        assert_eq!(Algorithm::ES384.key_kind(), KeyKind::P384);
        assert_eq!(Algorithm::ES512.key_kind(), KeyKind::P521);
        assert_eq!(Algorithm::PS512.key_kind(), KeyKind::Rsa);
        for kind in [
            KeyKind::Rsa,
            KeyKind::P256,
            KeyKind::P384,
            KeyKind::P521,
            KeyKind::Ed25519,
        ] {
            assert_eq!(Algorithm::default_for(kind).key_kind(), kind);
        }
    }

    #[test]
    fn truncate_keeps_char_boundaries() {
        let long = "é".repeat(100);
        let t = truncate(&long);
        assert!(t.len() <= 64 + '…'.len_utf8());
    }
}
