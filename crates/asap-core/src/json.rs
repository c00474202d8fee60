//! Strict JSON: objects whose keys repeat, at any depth, are refused. Two parsers that disagree on
//! which duplicate wins (first or last) let one token mean two things; refusing both closes that.
//!
//! A profile whose claims nest (Forge's `app` and `context`) types them straight from the text
//! with [`TypedClaims`] and [`FromJsonObject`]: known members are matched on names borrowed from
//! the input, only the members it does not type become JSON values, and the same rules hold
//! inside (no repeated key at any depth, `null` counts as absent, unknown members kept).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::TokenError;

/// Parses `bytes` as one JSON object, refusing a key repeated at any depth. `Err(Some(key))`
/// for a duplicate key (shortened for messages), `Err(None)` for anything else that is not one
/// JSON object. Used for every JWS header and claims set in this workspace (ASAP and Connect).
///
/// ```
/// use asap_core::parse_json_object;
/// assert!(parse_json_object(br#"{"a":1}"#).is_ok());
/// assert_eq!(parse_json_object(br#"{"a":1,"a":2}"#), Err(Some("a".to_owned())));
/// assert_eq!(parse_json_object(b"[1]"), Err(None));
/// ```
pub fn parse_json_object(bytes: &[u8]) -> Result<Map<String, Value>, Option<String>> {
    let mut map = Map::new();
    walk_object(bytes, |key, value| {
        map.insert(key.into_owned(), value.into_value());
        Ok::<(), std::convert::Infallible>(())
    })
    .map_err(|e| match e {
        WalkError::Duplicate(key) => Some(key),
        WalkError::NotAnObject | WalkError::Field(_) | WalkError::Refused { .. } => None,
    })?;
    Ok(map)
}

/// Why [`walk_object`] stopped.
#[derive(Debug)]
pub(crate) enum WalkError<E> {
    /// Not one JSON object.
    NotAnObject,
    /// A key repeated (at any depth), shortened for messages.
    Duplicate(String),
    /// The field callback refused a field.
    Field(E),
    /// A field typed from the text ([`walk_object_typed`]) is not of its profile's type.
    Refused {
        /// The field.
        field: &'static str,
        /// The member and what is wrong with it, from [`Members`] or [`ClaimValue`].
        reason: String,
    },
}

/// Walks one JSON object field by field, refusing duplicate keys at any depth like
/// [`parse_json_object`], without building a map: keys are borrowed from the input where they
/// have no escapes, and each value is handed to `on_field` once, as a [`FieldValue`]. The
/// verifier uses this for every token, so it allocates only for the values it keeps.
pub(crate) fn walk_object<'de, E>(
    bytes: &'de [u8],
    on_field: impl FnMut(Cow<'de, str>, FieldValue<'de>) -> Result<(), E>,
) -> Result<(), WalkError<E>> {
    walk_object_typed(bytes, &mut Untyped, on_field)
}

/// [`walk_object`], with the fields named by [`T::NAMES`](TypedClaims::NAMES) handed to `typed`
/// instead of `on_field`, straight from the text (through the general walker, or as the value
/// the flat path read).
pub(crate) fn walk_object_typed<'de, E, T: TypedClaims>(
    bytes: &'de [u8],
    typed: &mut T,
    mut on_field: impl FnMut(Cow<'de, str>, FieldValue<'de>) -> Result<(), E>,
) -> Result<(), WalkError<E>> {
    let flat = if T::NAMES.is_empty() {
        // Nothing typed (the core's own headers and claims): the fields go to `on_field` as
        // they are, without the wrapping below.
        flat::walk(bytes, &mut on_field)
    } else {
        let mut field = |key: Cow<'de, str>, value: FieldValue<'de>| match typed_name::<T>(&key) {
            Some(name) => type_flat_field(typed, name, value.into_value()),
            None => on_field(key, value).map_err(WalkError::Field),
        };
        // The flat path itself answers only `Ok` or a refused field (here a `WalkError`).
        flat::walk(bytes, &mut field).map(|walked| {
            walked.map_err(|e| match e {
                WalkError::Field(e) => e,
                WalkError::NotAnObject => WalkError::NotAnObject,
                WalkError::Duplicate(key) => WalkError::Duplicate(key),
                WalkError::Refused { field, reason } => WalkError::Refused { field, reason },
            })
        })
    };
    if let Some(walked) = flat {
        return walked;
    }
    walk_object_general(bytes, typed, on_field)
}

/// The name in [`T::NAMES`](TypedClaims::NAMES) that `key` is, if any.
fn typed_name<T: TypedClaims>(key: &str) -> Option<&'static str> {
    T::NAMES.iter().copied().find(|name| *name == key)
}

/// A typed field the flat path read (a scalar or an array of scalars), typed from its value.
fn type_flat_field<E, T: TypedClaims>(
    typed: &mut T,
    name: &'static str,
    value: Value,
) -> Result<(), WalkError<E>> {
    let refusals = Refusals::default();
    let claim = ClaimValue {
        de: value,
        name,
        report: Report(Some(&refusals)),
    };
    let typed = typed.type_claim(name, claim);
    match refusals.into_error(name) {
        // Nothing refused on the way: the profile's own answer.
        WalkError::NotAnObject => typed.map_err(|_| WalkError::NotAnObject),
        refused => Err(refused),
    }
}

/// One field's value as [`walk_object`] hands it over: still borrowed from the input when the
/// flat path read it, so that a field the caller ignores (a header's `typ`), or reads as a
/// string without keeping it, costs no allocation.
pub(crate) struct FieldValue<'de>(FieldRepr<'de>);

enum FieldRepr<'de> {
    Flat(flat::Flat<'de>),
    Json(Value),
}

impl<'de> FieldValue<'de> {
    /// The value as JSON.
    pub(crate) fn into_value(self) -> Value {
        match self.0 {
            FieldRepr::Flat(flat) => flat::to_value(flat),
            FieldRepr::Json(value) => value,
        }
    }

    /// The value when it is a string.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.0 {
            FieldRepr::Flat(flat::Flat::Str(s)) => Some(s),
            FieldRepr::Json(Value::String(s)) => Some(s),
            FieldRepr::Flat(_) | FieldRepr::Json(_) => None,
        }
    }
}

/// [`walk_object_typed`] through serde_json: every input, whatever its shape.
fn walk_object_general<'de, E, T: TypedClaims>(
    bytes: &'de [u8],
    typed: &mut T,
    mut on_field: impl FnMut(Cow<'de, str>, FieldValue<'de>) -> Result<(), E>,
) -> Result<(), WalkError<E>> {
    let refusals = Refusals::default();
    let refused = RefCell::new(None);
    let walker = Walker {
        refusals: &refusals,
        refused: &refused,
        typed,
        on_field: |key, value| on_field(key, FieldValue(FieldRepr::Json(value))),
    };
    // UTF-8 checked once for the whole input, so that serde_json does not check each string
    // again (a Forge token has about 60). Input that is not UTF-8 is never one JSON object.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(WalkError::NotAnObject);
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let walked = de.deserialize_map(walker).and_then(|()| de.end());
    if let Some(e) = refused.into_inner() {
        return Err(e);
    }
    // A repeated key refuses the input whether or not serde_json's walk went on to fail.
    if let Some(key) = refusals.duplicate.into_inner() {
        return Err(WalkError::Duplicate(key));
    }
    walked.map_err(|_| WalkError::NotAnObject)
}

struct Walker<'a, E, T, F> {
    refusals: &'a Refusals,
    /// Why `on_field` or `typed` refused a field.
    refused: &'a RefCell<Option<WalkError<E>>>,
    typed: &'a mut T,
    on_field: F,
}

/// Objects this small are checked for repeated keys by a linear scan; larger ones by a set,
/// so that a token full of keys costs linear time, not quadratic.
const LINEAR_SCAN_KEYS: usize = 16;

impl<'de, E, T, F> Visitor<'de> for Walker<'_, E, T, F>
where
    T: TypedClaims,
    F: FnMut(Cow<'de, str>, Value) -> Result<(), E>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Walker {
            refusals,
            refused,
            typed,
            mut on_field,
        } = self;
        let report = Report(Some(refusals));
        let mut seen = SeenKeys::new();
        while let Some(key) = map.next_key_seed(BorrowedKey)? {
            if !seen.insert(key.clone()) {
                return Err(report.duplicate(&key));
            }
            if let Some(name) = typed_name::<T>(&key) {
                let claim = ClaimSeed {
                    typed: &mut *typed,
                    name,
                    report,
                };
                if let Err(e) = map.next_value_seed(claim) {
                    if let Some(reason) = refusals.refused.take() {
                        *refused.borrow_mut() = Some(WalkError::Refused { field: name, reason });
                    }
                    return Err(e);
                }
                continue;
            }
            let value = map.next_value_seed(StrictValue { report })?;
            if let Err(e) = on_field(key, value) {
                *refused.borrow_mut() = Some(WalkError::Field(e));
                return Err(de::Error::custom("field refused"));
            }
        }
        Ok(())
    }
}

