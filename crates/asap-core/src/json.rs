//! Strict JSON: objects whose keys repeat, at any depth, are refused. Two parsers that disagree on
//! which duplicate wins (first or last) let one token mean two things; refusing both closes that.

use std::cell::RefCell;
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
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue {
        duplicate: &duplicate,
    }
    .deserialize(&mut de);
    let Ok(value) = value.and_then(|v| de.end().map(|()| v)) else {
        return Err(duplicate.into_inner());
    };
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(None),
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

    #[test]
    fn plain_objects_parse() {
        let map = parse_json_object(br#"{"a":1,"b":[1,2],"c":{"d":null}}"#).expect("valid");
        assert_eq!(map.len(), 3);
    }
}
