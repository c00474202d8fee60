//! Compact JWS (RFC 7515 §7.1): the framing every token profile shares, and the one signature
//! seam. A profile (ASAP's [`Verifier`](crate::Verifier), Connect's authenticator, …) parses a
//! token with [`Jws::parse`], decides which `alg` it accepts, types the claims with
//! [`Jws::decode_claims`] (a [`RegisteredClaims`]), and checks the signature through a
//! [`VerifyingKey`]: a [`PublicKey`] for the asymmetric algorithms, an
//! [`HmacKey`](crate::HmacKey) for HS256.
//!
//! ```
//! use asap_core::*;
//!
//! // A profile whose tokens are RS512-signed and carry no kid (the key is known by other means).
//! fn verify(token: &str, key: &PublicKey) -> Result<RegisteredClaims, TokenError> {
//!     let jws = Jws::parse(token, DEFAULT_MAX_TOKEN_BYTES)?;
//!     jws.header().require_alg("RS512")?;
//!     let claims = jws.decode_claims()?;
//!     jws.signature()?.verify(key, Algorithm::RS512)?;
//!     Ok(claims)
//! }
//!
//! let private = PrivateKey::generate(KeySpec::Rsa(2048))?;
//! let token = encode_compact(br#"{"alg":"RS512"}"#, br#"{"username":"ann"}"#, |input| {
//!     private.sign(Algorithm::RS512, input)
//! })?;
//! let claims = verify(&token, &private.public_key()?)?;
//! assert_eq!(claims.extra["username"], "ann");
//! assert!(matches!(verify("a.b", &private.public_key()?), Err(TokenError::Malformed(_))));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::fmt;

use crate::algorithm::{Algorithm, truncate};
use crate::claims::RegisteredClaims;
use crate::error::{AlgorithmError, TokenError};
use crate::json::{FieldValue, TypedClaims, WalkError, walk_object};
use crate::keys::PublicKey;

/// The largest token accepted by default, in bytes (8 KiB).
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Header parameters whose presence alone refuses a token, in every profile:
///
/// - `jku`, `x5u`, `jwk`, `x5c` would let the token name its own key;
/// - `crit` demands extensions we do not implement (RFC 7515 §4.1.11: refuse what you do not
///   understand);
/// - `b64` (RFC 7797: `false` signs the payload unencoded), `zip` (a compressed payload) and
///   `enc` (a JWE, not a JWS) change what the signature covers or what the payload means; a
///   verifier that ignored them would check the signature over other bytes than the claims it
///   reads.
pub const FORBIDDEN_HEADERS: [&str; 8] = ["crit", "jku", "x5u", "jwk", "x5c", "b64", "zip", "enc"];

/// Size: checked before anything is parsed, so a huge token costs one comparison.
fn check_size(token: &str, max: usize) -> Result<(), TokenError> {
    if token.len() > max {
        return Err(TokenError::TooLarge {
            len: token.len(),
            max,
        });
    }
    Ok(())
}

/// The three segments of a compact JWS, undecoded. No `Debug`: together they are a bearer
/// token (see [`Jws`]'s).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Segments<'t> {
    header: &'t str,
    payload: &'t str,
    signing_input: &'t str,
    signature: &'t str,
}

/// Framing: exactly three segments separated by `.`.
fn split_segments(token: &str) -> Result<Segments<'_>, TokenError> {
    let mut dots = token.match_indices('.').map(|(i, _)| i);
    let (Some(first), Some(second), None) = (dots.next(), dots.next(), dots.next()) else {
        return Err(TokenError::Malformed(
            "a token has exactly three segments separated by '.'",
        ));
    };
    Ok(Segments {
        header: &token[..first],
        payload: &token[first + 1..second],
        signing_input: &token[..second],
        signature: &token[second + 1..],
    })
}

/// Framing: a non-empty segment of base64url without padding, canonical (no stray trailing
/// bits), so that one token has exactly one spelling.
fn decode_segment(segment: &str, what: &'static str) -> Result<Vec<u8>, TokenError> {
    let mut out = vec![0; b64url::decoded_len(segment.len()).ok_or(TokenError::Malformed(what))?];
    decode_segment_into(segment, &mut out, what)?;
    Ok(out)
}

/// [`decode_segment`] into `out`, which is exactly [`b64url::decoded_len`] long.
fn decode_segment_into(segment: &str, out: &mut [u8], what: &'static str) -> Result<(), TokenError> {
    if segment.is_empty() || !b64url::decode_into(segment.as_bytes(), out) {
        return Err(TokenError::Malformed(what));
    }
    Ok(())
}

/// Base64url without padding (RFC 7515 §2), strict: canonical spellings only. Written out here
/// rather than taken from the `base64` crate because every token is decoded (three segments)
/// or encoded (two) on the hot path, and a table walk over whole 4-character groups costs half
/// the instructions of the general engine.
pub(crate) mod b64url {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    /// Not a base64url character.
    const INVALID: u8 = 0xff;
    #[allow(clippy::cast_possible_truncation)] // i < 64
    const DECODE: [u8; 256] = {
        let mut table = [INVALID; 256];
        let mut i = 0;
        while i < 64 {
            table[ALPHABET[i] as usize] = i as u8;
            i += 1;
        }
        table
    };