/// The keys of one object seen so far: up to [`LINEAR_SCAN_KEYS`] in place (no allocation for
/// the objects of a token), then in a set.
struct SeenKeys<'de> {
    few: [Cow<'de, str>; LINEAR_SCAN_KEYS],
    len: usize,
    many: Option<HashSet<Cow<'de, str>>>,
}

impl<'de> SeenKeys<'de> {
    fn new() -> SeenKeys<'de> {
        SeenKeys {
            few: std::array::from_fn(|_| Cow::Borrowed("")),
            len: 0,
            many: None,
        }
    }

    /// Records `key` (a clone of a borrowed key costs nothing); `false` when it was seen before.
    fn insert(&mut self, key: Cow<'de, str>) -> bool {
        if self.len < LINEAR_SCAN_KEYS {
            if self.few[..self.len].contains(&key) {
                return false;
            }
            self.few[self.len] = key;
            self.len += 1;
            return true;
        }
        let few = &self.few;
        self.many
            .get_or_insert_with(|| few.iter().cloned().collect())
            .insert(key)
    }
}

/// The fast path of [`walk_object`], for the shape nearly every JWS header and claims set has:
/// one flat object of at most [`flat::MAX_FIELDS`] distinct keys whose values are strings
/// without escapes, non-negative integers of at most 18 digits, `true`, `false`, `null`, or
/// arrays of those. It accepts a strict subset of JSON and hands `on_field` exactly the fields
/// serde_json would, in the same order; anything else (an escape, a nested object, a fraction,
/// a negative number, a repeated key, malformed input) returns `None` before any field is
/// handed over, and the general walker decides. Tokens are parsed on every verification; this
/// path costs a third of the general one.
mod flat {
    use std::borrow::Cow;

    use serde_json::Value;

    use super::{FieldRepr, FieldValue, WalkError};

    /// More keys than this go the general way (its duplicate check scales).
    pub(super) const MAX_FIELDS: usize = 16;

    /// The bytes that end a plain string: its closing quote, or what this path does not take
    /// (an escape, or a control character, which JSON refuses unescaped).
    const STOPS_STRING: [bool; 256] = {
        let mut table = [false; 256];
        let mut b = 0;
        while b < 0x20 {
            table[b] = true;
            b += 1;
        }
        table[b'"' as usize] = true;
        table[b'\\' as usize] = true;
        table
    };

    #[derive(Clone, Copy)]
    pub(super) enum Flat<'de> {
        Str(&'de str),
        Int(u64),
        Bool(bool),
        Null,
        /// The text from `[` to `]`, already checked to hold only scalars.
        Array(&'de str),
    }

    struct Cursor<'de> {
        /// The whole input, checked to be UTF-8 once (cheaper than one check per string).
        text: &'de str,
        bytes: &'de [u8],
        at: usize,
    }

    impl<'de> Cursor<'de> {
        fn peek(&self) -> Option<u8> {
            self.bytes.get(self.at).copied()
        }

        fn skip_ws(&mut self) {
            while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
                self.at += 1;
            }
        }

        fn eat(&mut self, byte: u8) -> Option<()> {
            (self.peek()? == byte).then(|| self.at += 1)
        }

        /// A string without escapes or control characters, valid UTF-8.
        fn string(&mut self) -> Option<&'de str> {
            self.eat(b'"')?;
            let start = self.at;
            let len = self.bytes[start..]
                .iter()
                .position(|&b| STOPS_STRING[usize::from(b)])?;
            self.at = start + len;
            self.eat(b'"')?;
            // Both ends sit next to an ASCII quote, so they are character boundaries.
            self.text.get(start..start + len)
        }

        /// A JSON value that ends here: the next byte is whitespace, `,`, `}` or `]`.
        fn ends(&self) -> Option<()> {
            matches!(self.peek()?, b' ' | b'\t' | b'\n' | b'\r' | b',' | b'}' | b']').then_some(())
        }

        fn scalar(&mut self) -> Option<Flat<'de>> {
            let value = match self.peek()? {
                b'"' => return self.string().map(Flat::Str),
                b'0'..=b'9' => {
                    let start = self.at;
                    while let Some(b'0'..=b'9') = self.peek() {
                        self.at += 1;
                    }
                    let digits = &self.bytes[start..self.at];
                    // No leading zero (not JSON); 18 digits always fit a u64.
                    if digits.len() > 18 || (digits.len() > 1 && digits[0] == b'0') {
                        return None;
                    }
                    Flat::Int(digits.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
                }
                _ => {
                    let rest = &self.bytes[self.at..];
                    let (value, len) = if rest.starts_with(b"true") {
                        (Flat::Bool(true), 4)
                    } else if rest.starts_with(b"false") {
                        (Flat::Bool(false), 5)
                    } else if rest.starts_with(b"null") {
                        (Flat::Null, 4)
                    } else {
                        return None;
                    };
                    self.at += len;
                    value
                }
            };
            self.ends()?;
            Some(value)
        }

        fn value(&mut self) -> Option<Flat<'de>> {
            if self.peek()? != b'[' {
                return self.scalar();
            }
            let start = self.at;
            self.at += 1;
            self.skip_ws();
            if self.eat(b']').is_none() {
                loop {
                    self.scalar()?;
                    self.skip_ws();
                    if self.eat(b']').is_some() {
                        break;
                    }
                    self.eat(b',')?;
                    self.skip_ws();
                }
            }
            let array = self.text.get(start..self.at)?;
            self.ends()?;
            Some(Flat::Array(array))
        }
    }

    pub(super) fn to_value(flat: Flat<'_>) -> Value {
        match flat {
            Flat::Str(s) => Value::String(s.to_owned()),
            Flat::Int(n) => Value::Number(n.into()),
            Flat::Bool(b) => Value::Bool(b),
            Flat::Null => Value::Null,
            Flat::Array(text) => {
                let mut items = Vec::new();
                let mut c = Cursor {
                    text,
                    bytes: text.as_bytes(),
                    at: 1,
                };
                c.skip_ws();
                // Checked by `Cursor::value`: scalars separated by commas, then `]`.
                while let Some(item) = c.scalar() {
                    items.push(to_value(item));
                    c.skip_ws();
                    if c.eat(b',').is_none() {
                        break;
                    }
                    c.skip_ws();
                }
                Value::Array(items)
            }
        }
    }

    /// `Some` when `bytes` has the flat shape (then the walk's result), `None` otherwise.
    pub(super) fn walk<'de, E>(
        bytes: &'de [u8],
        on_field: &mut impl FnMut(Cow<'de, str>, FieldValue<'de>) -> Result<(), E>,
    ) -> Option<Result<(), WalkError<E>>> {
        let mut fields = [("", Flat::Null); MAX_FIELDS];
        let mut n = 0;
        // Not UTF-8 is never one JSON object: the general walker says so.
        let text = std::str::from_utf8(bytes).ok()?;
        let mut c = Cursor { text, bytes, at: 0 };
        c.skip_ws();
        c.eat(b'{')?;
        c.skip_ws();
        if c.eat(b'}').is_none() {
            loop {
                let key = c.string()?;
                c.skip_ws();
                c.eat(b':')?;
                c.skip_ws();
                let value = c.value()?;
                // First bytes before whole keys: registered names are all three bytes long,
                // so comparing lengths alone would leave every pair to memcmp.
                let seen = |k: &&str| k.as_bytes().first() == key.as_bytes().first() && *k == key;
                if n == MAX_FIELDS || fields[..n].iter().any(|(k, _)| seen(k)) {
                    return None;
                }
                fields[n] = (key, value);
                n += 1;
                c.skip_ws();
                if c.eat(b'}').is_some() {
                    break;
                }
                c.eat(b',')?;
                c.skip_ws();
            }
        }
        c.skip_ws();
        if c.at != bytes.len() {
            return None;
        }
        for &(key, value) in &fields[..n] {
            if let Err(e) = on_field(Cow::Borrowed(key), FieldValue(FieldRepr::Flat(value))) {
                return Some(Err(WalkError::Field(e)));
            }
        }
        Some(Ok(()))
    }
}

