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
        map.insert(key.into_owned(), value);
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
/// have no escapes, and each value is handed to `on_field` once. The verifier uses this for
/// every token, so it allocates only for the values it keeps.
pub(crate) fn walk_object<'de, E>(
    bytes: &'de [u8],
    on_field: impl FnMut(Cow<'de, str>, Value) -> Result<(), E>,
) -> Result<(), WalkError<E>> {
    let duplicate = RefCell::new(None);
    let refused = RefCell::new(None);
    let walker = Walker {
        value: StrictValue {
            duplicate: &duplicate,
        },
        refused: &refused,
        on_field,
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
mod tests {
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
            out.push((k.into_owned(), v));
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

    #[test]
    fn plain_objects_parse() {
        let map = parse_json_object(br#"{"a":1,"b":[1,2],"c":{"d":null}}"#).expect("valid");
        assert_eq!(map.len(), 3);
    }
}