    /// `DECODE` per position in a group of four, shifted into place (`SHIFTED[k][c]` is
    /// `c`'s sextet at bits `18 - 6k`), so that a group decodes by four lookups and three ORs;
    /// an invalid character sets bit 31, above the group's 24 bits.
    const SHIFTED: [[u32; 256]; 4] = {
        let mut tables = [[0u32; 256]; 4];
        let mut k = 0;
        while k < 4 {
            let mut c = 0;
            while c < 256 {
                tables[k][c] = match DECODE[c] {
                    INVALID => 1 << 31,
                    sextet => (sextet as u32) << (18 - 6 * k),
                };
                c += 1;
            }
            k += 1;
        }
        tables
    };

    /// A group of four characters as 24 bits, or bit 31 set for an invalid character.
    fn group(chars: &[u8]) -> u32 {
        match *chars {
            [a, b, c, d] => {
                SHIFTED[0][usize::from(a)]
                    | SHIFTED[1][usize::from(b)]
                    | SHIFTED[2][usize::from(c)]
                    | SHIFTED[3][usize::from(d)]
            }
            _ => 1 << 31,
        }
    }

    /// The decoded length of `len` base64url characters; `None` for a length no unpadded
    /// encoding has (one character past a group of four).
    pub(crate) fn decoded_len(len: usize) -> Option<usize> {
        match len % 4 {
            1 => None,
            rem => Some(len / 4 * 3 + rem.saturating_sub(1)),
        }
    }

    /// Decodes `input` into `out` (exactly [`decoded_len`] bytes); false for a character outside
    /// the alphabet or a non-canonical last character (bits set past the last byte).
    pub(crate) fn decode_into(input: &[u8], out: &mut [u8]) -> bool {
        if decoded_len(input.len()) != Some(out.len()) {
            return false;
        }
        // Two groups (six bytes) at a time, stored as one eight-byte word while eight bytes of
        // room remain: its last two bytes are overwritten by what comes next.
        let (mut read, mut written) = (0, 0);
        while let (Some(chars), Some(bytes)) = (input.get(read..read + 8), out.get_mut(written..written + 8))
        {
            let (first, second) = (group(&chars[..4]), group(&chars[4..]));
            if (first | second) & 1 << 31 != 0 {
                return false;
            }
            bytes.copy_from_slice(&(u64::from(first) << 40 | u64::from(second) << 16).to_be_bytes());
            read += 8;
            written += 6;
        }
        let (input, out) = (&input[read..], &mut out[written..]);
        let groups = input.chunks_exact(4);
        let tail = groups.remainder();
        let mut out_groups = out.chunks_exact_mut(3);
        for (chars, bytes) in groups.zip(&mut out_groups) {
            let n = group(chars);
            if n & 1 << 31 != 0 {
                return false;
            }
            if let [x, y, z] = bytes {
                let [_, a, b, c] = n.to_be_bytes();
                [*x, *y, *z] = [a, b, c];
            }
        }
        let rest = out_groups.into_remainder();
        match (tail, rest) {
            ([], []) => true,
            (&[a, b], [x]) => {
                let [a, b] = [DECODE[usize::from(a)], DECODE[usize::from(b)]];
                // The last character carries 2 bits of the byte; its low 4 must be zero.
                if (a | b) & 0x80 != 0 || b & 0x0f != 0 {
                    return false;
                }
                *x = a << 2 | b >> 4;
                true
            }
            (&[a, b, c], [x, y]) => {
                let [a, b, c] = [
                    DECODE[usize::from(a)],
                    DECODE[usize::from(b)],
                    DECODE[usize::from(c)],
                ];
                if (a | b | c) & 0x80 != 0 || c & 0x03 != 0 {
                    return false;
                }
                *x = a << 2 | b >> 4;
                *y = (b & 0x0f) << 4 | c >> 2;
                true
            }
            _ => false,
        }
    }

    /// Every pair of base64url characters, by the 12 bits they encode, as the little-endian
    /// `u16` of the two (first character in the low byte), so that six bytes encode by four
    /// lookups and one eight-byte store.
    #[allow(clippy::cast_possible_truncation)] // i < 4096
    const PAIRS: [u16; 4096] = {
        let mut table = [0u16; 4096];
        let mut i = 0;
        while i < 4096 {
            table[i] = u16::from_le_bytes([ALPHABET[i >> 6], ALPHABET[i & 0x3f]]);
            i += 1;
        }
        table
    };

    /// The length of the unpadded base64url encoding of `len` bytes.
    pub(crate) fn encoded_len(len: usize) -> usize {
        len / 3 * 4
            + match len % 3 {
                0 => 0,
                rem => rem + 1,
            }
    }