/// About how many heap bytes `map` holds, counted from above: what something that keeps parsed
/// JSON charges for it. Parsed JSON can hold far more than its text (`{"":0}`, six bytes, is a
/// map node of over 600), so a bound on text alone does not bound what is kept.
///
/// serde_json's `Map` is a `BTreeMap` here (no `preserve_order`; asserted below): a map of at
/// most 11 entries is one leaf node; a larger one has at most `1 + len / 5` nodes (every node
/// but the root holds at least 5), each counted at the size of an internal node. Strings and
/// arrays count their capacity, and every allocation what glibc's malloc takes for it.
pub(crate) fn heap_bytes(map: &Map<String, Value>) -> usize {
    const ENTRIES: usize = 11 * (size_of::<String>() + size_of::<Value>());
    const LEAF: usize = ENTRIES + 16;
    const INTERNAL: usize = LEAF + 12 * size_of::<usize>();
    let nodes = match map.len() {
        0 => 0,
        1..=11 => allocation(LEAF),
        len => (1 + len / 5) * allocation(INTERNAL),
    };
    map.iter().fold(nodes, |sum, (key, value)| {
        sum.saturating_add(allocation(key.capacity()))
            .saturating_add(value_heap_bytes(value))
    })
}

/// What an allocation of `bytes` takes from glibc's malloc (an 8-byte header, 16-byte
/// granules, 32 bytes at least); nothing for an empty string or array.
pub(crate) fn allocation(bytes: usize) -> usize {
    if bytes == 0 {
        0
    } else {
        bytes.saturating_add(8).next_multiple_of(16).max(32)
    }
}

fn value_heap_bytes(value: &Value) -> usize {
    match value {
        Value::String(s) => allocation(s.capacity()),
        Value::Array(items) => items
            .iter()
            .fold(allocation(items.capacity() * size_of::<Value>()), |sum, item| {
                sum.saturating_add(value_heap_bytes(item))
            }),
        Value::Object(map) => heap_bytes(map),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

// `heap_bytes` counts a `Map` as a `BTreeMap` and a `Number` as holding nothing on the heap:
// true unless some crate in the build turns on serde_json's `preserve_order` (an `IndexMap`)
// or `arbitrary_precision` (a number as its text), which would make it count too little.
const _: () = assert!(
    size_of::<Map<String, Value>>() == size_of::<std::collections::BTreeMap<String, Value>>()
        && size_of::<Number>() == 16,
    "serde_json's preserve_order or arbitrary_precision is on: json::heap_bytes must count them"
);

/// JSON written out the way `serde_json` writes it (compact, the same escapes, byte for byte),
/// for the claims a signer writes into every token: through serde they cost several times as
/// much. Anything beyond strings and integers still goes through `serde_json`. Public as
/// [`json_write`](crate::json_write) for the other profiles' signers (Connect).
pub mod write {
    use std::io::{self, Write};

    /// How `serde_json` escapes each byte: 0 not at all, `u` as `\u00XX`, any other byte `b`
    /// as `\` then `b`. Only `"`, `\` and the control characters below 0x20 are escaped; every
    /// other character, U+2028 and U+2029 included, is written as it is (valid JSON: escaping
    /// them is a JavaScript-embedding concern, not JSON's).
    const ESCAPE: [u8; 256] = {
        let mut table = [0u8; 256];
        let mut b = 0;
        while b < 0x20 {
            table[b] = b'u';
            b += 1;
        }
        table[0x08] = b'b';
        table[0x09] = b't';
        table[0x0a] = b'n';
        table[0x0c] = b'f';
        table[0x0d] = b'r';
        table[b'"' as usize] = b'"';
        table[b'\\' as usize] = b'\\';
        table
    };

    /// `s` as a JSON string, quotes included.
    ///
    /// ```
    /// let mut out = Vec::new();
    /// asap_core::json_write::string(&mut out, "a \"b\"\n").unwrap();
    /// assert_eq!(out, serde_json::to_vec("a \"b\"\n").unwrap());
    /// ```
    pub fn string(out: &mut impl Write, s: &str) -> io::Result<()> {
        out.write_all(b"\"")?;
        string_contents(out, s)?;
        out.write_all(b"\"")
    }

    /// `s` escaped for the inside of a JSON string, without the quotes (so that a caller can
    /// write them with the text around them).
    #[inline]
    pub(crate) fn string_contents(out: &mut impl Write, s: &str) -> io::Result<()> {
        let bytes = s.as_bytes();
        // The bytes `ESCAPE` marks, checked without a table or an early exit so that the
        // check vectorises: nearly every claim (an issuer, a kid, hex) has none.
        let plain = bytes
            .iter()
            .fold(true, |plain, &b| plain & !(b < 0x20 || b == b'"' || b == b'\\'));
        if plain {
            return out.write_all(bytes);
        }
        let first = bytes
            .iter()
            .position(|&b| ESCAPE[usize::from(b)] != 0)
            .unwrap_or(bytes.len());
        escaped(out, bytes, first)
    }

    /// The rest of [`string_contents`] from the first byte that needs an escape, out of line.
    #[cold]
    fn escaped(out: &mut impl Write, bytes: &[u8], first: usize) -> io::Result<()> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut run = 0;
        for (i, &b) in bytes.iter().enumerate().skip(first) {
            let escape = ESCAPE[usize::from(b)];
            if escape == 0 {
                continue;
            }
            out.write_all(&bytes[run..i])?;
            run = i + 1;
            match escape {
                b'u' => out.write_all(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ])?,
                other => out.write_all(&[b'\\', other])?,
            }
        }
        out.write_all(&bytes[run..])
    }

    /// `n` in decimal.
    #[inline]
    pub fn int(out: &mut impl Write, n: i64) -> io::Result<()> {
        /// "00" to "99".
        #[allow(clippy::cast_possible_truncation)] // digits < 10
        const PAIRS: [[u8; 2]; 100] = {
            let mut table = [[0u8; 2]; 100];
            let mut i = 0;
            while i < 100 {
                table[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
                i += 1;
            }
            table
        };
        // 20 digits and a sign: i64::MIN has 19.
        let mut text = [0u8; 21];
        let mut at = text.len();
        let mut rest = n.unsigned_abs();
        while rest >= 100 {
            at -= 2;
            #[allow(clippy::cast_possible_truncation)] // < 100
            let pair = PAIRS[(rest % 100) as usize];
            text[at..at + 2].copy_from_slice(&pair);
            rest /= 100;
        }
        #[allow(clippy::cast_possible_truncation)] // < 100
        let [tens, ones] = PAIRS[rest as usize];
        at -= 1;
        text[at] = ones;
        if rest >= 10 {
            at -= 1;
            text[at] = tens;
        }
        if n < 0 {
            at -= 1;
            text[at] = b'-';
        }
        out.write_all(&text[at..])
    }
}

/// A profile's own claims, typed straight from the claims' JSON text by
/// [`RegisteredClaims::decode_with`](crate::RegisteredClaims::decode_with) and
/// [`Jws::decode_claims_with`](crate::Jws::decode_claims_with): each claim in [`NAMES`](Self::NAMES)
/// is handed to [`type_claim`](Self::type_claim) as a [`ClaimValue`] instead of becoming a JSON
/// value in `extra`. The strict rules hold inside: a key repeated at any depth refuses the token
/// with [`TokenError::DuplicateKey`], `null` counts as absent, and the members a type does not
/// know are kept as JSON ([`Member::keep`]), never dropped and never refused.
///
/// ```
/// use asap_core::{ClaimValue, FromJsonObject, Members, RegisteredClaims, TokenError, TypedClaims};
/// use serde::de::{Deserializer, MapAccess};
///
/// /// The `tenant` claim: `{"id": "…", "region": "…", …}`.
/// struct Tenant { id: String, region: Option<String>, extra: serde_json::Map<String, serde_json::Value> }
///
/// impl FromJsonObject for Tenant {
///     fn from_members<'de, A: MapAccess<'de>>(m: &mut Members<'_, 'de, A>) -> Result<Tenant, A::Error> {
///         let (mut id, mut region, mut extra) = (None, None, serde_json::Map::new());
///         while let Some(member) = m.next_member()? {
///             match member.name() {
///                 "id" => id = member.string()?,
///                 "region" => region = member.string()?,
///                 _ => member.keep(&mut extra)?,
///             }
///         }
///         Ok(Tenant { id: m.required("id", id)?, region, extra })
///     }
/// }
///
/// #[derive(Default)]
/// struct MyClaims { tenant: Option<Tenant> }
///
/// #[derive(Debug)]
/// enum MyError { Token(TokenError), Claim(&'static str, String) }
/// impl From<TokenError> for MyError {
///     fn from(e: TokenError) -> MyError { MyError::Token(e) }
/// }
///
/// impl TypedClaims for MyClaims {
///     const NAMES: &'static [&'static str] = &["tenant"];
///     type Error = MyError;
///     fn type_claim<'de, D: Deserializer<'de>>(
///         &mut self,
///         _name: &'static str,
///         value: ClaimValue<'_, D>,
///     ) -> Result<(), D::Error> {
///         self.tenant = value.object()?;
///         Ok(())
///     }
///     fn refused(name: &'static str, reason: String) -> MyError {
///         MyError::Claim(name, reason)
///     }
/// }
///
/// let mut mine = MyClaims::default();
/// let claims = RegisteredClaims::decode_with(
///     br#"{"iss":"a","tenant":{"id":"t1","plan":{"tier":2}}}"#,
///     &mut mine,
/// )?;
/// let tenant = mine.tenant.expect("sent");
/// assert_eq!((claims.iss.as_deref(), tenant.id.as_str()), (Some("a"), "t1"));
/// assert_eq!(tenant.extra["plan"]["tier"], 2);
/// assert!(claims.extra.is_empty() && tenant.region.is_none());
///
/// let refused = |json: &[u8]| RegisteredClaims::decode_with(json, &mut MyClaims::default()).unwrap_err();
/// assert!(matches!(
///     refused(br#"{"tenant":{"id":7}}"#),
///     MyError::Claim("tenant", reason) if reason == "tenant.id is a number, not a string"
/// ));
/// assert!(matches!(
///     refused(br#"{"tenant":{"id":"t1","plan":{"tier":1,"tier":2}}}"#),
///     MyError::Token(TokenError::DuplicateKey(key)) if key == "tier"
/// ));
/// # Ok::<(), MyError>(())
/// ```
pub trait TypedClaims {
    /// The claims this profile types itself. A registered claim (`iss`, `aud`, …) is the
    /// core's: never name one here.
    const NAMES: &'static [&'static str];

    /// The profile's error: every refusal of the core (`From<TokenError>`), and
    /// [`refused`](Self::refused) for its own claims.
    type Error: From<TokenError>;

    /// Types the claim `name` (one of [`NAMES`](Self::NAMES)) by one read of `value`, and
    /// keeps the result. An error is passed on as it came: the walk then says what it was.
    fn type_claim<'de, D: Deserializer<'de>>(
        &mut self,
        name: &'static str,
        value: ClaimValue<'_, D>,
    ) -> Result<(), D::Error>;

    /// The error for the claim `name`, refused by its typing: `reason` names the member by
    /// its path and says what is wrong with it (`tenant.id is a number, not a string`).
    fn refused(name: &'static str, reason: String) -> Self::Error;
}

/// Types nothing: the walks of the core's own headers and claims.
pub(crate) struct Untyped;

impl TypedClaims for Untyped {
    const NAMES: &'static [&'static str] = &[];
    type Error = TokenError;

    fn type_claim<'de, D: Deserializer<'de>>(
        &mut self,
        _name: &'static str,
        value: ClaimValue<'_, D>,
    ) -> Result<(), D::Error> {
        value.json().map(drop)
    }

    fn refused(name: &'static str, _reason: String) -> TokenError {
        TokenError::InvalidClaim {
            claim: name,
            reason: "is not of its documented type",
        }
    }
}

