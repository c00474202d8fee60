//! The SSH wire encoding (RFC 4251 §5): big-endian `uint32`s and length-prefixed `string`s and
//! `mpint`s. The one reader of it, for public key blobs and private key files alike, and the
//! key fields both carry (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709 §4).

use super::SshCurve;

/// What is wrong with SSH wire data; the caller says which document it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WireError {
    /// A length runs past the end of the data.
    #[error("truncated")]
    Truncated,
    /// A name that is not UTF-8.
    #[error("the {0} is not UTF-8")]
    NotUtf8(&'static str),
    /// An integer that must be positive is zero or negative.
    #[error("the {0} is not a positive integer")]
    NotPositive(&'static str),
    /// Bytes after the last field of a key blob.
    #[error("trailing bytes after the key")]
    Trailing,
    /// An EC key whose curve name is not the one its key type names.
    #[error("the curve name does not match the key type")]
    CurveMismatch,
    /// An EC point that is not an uncompressed point of the curve's width.
    #[error("the EC point is not an uncompressed point of the curve")]
    NotUncompressedPoint,
    /// An Ed25519 key that is not 32 bytes.
    #[error("an Ed25519 public key is 32 bytes")]
    Ed25519Length,
}

/// A cursor over SSH wire data.
pub(crate) struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Reader<'a> {
        Reader(data)
    }

    /// The next `n` raw bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.0.len() {
            return Err(WireError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, WireError> {
        let Some((head, rest)) = self.0.split_first_chunk::<4>() else {
            return Err(WireError::Truncated);
        };
        self.0 = rest;
        Ok(u32::from_be_bytes(*head))
    }

    pub(crate) fn string(&mut self) -> Result<&'a [u8], WireError> {
        let len = usize::try_from(self.u32()?).map_err(|_| WireError::Truncated)?;
        self.bytes(len)
    }

    /// A `string` holding a name (a key type, cipher, KDF or curve).
    pub(crate) fn text(&mut self, what: &'static str) -> Result<&'a str, WireError> {
        std::str::from_utf8(self.string()?).map_err(|_| WireError::NotUtf8(what))
    }

    /// An `mpint` that must be positive (every RSA component, an ECDSA scalar): its magnitude
    /// without leading zero bytes, never empty.
    pub(crate) fn positive(&mut self, what: &'static str) -> Result<&'a [u8], WireError> {
        let raw = self.string()?;
        if raw.first().is_some_and(|b| b & 0x80 != 0) {
            return Err(WireError::NotPositive(what));
        }
        let digits = &raw[raw.iter().take_while(|b| **b == 0).count()..];
        if digits.is_empty() {
            return Err(WireError::NotPositive(what));
        }
        Ok(digits)
    }

    /// The 32-byte Ed25519 public key field.
    pub(crate) fn ed25519_public(&mut self) -> Result<&'a [u8], WireError> {
        let public = self.string()?;
        if public.len() != 32 {
            return Err(WireError::Ed25519Length);
        }
        Ok(public)
    }

    /// The curve name and public point fields of an ECDSA key on `curve`; the point
    /// uncompressed (SEC 1 §2.3.3), as OpenSSH writes it.
    pub(crate) fn ec_public(&mut self, curve: &SshCurve) -> Result<&'a [u8], WireError> {
        if self.string()? != curve.name.as_bytes() {
            return Err(WireError::CurveMismatch);
        }
        let point = self.string()?;
        if point.len() != 1 + 2 * curve.scalar_len || point[0] != 0x04 {
            return Err(WireError::NotUncompressedPoint);
        }
        Ok(point)
    }

    /// Succeeds when nothing is left.
    pub(crate) fn finish(&self) -> Result<(), WireError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(WireError::Trailing)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_past_the_end_are_truncated_not_panics() {
        let mut r = Reader::new(&[0, 0, 0, 5, 1, 2]);
        assert_eq!(r.string(), Err(WireError::Truncated));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(r.string(), Err(WireError::Truncated));
        assert_eq!(Reader::new(&[0, 0]).u32(), Err(WireError::Truncated));
    }

    #[test]
    fn mpints_must_be_positive_and_lose_their_leading_zeros() {
        let mut r = Reader::new(&[0, 0, 0, 3, 0, 0x80, 1]);
        assert_eq!(r.positive("n"), Ok(&[0x80, 1][..]));
        for zero_or_negative in [&[0, 0, 0, 0][..], &[0, 0, 0, 2, 0, 0], &[0, 0, 0, 1, 0x80]] {
            assert_eq!(
                Reader::new(zero_or_negative).positive("n"),
                Err(WireError::NotPositive("n"))
            );
        }
    }

    #[test]
    fn trailing_bytes_are_reported() {
        let mut r = Reader::new(&[0, 0, 0, 0, 9]);
        r.string().expect("empty string");
        assert_eq!(r.finish(), Err(WireError::Trailing));
    }
}