    /// Writes the unpadded base64url encoding of `input` into `out`, which is exactly
    /// [`encoded_len`] bytes long (shorter: the encoding is cut short; longer: the rest is left
    /// as it was).
    pub(crate) fn encode_to_slice(input: &[u8], out: &mut [u8]) {
        // Six bytes (eight characters) at a time, read as one big-endian word (eight bytes
        // read, the first six used) while eight remain to be read.
        let (mut read, mut written) = (0, 0);
        while let (Some(word), Some(chars)) = (input.get(read..read + 8), out.get_mut(written..written + 8)) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(word);
            let n = u64::from_be_bytes(bytes) >> 16;
            #[allow(clippy::cast_possible_truncation)] // masked to 12 bits
            let pair = |shift: u32| u64::from(PAIRS[(n >> shift & 0xfff) as usize]);
            let chars8 = pair(36) | pair(24) << 16 | pair(12) << 32 | pair(0) << 48;
            chars.copy_from_slice(&chars8.to_le_bytes());
            read += 6;
            written += 8;
        }
        let (input, out) = (&input[read..], &mut out[written..]);
        let mut groups = input.chunks_exact(3);
        let mut out_groups = out.chunks_exact_mut(4);
        for (group, chars) in (&mut groups).zip(&mut out_groups) {
            let n = usize::from(group[0]) << 16 | usize::from(group[1]) << 8 | usize::from(group[2]);
            chars.copy_from_slice(
                &(u32::from(PAIRS[n >> 12]) | u32::from(PAIRS[n & 0xfff]) << 16).to_le_bytes(),
            );
        }
        let tail = groups.remainder();
        let sextet = |n: usize, shift: u32| ALPHABET[n >> shift & 0x3f];
        match (tail, out_groups.into_remainder()) {
            (&[x], [a, b, ..]) => {
                let n = usize::from(x) << 16;
                [*a, *b] = [sextet(n, 18), sextet(n, 12)];
            }
            (&[x, y], [a, b, c, ..]) => {
                let n = usize::from(x) << 16 | usize::from(y) << 8;
                [*a, *b, *c] = [sextet(n, 18), sextet(n, 12), sextet(n, 6)];
            }
            _ => {}
        }
    }

    /// Appends the unpadded base64url encoding of `input` to `out`.
    pub(crate) fn encode_into(input: &[u8], out: &mut String) {
        out.reserve(encoded_len(input.len()));
        // Through a stack buffer, a whole number of groups at a time.
        let mut ascii = [0u8; 256];
        for chunk in input.chunks(192) {
            let ascii = &mut ascii[..encoded_len(chunk.len())];
            encode_to_slice(chunk, ascii);
            // Only alphabet characters were written: always ASCII.
            out.push_str(std::str::from_utf8(ascii).unwrap_or_default());
        }
    }

    /// Appends the unpadded base64url encoding of `input` to `out`, written in place.
    pub(crate) fn encode_onto<const N: usize>(input: &[u8], out: &mut super::StackBuf<N>) {
        encode_to_slice(input, out.extend_zeroed(encoded_len(input.len())));
    }
}

/// Bytes built on the stack while they fit in `N`, moved to the heap when they outgrow it: a
/// signer builds the claims JSON and the token in two of these, so that the token's own
/// allocation is the only one.
pub(crate) struct StackBuf<const N: usize> {
    stack: [u8; N],
    len: usize,
    /// Everything written so far, once it outgrew `stack`.
    heap: Option<Vec<u8>>,
}

impl<const N: usize> StackBuf<N> {
    pub(crate) fn new() -> StackBuf<N> {
        StackBuf {
            stack: [0; N],
            len: 0,
            heap: None,
        }
    }

    /// What was written.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match &self.heap {
            Some(heap) => heap,
            None => &self.stack[..self.len],
        }
    }

    /// Appends `bytes`.
    #[inline]
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if let (None, Some(room)) = (&self.heap, self.stack.get_mut(self.len..self.len + bytes.len())) {
            room.copy_from_slice(bytes);
            self.len += bytes.len();
        } else {
            self.extend_zeroed(bytes.len()).copy_from_slice(bytes);
        }
    }

    /// Appends `n` zeros and returns them, to be written in place.
    pub(crate) fn extend_zeroed(&mut self, n: usize) -> &mut [u8] {
        let start = self.len;
        if self.heap.is_none() && n <= N - start {
            self.len += n;
            // Never written before: still zero.
            return &mut self.stack[start..start + n];
        }
        let heap = self.heap.get_or_insert_with(|| {
            let mut heap = Vec::with_capacity(2 * N + n);
            heap.extend_from_slice(&self.stack[..start]);
            heap
        });
        let start = heap.len();
        heap.resize(start + n, 0);
        &mut heap[start..]
    }
}

impl<const N: usize> std::io::Write for StackBuf<N> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.push(bytes);
        Ok(bytes.len())
    }

    #[inline]
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.push(bytes);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) fn walk_error(what: &'static str) -> impl Fn(WalkError<TokenError>) -> TokenError {
    move |e| match e {
        WalkError::NotAnObject => TokenError::Malformed(what),
        WalkError::Duplicate(key) => TokenError::DuplicateKey(key),
        WalkError::Field(e) => e,
        // Only a typed walk refuses a typed field, and it maps that refusal itself
        // (`RegisteredClaims::decode_with`).
        WalkError::Refused { field, .. } => TokenError::InvalidClaim {
            claim: field,
            reason: "is not of its documented type",
        },
    }
}