/// A type read from one JSON object, member by member, with the strict rules: what
/// [`ClaimValue::object`] and [`Member::object`] make of an object, and
/// [`deserialize_object`] of any serde input (so that a type's `Deserialize` is the same
/// typing as its profile's verifier).
pub trait FromJsonObject: Sized {
    /// Reads every member of `members` ([`Members::next_member`] until it answers `None`),
    /// each once.
    fn from_members<'de, A: MapAccess<'de>>(members: &mut Members<'_, 'de, A>) -> Result<Self, A::Error>;
}

/// A `T` from any serde deserializer by [`FromJsonObject`]: for `T`'s `Deserialize`. `path` is
/// where the object sits, for messages (`app.environment`). Refuses what the strict walk refuses
/// (a repeated key at any depth, a member of another type), with the same messages, when it
/// reads text; a `serde_json::Value` has already kept only the last of a repeated key.
///
/// ```
/// # use asap_core::{FromJsonObject, Members, deserialize_object};
/// # use serde::de::MapAccess;
/// #[derive(Debug)]
/// struct Module { key: Option<String> }
/// impl FromJsonObject for Module {
///     fn from_members<'de, A: MapAccess<'de>>(m: &mut Members<'_, 'de, A>) -> Result<Module, A::Error> {
///         let mut key = None;
///         while let Some(member) = m.next_member()? {
///             match member.name() {
///                 "key" => key = member.string()?,
///                 _ => member.json().map(drop)?,
///             }
///         }
///         Ok(Module { key })
///     }
/// }
/// let module = |json: &str| {
///     deserialize_object::<Module, _>(&mut serde_json::Deserializer::from_str(json), "app.module")
///         .map_err(|e| e.to_string())
/// };
/// assert_eq!(module(r#"{"key":"m","x":null}"#)?.key.as_deref(), Some("m"));
/// assert!(module(r#"{"key":1}"#).unwrap_err().starts_with("app.module.key is a number, not a string"));
/// assert!(module(r#"{"key":"m","key":"n"}"#).unwrap_err().starts_with("duplicate key \"key\""));
/// # Ok::<(), String>(())
/// ```
pub fn deserialize_object<'de, T: FromJsonObject, D: Deserializer<'de>>(
    deserializer: D,
    path: &str,
) -> Result<T, D::Error> {
    let place = Place {
        at: Path::root(path),
        report: Report(None),
    };
    ObjectRead::new(place)
        .deserialize(deserializer)?
        .ok_or_else(|| place.wrong("null", "an object"))
}

/// The value of a claim [`TypedClaims`] types, read once, from the text (or from the value the
/// flat path read). Every read takes `null` as absent.
#[must_use = "a typed claim is read once: a value left unread would be dropped"]
pub struct ClaimValue<'r, D> {
    de: D,
    name: &'static str,
    report: Report<'r>,
}

impl<D> fmt::Debug for ClaimValue<'_, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimValue")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<'r, 'de, D: Deserializer<'de>> ClaimValue<'r, D> {
    /// An object, typed by `T`.
    pub fn object<T: FromJsonObject>(self) -> Result<Option<T>, D::Error> {
        let (de, place) = self.split();
        ObjectRead::new(place).deserialize(de)
    }

    /// An array of objects, each typed by `T`; empty when absent.
    pub fn objects<T: FromJsonObject>(self) -> Result<Vec<T>, D::Error> {
        let (de, place) = self.split();
        ObjectsRead::new(place).deserialize(de)
    }

    /// A string.
    pub fn string(self) -> Result<Option<String>, D::Error> {
        let (de, place) = self.split();
        StringRead(place).deserialize(de)
    }

    /// `true` or `false`.
    pub fn bool(self) -> Result<Option<bool>, D::Error> {
        let (de, place) = self.split();
        BoolRead(place).deserialize(de)
    }

    /// A JSON integer that fits an `i64` (not `1.0`, not `1e3`).
    pub fn integer(self) -> Result<Option<i64>, D::Error> {
        let (de, place) = self.split();
        IntegerRead(place).deserialize(de)
    }

    /// The deserializer, and the claim as the place a typed read refuses at.
    fn split(self) -> (D, Place<'r>) {
        let place = Place {
            at: Path::root(self.name),
            report: self.report,
        };
        (self.de, place)
    }

    /// Any JSON value, strictly (no key repeated at any depth).
    pub fn json(self) -> Result<Option<Value>, D::Error> {
        let value = StrictValue { report: self.report }.deserialize(self.de)?;
        Ok(Some(value).filter(|v| !v.is_null()))
    }
}

/// The members of one JSON object, for [`FromJsonObject::from_members`]: handed over in order,
/// names borrowed from the input where they have no escapes, a name seen twice refused.
pub struct Members<'p, 'de, A> {
    map: A,
    path: Path<'p>,
    report: Report<'p>,
    seen: SeenKeys<'de>,
    /// The name of the member [`next_member`](Self::next_member) handed over last.
    current: Cow<'de, str>,
}

impl<A> fmt::Debug for Members<'_, '_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Members")
            .field("path", &format_args!("{}", self.path))
            .finish_non_exhaustive()
    }
}

impl<'p, 'de, A: MapAccess<'de>> Members<'p, 'de, A> {
    fn new(map: A, path: Path<'p>, report: Report<'p>) -> Members<'p, 'de, A> {
        Members {
            map,
            path,
            report,
            seen: SeenKeys::new(),
            current: Cow::Borrowed(""),
        }
    }

    /// The next member, to be read once; `None` after the last. A name the object already had
    /// refuses it (the walk reports [`TokenError::DuplicateKey`]).
    pub fn next_member(&mut self) -> Result<Option<Member<'_, 'p, 'de, A>>, A::Error> {
        let Some(name) = self.map.next_key_seed(BorrowedKey)? else {
            return Ok(None);
        };
        if !self.seen.insert(name.clone()) {
            return Err(self.report.duplicate(&name));
        }
        self.current = name;
        Ok(Some(Member { members: self }))
    }

    /// `value`, the member `name` read before, which this type requires: refused as
    /// `<path>.<name> is missing` when it was absent (or `null`).
    pub fn required<T>(&self, name: &str, value: Option<T>) -> Result<T, A::Error> {
        value.ok_or_else(|| {
            self.report
                .refuse(format!("{} is missing", self.path.member(name)))
        })
    }

    /// The map, and the current member as the place a typed read of its value refuses at.
    fn current_value(&mut self) -> (&mut A, Place<'_>) {
        let place = Place {
            at: self.path.member(&self.current),
            report: self.report,
        };
        (&mut self.map, place)
    }
}

