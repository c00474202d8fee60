//! Strict JSON: objects whose keys repeat, at any depth, are refused. Two parsers that disagree on
//! which duplicate wins (first or last) let one token mean two things; refusing both closes that.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

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
        WalkError::NotAnObject | WalkError::Field(_) => None,
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
}

/// Walks one JSON object field by field, refusing duplicate keys at any depth like
/// [`parse_json_object`], without building a map: keys are borrowed from the input where they
/// have no escapes, and each value is handed to `on_field` once, as a [`FieldValue`]. The
/// verifier uses this for every token, so it allocates only for the values it keeps.
pub(crate) fn walk_object<'de, E>(
    bytes: &'de [u8],
    mut on_field: impl FnMut(Cow<'de, str>, FieldValue<'de>) -> Result<(), E>,
) -> Result<(), WalkError<E>> {
    if let Some(walked) = flat::walk(bytes, &mut on_field) {
        return walked;
    }
    walk_object_general(bytes, on_field)
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

/// [`walk_object`] through serde_json: every input, whatever its shape.
fn walk_object_general<'de, E>(
    bytes: &'de [u8],
    mut on_field: impl FnMut(Cow<'de, str>, FieldValue<'de>) -> Result<(), E>,
) -> Result<(), WalkError<E>> {
    let duplicate = RefCell::new(None);
    let refused = RefCell::new(None);
    let walker = Walker {
        value: StrictValue {
            duplicate: &duplicate,
        },
        refused: &refused,
        on_field: |key, value| on_field(key, FieldValue(FieldRepr::Json(value))),
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let walked = de.deserialize_map(walker).and_then(|()| de.end());
    if let Some(e) = refused.into_inner() {
        return Err(WalkError::Field(e));
    }
    if let Some(key) = duplicate.into_inner() {
        return Err(WalkError::Duplicate(key));
    }
    walked.map_err(|_| WalkError::NotAnObject)
}

struct Walker<'a, E, F> {
    value: StrictValue<'a>,
    refused: &'a RefCell<Option<E>>,
    on_field: F,
}

/// Objects this small are checked for repeated keys by a linear scan; larger ones by a set,
/// so that a token full of keys costs linear time, not quadratic.
const LINEAR_SCAN_KEYS: usize = 16;

impl<'de, E, F> Visitor<'de> for Walker<'_, E, F>
where
    F: FnMut(Cow<'de, str>, Value) -> Result<(), E>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut seen: Vec<Cow<'de, str>> = Vec::new();
        let mut seen_set: HashSet<Cow<'de, str>> = HashSet::new();
        while let Some(key) = map.next_key_seed(BorrowedKey)? {
            let repeated = if seen.len() < LINEAR_SCAN_KEYS {
                seen.contains(&key)
            } else {
                if seen_set.is_empty() {
                    seen_set.extend(seen.iter().cloned());
                }
                seen_set.contains(&key)
            };
            if repeated {
                *self.value.duplicate.borrow_mut() = Some(crate::truncate(&key));
                return Err(de::Error::custom("duplicate key"));
            }
            if seen.len() < LINEAR_SCAN_KEYS {
                seen.push(key.clone());
            } else {
                seen_set.insert(key.clone());
            }
            let value = map.next_value_seed(self.value)?;
            if let Err(e) = (self.on_field)(key, value) {
                *self.refused.borrow_mut() = Some(e);
                return Err(de::Error::custom("field refused"));
            }
        }
        Ok(())
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

#[derive(Clone, Copy)]
struct StrictValue<'a> {
    duplicate: &'a RefCell<Option<String>>,
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
                *self.duplicate.borrow_mut() = Some(crate::truncate(&key));
                return Err(de::Error::custom("duplicate key"));
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
        }
    }

    fn walk_general(bytes: &[u8]) -> Result<Vec<(String, Value)>, WalkError<()>> {
        let mut out = Vec::new();
        walk_object_general(bytes, |k, v| {
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

    #[test]
    fn plain_objects_parse() {
        let map = parse_json_object(br#"{"a":1,"b":[1,2],"c":{"d":null}}"#).expect("valid");
        assert_eq!(map.len(), 3);
    }
}