/// The header of a compact JWS: one JSON object without repeated keys, none of the
/// [`FORBIDDEN_HEADERS`], `alg` a string, `kid` a string when present. Other parameters (`typ`,
/// `cty`) are read past.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwsHeader {
    alg: Cow<'static, str>,
    kid: Option<String>,
}

impl JwsHeader {
    fn decode(json: &[u8]) -> Result<JwsHeader, TokenError> {
        let (mut alg, mut kid) = (None, None);
        walk_object(json, |name, value| {
            if let Some(forbidden) = FORBIDDEN_HEADERS.into_iter().find(|h| *h == name) {
                return Err(TokenError::ForbiddenHeader(forbidden));
            }
            match &*name {
                "alg" => alg = Some(value),
                "kid" => kid = Some(value),
                _ => {}
            }
            Ok(())
        })
        .map_err(walk_error("header is not a JSON object"))?;
        let Some(alg) = alg.as_ref().and_then(FieldValue::as_str) else {
            return Err(TokenError::MissingHeader("alg"));
        };
        let kid = match kid {
            None => None,
            Some(kid) => Some(kid.as_str().ok_or(TokenError::MissingHeader("kid"))?.to_owned()),
        };
        Ok(JwsHeader {
            // The algorithms this workspace knows by their static names, without an allocation.
            alg: Algorithm::ALL
                .iter()
                .map(|a| a.as_str())
                .chain(["HS256"])
                .find(|known| *known == alg)
                .map_or_else(|| Cow::Owned(alg.to_owned()), Cow::Borrowed),
            kid,
        })
    }

    /// The `alg` parameter, as sent. Which values a token may carry is its profile's rule.
    pub fn alg(&self) -> &str {
        &self.alg
    }

    /// The `kid` parameter, when present.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The `kid` parameter of a profile that requires one.
    pub fn require_kid(&self) -> Result<&str, TokenError> {
        self.kid().ok_or(TokenError::MissingHeader("kid"))
    }

    /// The alg rule of a profile that accepts exactly one algorithm: `alg` is `expected`,
    /// case-sensitively (RFC 7515); `none` and everything else is refused.
    ///
    /// ```
    /// # use asap_core::*;
    /// let jws = Jws::parse("eyJhbGciOiJub25lIn0.e30.AA", DEFAULT_MAX_TOKEN_BYTES)?; // {"alg":"none"}
    /// assert!(matches!(
    ///     jws.header().require_alg("HS256"),
    ///     Err(TokenError::Algorithm(AlgorithmError::NotAccepted { .. }))
    /// ));
    /// # Ok::<(), TokenError>(())
    /// ```
    pub fn require_alg(&self, expected: &'static str) -> Result<(), TokenError> {
        if self.alg == expected {
            Ok(())
        } else {
            Err(self.alg_not_accepted(expected))
        }
    }

    /// The error for an `alg` this profile does not accept, naming what it does accept.
    pub fn alg_not_accepted(&self, expected: &'static str) -> TokenError {
        TokenError::Algorithm(AlgorithmError::NotAccepted {
            found: truncate(&self.alg),
            expected,
        })
    }
}

/// A compact JWS that passed the framing rules, nothing verified yet: the size limit (checked
/// before anything else), three segments, and a strict [`JwsHeader`]. The payload and the
/// signature are decoded on demand, in the order the profile checks its rules, so that the
/// cheapest refusal comes first.
///
/// Its `Debug` shows the header and the segments' lengths, never the segments: a token in a
/// log line could be sent again.
pub struct Jws<'t> {
    header: JwsHeader,
    segments: Segments<'t>,
}

impl fmt::Debug for Jws<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jws")
            .field("header", &self.header)
            .field("payload_len", &self.segments.payload.len())
            .field("signature_len", &self.segments.signature.len())
            .finish_non_exhaustive()
    }
}