/// One member of a [`Members`], read by exactly one of its methods. Every read takes `null` as
/// absent and refuses another type as `<path> is <kind>, not <expected>`.
#[must_use = "every member is read once, or kept"]
pub struct Member<'m, 'p, 'de, A> {
    members: &'m mut Members<'p, 'de, A>,
}

impl<A> fmt::Debug for Member<'_, '_, '_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Member")
            .field(
                "path",
                &format_args!("{}", self.members.path.member(&self.members.current)),
            )
            .finish_non_exhaustive()
    }
}

impl<'de, A: MapAccess<'de>> Member<'_, '_, 'de, A> {
    /// The member's name.
    pub fn name(&self) -> &str {
        &self.members.current
    }

    /// An object, typed by `T`.
    pub fn object<T: FromJsonObject>(self) -> Result<Option<T>, A::Error> {
        let (map, place) = self.members.current_value();
        map.next_value_seed(ObjectRead::new(place))
    }

    /// An array of objects, each typed by `T`; empty when absent.
    pub fn objects<T: FromJsonObject>(self) -> Result<Vec<T>, A::Error> {
        let (map, place) = self.members.current_value();
        map.next_value_seed(ObjectsRead::new(place))
    }

    /// A string.
    pub fn string(self) -> Result<Option<String>, A::Error> {
        let (map, place) = self.members.current_value();
        map.next_value_seed(StringRead(place))
    }

    /// `true` or `false`.
    pub fn bool(self) -> Result<Option<bool>, A::Error> {
        let (map, place) = self.members.current_value();
        map.next_value_seed(BoolRead(place))
    }

    /// A JSON integer that fits an `i64` (not `1.0`, not `1e3`).
    pub fn integer(self) -> Result<Option<i64>, A::Error> {
        let (map, place) = self.members.current_value();
        map.next_value_seed(IntegerRead(place))
    }

    /// Any JSON value, strictly (no key repeated at any depth).
    pub fn json(self) -> Result<Option<Value>, A::Error> {
        let value = self.members.map.next_value_seed(StrictValue {
            report: self.members.report,
        })?;
        Ok(Some(value).filter(|v| !v.is_null()))
    }

    /// Keeps the member, whatever it holds (`null` too), as JSON in `extra`: for the members a
    /// type does not know, which are never dropped and never refused.
    pub fn keep(self, extra: &mut Map<String, Value>) -> Result<(), A::Error> {
        let Members {
            map, report, current, ..
        } = self.members;
        let value = map.next_value_seed(StrictValue { report: *report })?;
        extra.insert(std::mem::take(current).into_owned(), value);
        Ok(())
    }
}

/// Where a typed value sits in the claims (`app.installation.contexts[]`), for messages;
/// written out only when something is refused.
#[derive(Clone, Copy)]
struct Path<'p> {
    parent: Option<&'p Path<'p>>,
    /// The member's name; unused for an array's item.
    name: &'p str,
    item: bool,
}

impl<'p> Path<'p> {
    fn root(name: &'p str) -> Path<'p> {
        Path {
            parent: None,
            name,
            item: false,
        }
    }

    fn member<'q>(&'q self, name: &'q str) -> Path<'q> {
        Path {
            parent: Some(self),
            name,
            item: false,
        }
    }

    fn item(&self) -> Path<'_> {
        Path {
            parent: Some(self),
            name: "",
            item: true,
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = self.parent {
            fmt::Display::fmt(parent, f)?;
            if !self.item {
                f.write_str(".")?;
            }
        }
        if self.item {
            return f.write_str("[]");
        }
        // A member name can come from the token (a profile reading every member): shortened
        // like every other name a message shows.
        match self.name.len() {
            0..=64 => f.write_str(self.name),
            _ => f.write_str(&crate::truncate(self.name)),
        }
    }
}

/// What a strict read refused, kept aside while serde unwinds with an error that cannot carry
/// it: the repeated key, or why a typed member was refused.
#[derive(Default)]
struct Refusals {
    duplicate: RefCell<Option<String>>,
    refused: RefCell<Option<String>>,
}

impl Refusals {
    /// The walk's error once a read of the field `name` failed.
    fn into_error<E>(self, name: &'static str) -> WalkError<E> {
        if let Some(reason) = self.refused.into_inner() {
            return WalkError::Refused { field: name, reason };
        }
        match self.duplicate.into_inner() {
            Some(key) => WalkError::Duplicate(key),
            None => WalkError::NotAnObject,
        }
    }
}

/// Where refusals go: the walk's [`Refusals`], or (a `Deserialize` outside a walk) into the
/// serde error itself.
#[derive(Clone, Copy)]
struct Report<'r>(Option<&'r Refusals>);

impl Report<'_> {
    fn duplicate<E: de::Error>(self, key: &str) -> E {
        let key = crate::truncate(key);
        match self.0 {
            Some(refusals) => {
                *refusals.duplicate.borrow_mut() = Some(key);
                E::custom("duplicate key")
            }
            None => E::custom(format_args!("duplicate key {key:?}")),
        }
    }

    fn refuse<E: de::Error>(self, reason: String) -> E {
        match self.0 {
            Some(refusals) => {
                *refusals.refused.borrow_mut() = Some(reason);
                E::custom("member refused")
            }
            None => E::custom(reason),
        }
    }
}

/// Where a typed read sits, and where its refusals go.
#[derive(Clone, Copy)]
struct Place<'p> {
    at: Path<'p>,
    report: Report<'p>,
}

impl Place<'_> {
    /// Refuses the value here for being of another kind than `expected`.
    fn wrong<E: de::Error>(self, kind: &str, expected: &str) -> E {
        self.report
            .refuse(format!("{} is {kind}, not {expected}", self.at))
    }
}

/// A typed claim handed to its profile: [`TypedClaims::type_claim`] as a seed.
struct ClaimSeed<'a, 'r, T> {
    typed: &'a mut T,
    name: &'static str,
    report: Report<'r>,
}

impl<'de, T: TypedClaims> DeserializeSeed<'de> for ClaimSeed<'_, '_, T> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let value = ClaimValue {
            de: deserializer,
            name: self.name,
            report: self.report,
        };
        self.typed.type_claim(self.name, value)
    }
}

/// The visit methods of a typed read for the JSON kinds it does not take: each refuses the
/// value by its path and its kind (never its content: claims can be long).
macro_rules! refuse_kinds {
    ($expected:literal: $($kind:ident),*) => {
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str($expected)
        }
        $(refuse_kinds!(@ $kind $expected);)*
    };
    (@ boolean $expected:literal) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(self.0.wrong("a boolean", $expected))
        }
    };
    (@ number $expected:literal) => {
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(self.0.wrong("a number", $expected))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Err(self.0.wrong("a number", $expected))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(self.0.wrong("a number", $expected))
        }
    };
    (@ string $expected:literal) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Err(self.0.wrong("a string", $expected))
        }
    };
    (@ array $expected:literal) => {
        fn visit_seq<S: SeqAccess<'de>>(self, _: S) -> Result<Self::Value, S::Error> {
            Err(self.0.wrong("an array", $expected))
        }
    };
    (@ object $expected:literal) => {
        fn visit_map<M: MapAccess<'de>>(self, _: M) -> Result<Self::Value, M::Error> {
            Err(self.0.wrong("an object", $expected))
        }
    };
}

/// The seeds below, as seeds: every JSON kind through `deserialize_any`.
macro_rules! any_seed {
    ($($ty:ident$(<$t:ident>)?: $out:ty;)*) => {$(
        impl<'de, $($t: FromJsonObject)?> DeserializeSeed<'de> for $ty<'_, $($t)?> {
            type Value = $out;
            fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<$out, D::Error> {
                deserializer.deserialize_any(self)
            }
        }
    )*};
}

any_seed! {
    StringRead: Option<String>;
    BoolRead: Option<bool>;
    IntegerRead: Option<i64>;
    ObjectRead<T>: Option<T>;
    ObjectsRead<T>: Vec<T>;
}

/// A string member.
struct StringRead<'p>(Place<'p>);

impl<'de> Visitor<'de> for StringRead<'_> {
    type Value = Option<String>;
    refuse_kinds!("a string": boolean, number, array, object);
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// A `true` or `false` member.
struct BoolRead<'p>(Place<'p>);

impl<'de> Visitor<'de> for BoolRead<'_> {
    type Value = Option<bool>;
    refuse_kinds!("true or false": number, string, array, object);
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// An integer member: a JSON integer that fits an `i64`.
struct IntegerRead<'p>(Place<'p>);