impl<'t> Jws<'t> {
    /// Applies the framing rules: `token` at most `max_bytes` long, exactly three `.`-separated
    /// segments, the header canonical base64url of a [`JwsHeader`].
    pub fn parse(token: &'t str, max_bytes: usize) -> Result<Jws<'t>, TokenError> {
        check_size(token, max_bytes)?;
        let segments = split_segments(token)?;
        const NOT_BASE64: &str = "header is not base64url";
        let len = b64url::decoded_len(segments.header.len()).ok_or(TokenError::Malformed(NOT_BASE64))?;
        // Headers are small: decoded on the stack, with no allocation, when they fit (a buffer
        // no larger than a usual header: zeroing it is part of every verification).
        let mut small = [0u8; 128];
        let mut large = Vec::new();
        let header = match small.get_mut(..len) {
            Some(buf) => buf,
            None => {
                large.resize(len, 0);
                &mut large[..]
            }
        };
        decode_segment_into(segments.header, header, NOT_BASE64)?;
        Ok(Jws {
            header: JwsHeader::decode(header)?,
            segments,
        })
    }

    /// The header.
    pub fn header(&self) -> &JwsHeader {
        &self.header
    }

    /// The payload (the claims JSON), decoded from canonical base64url into a `Vec`: for a
    /// caller that needs the bytes themselves. A verifier types the claims with
    /// [`Jws::decode_claims`] instead, which keeps the bytes off the heap.
    pub fn payload(&self) -> Result<Vec<u8>, TokenError> {
        decode_segment(self.segments.payload, "claims are not base64url")
    }

    /// The claims typed as [`RegisteredClaims`]: the payload decoded from canonical base64url
    /// into a stack buffer (no allocation for a claims set of up to 512 bytes, as most are),
    /// then walked once by [`RegisteredClaims::decode`]. The same errors and the same claims
    /// as `RegisteredClaims::decode(&jws.payload()?)`, for less work: what every profile's
    /// verifier calls on every token.
    ///
    /// ```
    /// use asap_core::*;
    /// // {"alg":"HS256"} . {"iss":"ann","iat":1,"exp":2,"qsh":"h"} . (unchecked here)
    /// let jws = Jws::parse(
    ///     "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJhbm4iLCJpYXQiOjEsImV4cCI6MiwicXNoIjoiaCJ9.AA",
    ///     DEFAULT_MAX_TOKEN_BYTES,
    /// )?;
    /// let mut claims = jws.decode_claims()?;
    /// assert_eq!((claims.iss.as_deref(), claims.iat, claims.exp), (Some("ann"), Some(1), Some(2)));
    /// assert_eq!(claims.take_string("qsh")?.as_deref(), Some("h"));
    /// assert_eq!(claims, RegisteredClaims::decode(br#"{"iss":"ann","iat":1,"exp":2}"#)?);
    ///
    /// // {"alg":"HS256"} . {"exp":1.5}
    /// let jws = Jws::parse("eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjEuNX0.AA", DEFAULT_MAX_TOKEN_BYTES)?;
    /// assert!(matches!(jws.decode_claims(), Err(TokenError::InvalidClaim { claim: "exp", .. })));
    /// # Ok::<(), TokenError>(())
    /// ```
    pub fn decode_claims(&self) -> Result<RegisteredClaims, TokenError> {
        self.with_payload(RegisteredClaims::decode)
    }

    /// [`Jws::decode_claims`], with the profile's own claims typed by `typed` straight from the
    /// text ([`RegisteredClaims::decode_with`]): what a profile whose claims nest calls, so that
    /// they never become JSON values first.
    pub fn decode_claims_with<T: TypedClaims>(&self, typed: &mut T) -> Result<RegisteredClaims, T::Error> {
        self.with_payload(|payload| Ok(RegisteredClaims::decode_with(payload, typed)))?
    }

    /// [`Jws::payload`] handed to `f` without allocating when it is small (up to 512 bytes).
    fn with_payload<T>(&self, f: impl FnOnce(&[u8]) -> Result<T, TokenError>) -> Result<T, TokenError> {
        const NOT_BASE64: &str = "claims are not base64url";
        let segment = self.segments.payload;
        let len = b64url::decoded_len(segment.len()).ok_or(TokenError::Malformed(NOT_BASE64))?;
        let mut small = [0u8; 512];
        let mut large = Vec::new();
        let payload = match small.get_mut(..len) {
            Some(buf) => buf,
            None => {
                large.resize(len, 0);
                &mut large[..]
            }
        };
        decode_segment_into(segment, payload, NOT_BASE64)?;
        f(payload)
    }

    /// The signature, decoded from canonical base64url, with the signing input it covers.
    pub fn signature(&self) -> Result<JwsSignature<'t>, TokenError> {
        const NOT_BASE64: &str = "signature is not base64url";
        let segment = self.segments.signature;
        let len = b64url::decoded_len(segment.len()).ok_or(TokenError::Malformed(NOT_BASE64))?;
        let mut bytes = SignatureBytes::Inline([0; MAX_INLINE_SIGNATURE], len);
        if len > MAX_INLINE_SIGNATURE {
            bytes = SignatureBytes::Heap(vec![0; len]);
        }
        decode_segment_into(segment, bytes.as_mut(), NOT_BASE64)?;
        Ok(JwsSignature {
            signing_input: self.segments.signing_input,
            signature: bytes,
        })
    }
}

/// The largest signature kept inline (RSA-4096: 512 bytes; every curve's is smaller), so that
/// verifying allocates nothing for it; a longer one (RSA-8192, or garbage that no key accepts)
/// decodes on the heap.
const MAX_INLINE_SIGNATURE: usize = 512;

#[allow(clippy::large_enum_variant)] // inline on purpose: no allocation per token
enum SignatureBytes {
    Inline([u8; MAX_INLINE_SIGNATURE], usize),
    Heap(Vec<u8>),
}

impl SignatureBytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            SignatureBytes::Inline(buf, len) => &buf[..*len],
            SignatureBytes::Heap(v) => v,
        }
    }

    fn as_mut(&mut self) -> &mut [u8] {
        match self {
            SignatureBytes::Inline(buf, len) => &mut buf[..*len],
            SignatureBytes::Heap(v) => v,
        }
    }
}

/// A JWS signature and the signing input (`header.payload`) it covers.
pub struct JwsSignature<'t> {
    signing_input: &'t str,
    signature: SignatureBytes,
}

impl JwsSignature<'_> {
    /// Checks the signature with `key` for `alg`, through the [`VerifyingKey`] seam.
    pub fn verify<K: VerifyingKey + ?Sized>(&self, key: &K, alg: K::Algorithm) -> Result<(), TokenError> {
        key.verify_signature(alg, self.signing_input.as_bytes(), self.signature.as_ref())
    }

    /// The signing input, `header.payload` exactly as sent: what the signature covers, so two
    /// tokens with the same signing input carry the same claims whatever their signatures.
    pub fn signing_input(&self) -> &str {
        self.signing_input
    }
}

impl fmt::Debug for JwsSignature<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwsSignature")
            .field("len", &self.signature.as_ref().len())
            .finish_non_exhaustive()
    }
}

/// The one signature seam: every token signature, in every profile, is checked by an
/// implementation of this trait. The algorithm type says what a key can be asked for, so a
/// profile cannot confuse them: a [`PublicKey`] takes an [`Algorithm`] (which cannot name
/// HS256 or `none`), an [`HmacKey`](crate::HmacKey) an [`HmacAlgorithm`](crate::HmacAlgorithm).
///
/// A profile whose tokens name no key (a central issuer with a few current keys) checks one
/// [`JwsSignature`] against each key in turn and accepts the first that verifies.
pub trait VerifyingKey {
    /// The algorithms this kind of key verifies.
    type Algorithm: Copy;

    /// Checks that `signature` is a valid `alg` signature of `message` under this key.
    fn verify_signature(
        &self,
        alg: Self::Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), TokenError>;
}

impl VerifyingKey for PublicKey {
    type Algorithm = Algorithm;