impl<'de> Visitor<'de> for IntegerRead<'_> {
    type Value = Option<i64>;
    refuse_kinds!("an integer": boolean, string, array, object);
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i64::try_from(v)
            .map(Some)
            .map_err(|_| self.0.wrong("an integer beyond i64", "an integer"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        // serde_json reads `1.0` and `1e3` as floats: not an integer as JSON writes one.
        Err(self
            .0
            .wrong("a number with a fraction or an exponent", "an integer"))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// An object member, typed by `T`.
struct ObjectRead<'p, T>(Place<'p>, PhantomData<fn() -> T>);

impl<'p, T> ObjectRead<'p, T> {
    fn new(place: Place<'p>) -> ObjectRead<'p, T> {
        ObjectRead(place, PhantomData)
    }
}

impl<'de, T: FromJsonObject> Visitor<'de> for ObjectRead<'_, T> {
    type Value = Option<T>;
    refuse_kinds!("an object": boolean, number, string, array);
    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
        T::from_members(&mut Members::new(map, self.0.at, self.0.report)).map(Some)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// An array member whose items are objects, each typed by `T`.
struct ObjectsRead<'p, T>(Place<'p>, PhantomData<fn() -> T>);

impl<'p, T> ObjectsRead<'p, T> {
    fn new(place: Place<'p>) -> ObjectsRead<'p, T> {
        ObjectsRead(place, PhantomData)
    }
}

impl<'de, T: FromJsonObject> Visitor<'de> for ObjectsRead<'_, T> {
    type Value = Vec<T>;
    refuse_kinds!("an array": boolean, number, string, object);
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let item = Place {
            at: self.0.at.item(),
            report: self.0.report,
        };
        let mut out = Vec::new();
        // An item is an object: `null` here is not an absent member but a wrong item.
        while let Some(typed) = seq.next_element_seed(ObjectRead::new(item))? {
            out.push(typed.ok_or_else(|| item.wrong("null", "an object"))?);
        }
        Ok(out)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
}

/// An object key, borrowed from the input when it has no escapes.
struct BorrowedKey;

impl<'de> DeserializeSeed<'de> for BorrowedKey {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for BorrowedKey {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Any JSON value, refusing a key repeated at any depth.
#[derive(Clone, Copy)]
struct StrictValue<'a> {
    report: Report<'a>,
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(self.report.duplicate(&key));
            }
            let value = map.next_value_seed(self)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        assert_eq!(parse_json_object(br#"{"a":1,"a":2}"#), Err(Some("a".to_owned())));
        assert_eq!(
            parse_json_object(br#"{"x":{"b":1,"b":1}}"#),
            Err(Some("b".to_owned()))
        );
        assert_eq!(
            parse_json_object(br#"{"x":[{"c":1,"c":2}]}"#),
            Err(Some("c".to_owned()))
        );
        // The same key spelled with an escape is the same key.
        assert_eq!(
            parse_json_object(br#"{"a":1,"\u0061":2}"#),
            Err(Some("a".to_owned()))
        );
    }

    #[test]
    fn non_objects_and_trailing_data_are_refused() {
        for input in [
            &b"[]"[..],
            b"1",
            b"\"s\"",
            b"null",
            b"{} {}",
            b"{",
            b"",
            b"{\"a\":1}x",
        ] {
            assert_eq!(
                parse_json_object(input),
                Err(None),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    fn walk(bytes: &[u8]) -> Result<Vec<(String, Value)>, WalkError<()>> {
        let mut out = Vec::new();
        walk_object(bytes, |k, v| {
            out.push((k.into_owned(), v.into_value()));
            Ok::<(), ()>(())
        })?;
        Ok(out)
    }

    #[test]
    fn walking_refuses_what_parsing_refuses() {
        assert!(matches!(walk(br#"{"a":1,"a":2}"#), Err(WalkError::Duplicate(k)) if k == "a"));
        assert!(matches!(walk(br#"{"a":1,"\u0061":2}"#), Err(WalkError::Duplicate(k)) if k == "a"));
        assert!(matches!(walk(br#"{"x":{"b":1,"b":1}}"#), Err(WalkError::Duplicate(k)) if k == "b"));
        for input in [&b"[]"[..], b"1", b"null", b"{} {}", b"{", b"", b"{\"a\":1}x"] {
            assert!(
                matches!(walk(input), Err(WalkError::NotAnObject)),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(walk(br#"{"a":1,"b":"c"}"#).expect("ok").len(), 2);
    }

    #[test]
    fn walking_finds_duplicates_among_many_keys() {
        let mut many: String = (0..100).map(|i| format!("\"k{i}\":{i},")).collect();
        many.push_str("\"k7\":0");
        assert!(matches!(walk(format!("{{{many}}}").as_bytes()), Err(WalkError::Duplicate(k)) if k == "k7"));
        let distinct: String = (0..100)
            .map(|i| format!("\"k{i}\":{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(walk(format!("{{{distinct}}}").as_bytes()).expect("ok").len(), 100);
    }

    #[test]
    fn a_refused_field_stops_the_walk_with_its_error() {
        let r = walk_object(br#"{"a":1,"b":2,"c":3}"#, |k, _| {
            if k == "b" { Err("no b") } else { Ok(()) }
        });
        assert!(matches!(r, Err(WalkError::Field("no b"))));
    }

    /// The outcome of a walk, comparable: the fields, or which error.
    fn outcome(r: Result<Vec<(String, Value)>, WalkError<()>>) -> String {
        match r {
            Ok(fields) => format!("{fields:?}"),
            Err(WalkError::NotAnObject) => "not an object".into(),
            Err(WalkError::Duplicate(k)) => format!("duplicate {k}"),
            Err(WalkError::Field(())) => "refused".into(),
            Err(WalkError::Refused { field, reason }) => format!("{field} refused: {reason}"),
        }
    }

    fn walk_general(bytes: &[u8]) -> Result<Vec<(String, Value)>, WalkError<()>> {
        let mut out = Vec::new();
        walk_object_general(bytes, &mut Untyped, |k, v| {
            out.push((k.into_owned(), v.into_value()));
            Ok::<(), ()>(())
        })?;
        Ok(out)
    }

    #[test]
    fn the_flat_path_takes_the_usual_shapes() {
        for input in [
            &br#"{"alg":"RS256","kid":"svc/key","typ":"JWT"}"#[..],
            br#"{"iss":"a","sub":"a","aud":["b","c"],"jti":"x","iat":1,"nbf":1,"exp":61}"#,
            br#" { "a" : [ ] , "b" : [1, true, null, "s"], "c": false } "#,
            br#"{}"#,
        ] {
            let mut seen = 0;
            let r = flat::walk(input, &mut |_, _| {
                seen += 1;
                Ok::<(), ()>(())
            });
            assert!(matches!(r, Some(Ok(()))), "{:?}", String::from_utf8_lossy(input));
            assert_eq!(seen, walk_general(input).expect("valid").len());
        }
    }

    #[test]
    fn the_flat_path_agrees_with_serde_json_on_every_generated_input() {
        // Fragments that are and are not JSON, glued at random: wherever the flat path answers,
        // its answer is the general walker's (fields and values, or the error).
        const PIECES: [&[u8]; 34] = [
            b"{",
            b"}",
            b"[",
            b"]",
            b":",
            b",",
            b" ",
            b"\n",
            b"\"a\"",
            b"\"b\"",
            b"\"kid\"",
            b"\"\\u0061\"",
            b"\"\xc3\xa9\"",
            b"\"\xff\"",
            b"\"\x01\"",
            b"0",
            b"01",
            b"7",
            b"-1",
            b"-0",
            b"1.5",
            b"1e3",
            b"999999999999999999",
            b"9999999999999999999",
            b"true",
            b"false",
            b"null",
            b"nul",
            b"tru",
            b"{\"x\":1}",
            b"\"",
            b"x",
            b"\t",
            b"[[1]]",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        // xorshift, reduced to usize: the low bits are all a pick needs.
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::from(seed.to_le_bytes()[0]) | usize::from(seed.to_le_bytes()[1]) << 8
        };
        let mut answered = 0;
        for _ in 0..60_000 {
            let mut input = b"{".to_vec();
            let pieces = next() % 12;
            for i in 0..pieces {
                // Mostly object-shaped: key, colon, value, comma.
                let piece: &[u8] = match (i % 4, next() % 3) {
                    (0, 0 | 1) => [&b"\"a\""[..], b"\"b\"", b"\"c\""][next() % 3],
                    (1, 0 | 1) => b":",
                    (3, 0 | 1) => b",",
                    _ => PIECES[next() % PIECES.len()],
                };
                input.extend_from_slice(piece);
            }
            if next() % 4 != 0 {
                input.push(b'}');
            }
            let mut fields = Vec::new();
            let fast = flat::walk(&input, &mut |k, v| {
                fields.push((k.into_owned(), v.into_value()));
                Ok::<(), ()>(())
            });
            if let Some(r) = fast {
                answered += 1;
                assert_eq!(
                    outcome(r.map(|()| fields)),
                    outcome(walk_general(&input)),
                    "{:?}",
                    String::from_utf8_lossy(&input)
                );
            }
        }
        assert!(answered > 1_000, "the flat path answered only {answered} inputs");
    }

    #[test]
    fn a_field_refused_on_the_flat_path_stops_the_walk() {
        let r = flat::walk(br#"{"a":1,"b":2,"c":3}"#, &mut |k, _| {
            if k == "b" { Err("no b") } else { Ok(()) }
        });
        assert!(matches!(r, Some(Err(WalkError::Field("no b")))));
    }

    /// Strings that a JSON writer gets wrong when it forgets a rule: quotes, backslashes, every
    /// control character, DEL, the JavaScript line separators, non-BMP characters, escapes
    /// spelled out literally.
    fn hostile_strings() -> Vec<String> {
        let mut strings: Vec<String> = [
            "",
            "plain",
            "\"",
            "\\",
            "\\\"",
            "a\"b\\c",
            "\\u0000",
            "\u{7f}",
            "\u{2028}\u{2029}",
            "\u{1f600}",
            "\u{10ffff}",
            "é\u{0}ü",
            "</script>",
            "\"},\"iss\":\"admin",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        strings.extend((0u8..0x20).map(|b| format!("x{}y", char::from(b))));
        strings
    }

    /// Random strings over a pool of the characters above and plain ones (xorshift, seeded).
    pub(crate) fn generated_strings(count: usize, mut seed: u64) -> Vec<String> {
        const POOL: [char; 16] = [
            'a',
            'Z',
            '0',
            ' ',
            '"',
            '\\',
            '/',
            '\u{0}',
            '\n',
            '\u{1f}',
            '\u{7f}',
            'é',
            '\u{2028}',
            '\u{fffd}',
            '\u{1f600}',
            '\u{10ffff}',
        ];
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::from(seed.to_le_bytes()[0])
        };
        (0..count)
            .map(|_| (0..next() % 24).map(|_| POOL[next() % POOL.len()]).collect())
            .collect()
    }

    #[test]
    fn strings_are_written_byte_for_byte_as_serde_json_writes_them() {
        for s in hostile_strings()
            .into_iter()
            .chain(generated_strings(20_000, 0x9e37_79b9_7f4a_7c15))
        {
            let mut ours = Vec::new();
            write::string(&mut ours, &s).expect("a Vec takes every write");
            assert_eq!(
                String::from_utf8_lossy(&ours),
                serde_json::to_string(&s).expect("serializes"),
                "{s:?}"
            );
            assert_eq!(serde_json::from_slice::<String>(&ours).expect("parses back"), s);
        }
    }

    #[test]
    fn control_characters_quotes_and_backslashes_are_escaped_and_nothing_else() {
        let written = |s: &str| {
            let mut out = Vec::new();
            write::string(&mut out, s).expect("a Vec takes every write");
            String::from_utf8(out).expect("UTF-8")
        };
        assert_eq!(written("\"\\"), r#""\"\\""#);
        assert_eq!(written("\u{8}\u{c}\n\r\t"), r#""\b\f\n\r\t""#);
        assert_eq!(written("\u{0}\u{1f}"), r#""\u0000\u001f""#);
        // Valid JSON as they are: written unescaped.
        assert_eq!(
            written("/\u{7f}\u{2028}\u{1f600}"),
            "\"/\u{7f}\u{2028}\u{1f600}\""
        );
    }

    #[test]
    fn integers_are_written_as_serde_json_writes_them() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut values = vec![0, 1, -1, 9, 10, -10, 99, 100, i64::MAX, i64::MIN, i64::MIN + 1];
        values.extend((0..10_000).map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Every magnitude, both signs.
            i64::from_le_bytes(seed.to_le_bytes()) >> (seed % 64)
        }));
        for n in values {
            let mut ours = Vec::new();
            write::int(&mut ours, n).expect("a Vec takes every write");
            assert_eq!(String::from_utf8_lossy(&ours), n.to_string(), "{n}");
        }
    }

    /// A profile's nested claim for the typed-claims tests: `tenant`, with a required `id`, an
    /// optional `active`, `sites` (objects with a `url`) and `notes` (any JSON).
    #[derive(Debug, PartialEq)]
    struct Tenant {
        id: String,
        active: Option<bool>,
        sites: Vec<Site>,
        notes: Option<Value>,
        extra: Map<String, Value>,
    }

    #[derive(Debug, PartialEq)]
    struct Site {
        url: Option<String>,
        extra: Map<String, Value>,
    }

    impl FromJsonObject for Tenant {
        fn from_members<'de, A: MapAccess<'de>>(m: &mut Members<'_, 'de, A>) -> Result<Tenant, A::Error> {
            let (mut id, mut active, mut sites, mut notes) = (None, None, Vec::new(), None);
            let mut extra = Map::new();
            while let Some(member) = m.next_member()? {
                match member.name() {
                    "id" => id = member.string()?,
                    "active" => active = member.bool()?,
                    "sites" => sites = member.objects()?,
                    "notes" => notes = member.json()?,
                    _ => member.keep(&mut extra)?,
                }
            }
            Ok(Tenant {
                id: m.required("id", id)?,
                active,
                sites,
                notes,
                extra,
            })
        }
    }

    impl FromJsonObject for Site {
        fn from_members<'de, A: MapAccess<'de>>(m: &mut Members<'_, 'de, A>) -> Result<Site, A::Error> {
            let (mut url, mut extra) = (None, Map::new());
            while let Some(member) = m.next_member()? {
                match member.name() {
                    "url" => url = member.string()?,
                    _ => member.keep(&mut extra)?,
                }
            }
            Ok(Site { url, extra })
        }
    }

    #[derive(Debug, Default)]
    struct TenantClaims {
        tenant: Option<Tenant>,
        /// How many times `type_claim` was called.
        calls: usize,
    }

    #[derive(Debug, PartialEq)]
    enum TenantError {
        Token(TokenError),
        Claim(&'static str, String),
    }

    impl From<TokenError> for TenantError {
        fn from(e: TokenError) -> TenantError {
            TenantError::Token(e)
        }
    }

    impl TypedClaims for TenantClaims {
        const NAMES: &'static [&'static str] = &["tenant"];
        type Error = TenantError;
        fn type_claim<'de, D: Deserializer<'de>>(
            &mut self,
            _name: &'static str,
            value: ClaimValue<'_, D>,
        ) -> Result<(), D::Error> {
            self.calls += 1;
            self.tenant = value.object()?;
            Ok(())
        }
        fn refused(name: &'static str, reason: String) -> TenantError {
            TenantError::Claim(name, reason)
        }
    }

    fn decode_tenant(json: &str) -> Result<(crate::RegisteredClaims, TenantClaims), TenantError> {
        let mut typed = TenantClaims::default();
        let claims = crate::RegisteredClaims::decode_with(json.as_bytes(), &mut typed)?;
        Ok((claims, typed))
    }

    fn tenant_refusal(json: &str) -> TenantError {
        decode_tenant(json).expect_err("refused")
    }

    /// Reads every member as a string, the names it does not know too.
    struct AllStrings;

    impl FromJsonObject for AllStrings {
        fn from_members<'de, A: MapAccess<'de>>(m: &mut Members<'_, 'de, A>) -> Result<AllStrings, A::Error> {
            while let Some(member) = m.next_member()? {
                member.string()?;
            }
            Ok(AllStrings)
        }
    }

    /// Reads `n` as an integer.
    struct Count(Option<i64>);

    impl FromJsonObject for Count {
        fn from_members<'de, A: MapAccess<'de>>(m: &mut Members<'_, 'de, A>) -> Result<Count, A::Error> {
            let mut n = None;
            while let Some(member) = m.next_member()? {
                match member.name() {
                    "n" => n = member.integer()?,
                    _ => member.json().map(drop)?,
                }
            }
            Ok(Count(n))
        }
    }

    #[test]
    fn an_integer_is_a_json_integer_that_fits_an_i64() {
        let count = |json: &str| {
            deserialize_object::<Count, _>(&mut serde_json::Deserializer::from_str(json), "c")
                .map(|c| c.0)
                .map_err(|e| e.to_string())
        };
        for (json, n) in [
            (r#"{"n":0}"#, Some(0)),
            (r#"{"n":-7}"#, Some(-7)),
            (r#"{"n":9223372036854775807}"#, Some(i64::MAX)),
            (r#"{"n":null}"#, None),
            ("{}", None),
        ] {
            assert_eq!(count(json), Ok(n), "{json}");
        }
        for (json, kind) in [
            (r#"{"n":9223372036854775808}"#, "an integer beyond i64"),
            (r#"{"n":1.0}"#, "a number with a fraction or an exponent"),
            (r#"{"n":1e3}"#, "a number with a fraction or an exponent"),
            (r#"{"n":"1"}"#, "a string"),
            (r#"{"n":true}"#, "a boolean"),
        ] {
            let refused = count(json).expect_err(json);
            assert!(
                refused.starts_with(&format!("c.n is {kind}, not an integer")),
                "{refused}"
            );
        }
    }

    #[test]
    fn a_member_name_from_the_token_is_shortened_in_a_refusal() {
        let name = "k".repeat(4000);
        let json = format!(r#"{{"{name}":1}}"#);
        let refused =
            deserialize_object::<AllStrings, _>(&mut serde_json::Deserializer::from_str(&json), "c")
                .err()
                .expect("a number is not a string")
                .to_string();
        let shown = format!("c.{}… is a number, not a string", "k".repeat(64));
        assert!(refused.starts_with(&shown), "{refused}");
    }

    #[test]
    fn a_typed_claim_is_typed_from_the_text_and_its_unknown_members_are_kept() {
        let (claims, typed) = decode_tenant(
            r#"{"iss":"a","tenant":{"id":"t1","active":true,"sites":[{"url":"https://x","tz":"UTC"}],
                "notes":{"n":[1,{"m":null}]},"plan":{"tier":2},"later":null},"other":{"k":1}}"#,
        )
        .expect("valid");
        let tenant = typed.tenant.expect("typed");
        assert_eq!((tenant.id.as_str(), tenant.active), ("t1", Some(true)));
        assert_eq!(tenant.sites[0].url.as_deref(), Some("https://x"));
        assert_eq!(tenant.sites[0].extra["tz"], "UTC");
        assert_eq!(tenant.notes, Some(serde_json::json!({"n": [1, {"m": null}]})));
        // Unknown members are kept, whatever they hold (`null` too), never dropped or refused.
        assert_eq!(tenant.extra["plan"], serde_json::json!({"tier": 2}));
        assert_eq!(tenant.extra.get("later"), Some(&Value::Null));
        assert_eq!(tenant.extra.len(), 2);
        // The typed claim is the profile's; the rest is as `decode` makes it.
        assert_eq!(claims.iss.as_deref(), Some("a"));
        assert!(!claims.extra.contains_key("tenant"));
        assert_eq!(claims.extra["other"], serde_json::json!({"k": 1}));
    }

    #[test]
    fn a_typed_claim_is_typed_the_same_on_the_flat_path_and_without_it() {
        // Flat: every value a scalar, the typed claim `null` (absent) or of another type.
        let (claims, typed) = decode_tenant(r#"{"iss":"a","tenant":null}"#).expect("valid");
        assert_eq!((typed.calls, typed.tenant), (1, None));
        assert!(claims.extra.is_empty(), "a null typed claim is absent, not extra");
        assert_eq!(
            tenant_refusal(r#"{"iss":"a","tenant":"t1"}"#),
            TenantError::Claim("tenant", "tenant is a string, not an object".into())
        );
        assert_eq!(
            tenant_refusal(r#"{"tenant":[1]}"#),
            TenantError::Claim("tenant", "tenant is an array, not an object".into())
        );
        // The same claims either way when nothing nests.
        assert_eq!(
            decode_tenant(r#"{"iss":"a","x":[1,"y"]}"#).expect("valid").0,
            crate::RegisteredClaims::decode(br#"{"iss":"a","x":[1,"y"]}"#).expect("valid")
        );
    }

    #[test]
    fn a_key_repeated_inside_a_typed_claim_is_refused_at_any_depth() {
        for (json, key) in [
            (r#"{"tenant":{"id":"a","id":"b"}}"#, "id"),
            // `null` counts as absent, but the key was sent: still a repeat.
            (r#"{"tenant":{"id":"a","active":null,"active":true}}"#, "active"),
            (r#"{"tenant":{"id":"a","\u0069d":"b"}}"#, "id"),
            (r#"{"tenant":{"id":"a","sites":[{"url":"u","url":"v"}]}}"#, "url"),
            // In what is kept as JSON: an unknown member, a member read as any JSON.
            (r#"{"tenant":{"id":"a","plan":{"tier":1,"tier":2}}}"#, "tier"),
            (r#"{"tenant":{"id":"a","x":1,"x":1}}"#, "x"),
            (r#"{"tenant":{"id":"a","notes":[{"n":1,"n":2}]}}"#, "n"),
            (r#"{"tenant":{"id":"a","sites":[{"tz":{"z":1,"z":1}}]}}"#, "z"),
            // The typed claim itself, twice.
            (r#"{"tenant":{"id":"a"},"tenant":{"id":"b"}}"#, "tenant"),
        ] {
            assert_eq!(
                tenant_refusal(json),
                TenantError::Token(TokenError::DuplicateKey(key.into())),
                "{json}"
            );
        }
    }

    #[test]
    fn a_typed_member_missing_or_of_another_type_is_refused_with_the_claim_name() {
        for (json, reason) in [
            (r#"{"tenant":{"id":7}}"#, "tenant.id is a number, not a string"),
            (r#"{"tenant":{}}"#, "tenant.id is missing"),
            (r#"{"tenant":{"id":null}}"#, "tenant.id is missing"),
            (
                r#"{"tenant":{"id":"a","active":"yes"}}"#,
                "tenant.active is a string, not true or false",
            ),
            (
                r#"{"tenant":{"id":"a","sites":{}}}"#,
                "tenant.sites is an object, not an array",
            ),
            (
                r#"{"tenant":{"id":"a","sites":[null]}}"#,
                "tenant.sites[] is null, not an object",
            ),
            (
                r#"{"tenant":{"id":"a","sites":[{"url":false}]}}"#,
                "tenant.sites[].url is a boolean, not a string",
            ),
            (
                r#"{"tenant":{"id":["a"]}}"#,
                "tenant.id is an array, not a string",
            ),
            (
                r#"{"tenant":{"id":{"a":1}}}"#,
                "tenant.id is an object, not a string",
            ),
        ] {
            assert_eq!(
                tenant_refusal(json),
                TenantError::Claim("tenant", reason.into()),
                "{json}"
            );
        }
        // Not JSON inside a typed claim is not JSON: the core's refusal.
        assert_eq!(
            tenant_refusal(r#"{"tenant":{"id":"a",}}"#),
            TenantError::Token(TokenError::Malformed("claims are not a JSON object"))
        );
        // A registered claim keeps the core's refusal.
        assert!(matches!(
            tenant_refusal(r#"{"iss":1,"tenant":{"id":"a"}}"#),
            TenantError::Token(TokenError::InvalidClaim { claim: "iss", .. })
        ));
    }

    #[test]
    fn null_members_of_a_typed_claim_are_absent_and_not_kept() {
        let (_, typed) =
            decode_tenant(r#"{"tenant":{"id":"a","active":null,"sites":null,"notes":null}}"#).expect("valid");
        let tenant = typed.tenant.expect("typed");
        assert_eq!((tenant.active, tenant.sites.len(), tenant.notes), (None, 0, None));
        assert!(tenant.extra.is_empty());
    }

    #[test]
    fn deserialize_object_types_as_the_walk_does_and_refuses_what_it_refuses() {
        let text = r#"{"id":"t1","sites":[{"url":"u"}],"plan":{"tier":2}}"#;
        let standalone = |text: &str| {
            deserialize_object::<Tenant, _>(&mut serde_json::Deserializer::from_str(text), "tenant")
                .map_err(|e| e.to_string())
        };
        let (_, typed) = decode_tenant(&format!(r#"{{"tenant":{text}}}"#)).expect("valid");
        assert_eq!(standalone(text).expect("valid"), typed.tenant.expect("typed"));
        // From a JSON value too (a `Deserialize` through `serde_json::from_value`).
        let value: Value = serde_json::from_str(text).expect("JSON");
        assert_eq!(
            deserialize_object::<Tenant, _>(value, "tenant").map_err(|e| e.to_string()),
            standalone(text)
        );
        let refused = standalone(r#"{"id":"a","plan":{"t":1,"t":2}}"#).expect_err("refused");
        assert!(refused.starts_with("duplicate key \"t\""), "{refused}");
        let refused = standalone(r#"{"id":1}"#).expect_err("refused");
        assert!(
            refused.starts_with("tenant.id is a number, not a string"),
            "{refused}"
        );
        assert_eq!(
            deserialize_object::<Tenant, _>(Value::Null, "tenant").map_err(|e| e.to_string()),
            Err("tenant is null, not an object".to_owned())
        );
    }

    #[test]
    fn plain_objects_parse() {
        let map = parse_json_object(br#"{"a":1,"b":[1,2],"c":{"d":null}}"#).expect("valid");
        assert_eq!(map.len(), 3);
    }
}