    fn verify_signature(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> Result<(), TokenError> {
        self.verify(alg, message, signature)
    }
}

/// Builds a compact JWS from the header and claims JSON: `sign` receives the signing input
/// (`base64url(header).base64url(claims)`) and returns the signature bytes.
pub fn encode_compact<E>(
    header: &[u8],
    claims: &[u8],
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<String, E> {
    let mut token = String::with_capacity((header.len() + claims.len()) * 4 / 3 + 128);
    b64url::encode_into(header, &mut token);
    token.push('.');
    b64url::encode_into(claims, &mut token);
    let signature = sign(token.as_bytes())?;
    token.push('.');
    b64url::encode_into(&signature, &mut token);
    Ok(token)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn b64url_agrees_with_the_base64_crate_on_every_length_and_refuses_what_it_refuses() {
        // Every length 0..=70 over varied bytes: our encoding is the crate's, and decodes back.
        for len in 0..=70usize {
            let bytes: Vec<u8> = (0..len)
                .map(|i| ((i * 37 + len * 11) % 256).to_le_bytes()[0])
                .collect();
            let mut ours = String::new();
            b64url::encode_into(&bytes, &mut ours);
            assert_eq!(ours, URL_SAFE_NO_PAD.encode(&bytes), "len {len}");
            assert_eq!(
                decode_segment(&ours, "x").ok(),
                (len > 0).then_some(bytes),
                "len {len}"
            );
        }
        // Every one- to three-character tail, canonical or not, valid character or not: we
        // accept exactly what the strict crate accepts.
        let alphabet: Vec<char> = ('\0'..='\u{7f}').collect();
        for a in &alphabet {
            for b in ['A', 'B', 'Q', 'g', '_', '-', '=', '+', '/'] {
                for c in ["", "A", "B", "C", "E", "w", "=", "."] {
                    // In the tail, and inside a full group.
                    for segment in [format!("AAAA{a}{b}{c}"), format!("AAA{a}AAAAAAAA{b}{c}")] {
                        assert_eq!(
                            decode_segment(&segment, "x").ok(),
                            URL_SAFE_NO_PAD.decode(&segment).ok(),
                            "{segment:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn b64url_encodes_in_place_on_and_off_the_stack_as_the_base64_crate_does() {
        // Lengths around the stack buffer's size and the string encoder's 192-byte chunks.
        for len in [0, 1, 2, 3, 47, 48, 49, 191, 192, 193, 383, 384, 385, 1000] {
            let bytes: Vec<u8> = (0..len)
                .map(|i| ((i * 131 + 7) % 256_usize).to_le_bytes()[0])
                .collect();
            let mut buf = StackBuf::<64>::new();
            buf.push(b"h.");
            b64url::encode_onto(&bytes, &mut buf);
            buf.push(b".");
            assert_eq!(
                String::from_utf8_lossy(buf.as_bytes()),
                format!("h.{}.", URL_SAFE_NO_PAD.encode(&bytes)),
                "len {len}"
            );
            let mut string = String::from("h.");
            b64url::encode_into(&bytes, &mut string);
            assert_eq!(
                string,
                format!("h.{}", URL_SAFE_NO_PAD.encode(&bytes)),
                "len {len}"
            );
            assert_eq!(b64url::encoded_len(len), URL_SAFE_NO_PAD.encode(&bytes).len());
        }
    }

    #[test]
    fn a_stack_buffer_keeps_every_byte_when_it_moves_to_the_heap() {
        let mut buf = StackBuf::<8>::new();
        let mut expected = Vec::new();
        for piece in [&b"abc"[..], b"defgh", b"i", b"", b"jklmnopqrstuvwxyz0123456789"] {
            buf.push(piece);
            expected.extend_from_slice(piece);
            assert_eq!(buf.as_bytes(), expected);
        }
        std::io::Write::write_all(&mut buf, b"!").expect("never fails");
        expected.push(b'!');
        assert_eq!(buf.as_bytes(), expected);
    }

    #[test]
    fn signatures_longer_than_the_inline_buffer_still_decode() {
        let long = URL_SAFE_NO_PAD.encode([7u8; MAX_INLINE_SIGNATURE + 3]);
        let token = format!("{}.e30.{long}", URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#));
        let jws = Jws::parse(&token, 99_999).expect("parses");
        assert_eq!(
            jws.signature().expect("decodes").signature.as_ref(),
            [7u8; MAX_INLINE_SIGNATURE + 3]
        );
    }

    #[test]
    fn payloads_on_and_off_the_stack_decode_alike() {
        for len in [0, 10, 511, 512, 513, 5000] {
            let claims = json!({ "pad": "p".repeat(len) }).to_string();
            let token = format!(
                "{}.{}.AA",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#),
                URL_SAFE_NO_PAD.encode(&claims)
            );
            let jws = Jws::parse(&token, 99_999).expect("parses");
            let seen = jws.with_payload(|p| Ok(p.to_vec())).expect("decodes");
            assert_eq!(
                (seen.as_slice(), jws.payload().expect("decodes")),
                (claims.as_bytes(), claims.as_bytes().to_vec())
            );
        }
    }

    #[test]
    fn decode_claims_types_what_decoding_the_payload_types_and_refuses_what_it_refuses() {
        let mut payloads: Vec<String> = [
            r#"{"iss":"a","aud":["b","c"],"jti":"j","iat":1,"exp":2,"nbf":1,"sub":"s","qsh":"h"}"#,
            r#"{"iss":"a","context":{"user":{"accountId":"u"}},"n":-1,"f":1.5}"#,
            r#"{"exp":1.5}"#,
            r#"{"iss":""}"#,
            r#"{"aud":[]}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"a":{"b":1,"b":2}}"#,
            r#"[1]"#,
            r#"{"a":1} x"#,
            "",
        ]
        .map(str::to_owned)
        .into();
        payloads.extend(
            crate::json::tests::generated_strings(200, 7)
                .iter()
                .map(|s| format!("{{\"iss\":{},\"x\":[{}],\"iat\":1}}", json!(s), json!(s))),
        );
        payloads.push(json!({ "pad": "p".repeat(600), "iat": 1 }).to_string());
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#);
        let mut segments: Vec<String> = payloads.iter().map(|p| URL_SAFE_NO_PAD.encode(p)).collect();
        // Not base64url, and not canonical.
        segments.extend(["e30=", "e31", "e", "e3$0"].map(str::to_owned));
        for segment in segments {
            let token = format!("{header}.{segment}.AA");
            let jws = Jws::parse(&token, 99_999).expect("parses");
            let through_vec = jws.payload().and_then(|p| RegisteredClaims::decode(&p));
            assert_eq!(
                format!("{:?}", jws.decode_claims()),
                format!("{through_vec:?}"),
                "{segment}"
            );
        }
    }

    #[test]
    fn headers_longer_than_the_stack_buffer_still_parse() {
        let kid = "k".repeat(200);
        let token = format!(
            "{}.e30.AA",
            URL_SAFE_NO_PAD.encode(json!({"alg":"HS256","kid":kid}).to_string())
        );
        let jws = Jws::parse(&token, 99_999).expect("parses");
        assert_eq!(jws.header().kid(), Some(kid.as_str()));
    }

    fn header(v: &Value) -> Result<JwsHeader, TokenError> {
        JwsHeader::decode(v.to_string().as_bytes())
    }

    #[test]
    fn size_limit_is_inclusive_and_checked_before_parsing() {
        assert!(check_size(&"a".repeat(10), 10).is_ok());
        assert!(matches!(
            check_size(&"a".repeat(11), 10),
            Err(TokenError::TooLarge { len: 11, max: 10 })
        ));
        assert!(matches!(
            Jws::parse(&"x".repeat(100), 10),
            Err(TokenError::TooLarge { len: 100, max: 10 })
        ));
    }

    #[test]
    fn exactly_three_segments() {
        for bad in ["", "a", "a.b", "a.b.c.d", "....", "a.b.c."] {
            assert!(split_segments(bad).is_err(), "{bad}");
        }
        let s = split_segments("h.c.s").expect("three");
        assert_eq!(
            (s.header, s.payload, s.signing_input, s.signature),
            ("h", "c", "h.c", "s")
        );
    }

    #[test]
    fn base64_must_be_unpadded_url_safe_and_canonical() {
        assert!(decode_segment("e30", "x").is_ok());
        for bad in ["e30=", "e3+", "e3/", "e3 0", "", "e31"] {
            assert!(decode_segment(bad, "x").is_err(), "{bad}");
        }
    }

    #[test]
    fn forbidden_headers_are_refused() {
        for name in FORBIDDEN_HEADERS {
            let mut h = json!({"alg":"ES256","kid":"a/b"});
            h[name] = json!("x");
            assert!(matches!(header(&h), Err(TokenError::ForbiddenHeader(n)) if n == name));
        }
    }

    #[test]
    fn headers_that_change_what_is_signed_are_refused_whatever_their_value() {
        for (name, value) in [
            ("b64", json!(false)),
            ("b64", json!(true)),
            ("zip", json!("DEF")),
            ("enc", json!("A256GCM")),
        ] {
            let h = json!({"alg": "HS256", name: value});
            assert!(
                matches!(header(&h), Err(TokenError::ForbiddenHeader(n)) if n == name),
                "{name}: {value}"
            );
        }
    }

    #[test]
    fn header_needs_a_string_alg_and_a_string_kid_when_present() {
        for (h, missing) in [
            (json!({"kid":"a/b"}), "alg"),
            (json!({"alg":256,"kid":"a/b"}), "alg"),
            (json!({"alg":"ES256","kid":7}), "kid"),
        ] {
            assert!(matches!(header(&h), Err(TokenError::MissingHeader(m)) if m == missing));
        }
        let no_kid = header(&json!({"alg":"HS256","typ":"JWT"})).expect("kid is optional");
        assert_eq!((no_kid.alg(), no_kid.kid()), ("HS256", None));
        assert!(matches!(
            no_kid.require_kid(),
            Err(TokenError::MissingHeader("kid"))
        ));
    }

    #[test]
    fn header_is_strict_json() {
        assert!(matches!(
            JwsHeader::decode(br#"{"alg":"HS256","alg":"none"}"#),
            Err(TokenError::DuplicateKey(k)) if k == "alg"
        ));
        assert!(matches!(JwsHeader::decode(b"[]"), Err(TokenError::Malformed(_))));
    }

    #[test]
    fn escaped_header_strings_are_read_like_plain_ones() {
        // Escapes send the header through the general walker: the same values come out.
        let h = JwsHeader::decode(br#"{"alg":"ES\u0032\u0035\u0036","kid":"a\/b","typ":"J\u0057T"}"#)
            .expect("valid header");
        assert_eq!((h.alg(), h.kid()), ("ES256", Some("a/b")));
        let unknown = JwsHeader::decode(br#"{"alg":"X\u0059Z"}"#).expect("valid header");
        assert_eq!(unknown.alg(), "XYZ");
        assert!(matches!(
            JwsHeader::decode(br#"{"alg":"ES256","kid":{"k":1}}"#),
            Err(TokenError::MissingHeader("kid"))
        ));
    }

    #[test]
    fn require_alg_is_exact() {
        for alg in ["none", "hs256", "HS512", "RS256", "NONE"] {
            let h = header(&json!({ "alg": alg })).expect("header");
            assert!(
                matches!(
                    h.require_alg("HS256"),
                    Err(TokenError::Algorithm(AlgorithmError::NotAccepted { ref found, expected: "HS256" })) if found == alg
                ),
                "{alg}"
            );
        }
        assert!(
            header(&json!({"alg":"HS256"}))
                .expect("h")
                .require_alg("HS256")
                .is_ok()
        );
    }

    #[test]
    fn payload_and_signature_are_decoded_on_demand() {
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let token = format!("{}.!!.", b64(r#"{"alg":"HS256"}"#));
        let jws = Jws::parse(&token, 999).expect("header is fine");
        assert!(matches!(
            jws.payload(),
            Err(TokenError::Malformed("claims are not base64url"))
        ));
        assert!(matches!(
            jws.signature(),
            Err(TokenError::Malformed("signature is not base64url"))
        ));
    }

    #[test]
    fn encoded_tokens_parse_back() {
        let token =
            encode_compact(br#"{"alg":"X"}"#, b"{}", |input| Ok::<_, ()>(input.to_vec())).expect("encoded");
        let jws = Jws::parse(&token, 999).expect("parses");
        assert_eq!(jws.header().alg(), "X");
        assert_eq!(jws.payload().expect("payload"), b"{}");
        let signature = jws.signature().expect("signature");
        assert_eq!(signature.signature.as_ref(), signature.signing_input.as_bytes());
    }
}
