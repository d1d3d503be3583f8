//! Parsing and validation of input events (PRODUCT.md §3). Only the fields the aggregations need are
//! decoded, borrowed from the record bytes where they need no unescaping; everything else is skipped.
//! A field of the wrong JSON type is reported by name rather than by serde's position message.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::reject::RejectReason;

/// The largest event time accepted: 2^53 - 1, the largest integer a JavaScript number holds exactly.
pub const MAX_TS: i64 = (1 << 53) - 1;

/// A field of an event: absent, a value of the expected type, or the JSON type found instead (so that
/// `null` is a wrong type rather than a missing field).
#[derive(Debug, Default)]
pub enum Field<T> {
    #[default]
    Missing,
    Value(T),
    Wrong(&'static str),
}

/// A JSON string, borrowed from the input when it has no escapes.
#[derive(Debug)]
pub struct Str<'a>(pub Cow<'a, str>);

/// A JSON number that is an integer (a float with no fraction counts, as JavaScript writes them).
#[derive(Debug)]
pub struct Int(pub i64);

struct FieldVisitor<T>(std::marker::PhantomData<T>);

macro_rules! wrong_type_visits {
    ($($method:ident($($arg:ty)?) => $name:expr),* $(,)?) => {
        $(fn $method<E: de::Error>(self $(, _: $arg)?) -> Result<Self::Value, E> { Ok(Field::Wrong($name)) })*
    };
}

/// Objects and arrays are never what a field of ours expects: skip their contents, report the type.
macro_rules! wrong_compound_visits {
    () => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Field::Wrong("object"))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Field::Wrong("array"))
        }
    };
}

impl<'de: 'a, 'a> Visitor<'de> for FieldVisitor<Str<'a>> {
    type Value = Field<Str<'a>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Value(Str(Cow::Borrowed(v))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Value(Str(Cow::Owned(v.to_owned()))))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Field::Value(Str(Cow::Owned(v))))
    }
    wrong_type_visits! {
        visit_bool(bool) => "boolean", visit_i64(i64) => "number", visit_u64(u64) => "number",
        visit_f64(f64) => "number", visit_unit() => "null", visit_none() => "null",
    }
    wrong_compound_visits!();
}

impl<'de> Visitor<'de> for FieldVisitor<Int> {
    type Value = Field<Int>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Field::Value(Int(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(match i64::try_from(v) {
            Ok(v) => Field::Value(Int(v)),
            Err(_) => Field::Wrong("number out of range"),
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        // Exactly representable integers only: 2^63 as f64 would saturate silently.
        Ok(if v.fract() == 0.0 && v.abs() < 9.0e15 { Field::Value(Int(v as i64)) } else { Field::Wrong("fractional number") })
    }
    wrong_type_visits! {
        visit_bool(bool) => "boolean", visit_unit() => "null", visit_none() => "null",
        visit_str(&str) => "string", visit_borrowed_str(&'de str) => "string", visit_string(String) => "string",
    }
    wrong_compound_visits!();
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<Str<'a>> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor::<Str<'a>>(std::marker::PhantomData))
    }
}

impl<'de> Deserialize<'de> for Field<Int> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor::<Int>(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct RawClick<'a> {
    #[serde(rename = "userId", borrow, default)]
    user_id: Field<Str<'a>>,
    #[serde(rename = "eventId", borrow, default)]
    event_id: Field<Str<'a>>,
    #[serde(default)]
    ts: Field<Int>,
}

/// The fields of a `user-clicks` event that the aggregations use.
#[derive(Debug, PartialEq, Eq)]
pub struct Click<'a> {
    pub user_id: Cow<'a, str>,
    pub ts: i64,
}

/// Why a record is not a valid event, with a detail naming the field.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid {
    pub reason: RejectReason,
    pub detail: String,
}

impl Invalid {
    fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Self { reason, detail: detail.into() }
    }
}

fn required<T>(field: Field<T>, name: &str, expected: &str) -> Result<T, Invalid> {
    match field {
        Field::Missing => Err(Invalid::new(RejectReason::MissingField, format!("missing required field `{name}`"))),
        Field::Wrong(found) => Err(Invalid::new(RejectReason::WrongType, format!("field `{name}` must be {expected}, found {found}"))),
        Field::Value(v) => Ok(v),
    }
}

fn json_error(err: serde_json::Error) -> Invalid {
    match err.classify() {
        // A valid JSON value that is not an object (an array, a string, …).
        serde_json::error::Category::Data => Invalid::new(RejectReason::WrongType, format!("event must be a JSON object: {err}")),
        _ => Invalid::new(RejectReason::InvalidJson, format!("not valid JSON: {err}")),
    }
}

/// Parses a `user-clicks` record: `userId` (non-empty string), `eventId` (string) and `ts` (integer
/// milliseconds, 0 ≤ ts ≤ 2^53-1) are required.
pub fn parse_click(bytes: &[u8]) -> Result<Click<'_>, Invalid> {
    let raw: RawClick = serde_json::from_slice(bytes).map_err(json_error)?;
    let user_id = required(raw.user_id, "userId", "a string")?.0;
    required(raw.event_id, "eventId", "a string")?;
    let ts = required(raw.ts, "ts", "an integer (milliseconds since the epoch)")?.0;
    if user_id.is_empty() {
        return Err(Invalid::new(RejectReason::InvalidValue, "field `userId` must not be empty"));
    }
    if !(0..=MAX_TS).contains(&ts) {
        return Err(Invalid::new(RejectReason::InvalidValue, format!("field `ts` must be between 0 and 2^53-1 milliseconds, got {ts}")));
    }
    Ok(Click { user_id, ts })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(bytes: &[u8]) -> (RejectReason, String) {
        let err = parse_click(bytes).unwrap_err();
        (err.reason, err.detail)
    }

    #[test]
    fn parses_the_documented_shape_and_keeps_ids_borrowed() {
        let click = parse_click(
            br#"{"eventId":"7b0c","type":"product_view","userId":"u-1042","sessionId":"s-88f1","productId":"p-311","source":"web","ts":1764100000123,"properties":{"a":[1,2,{"b":null}]}}"#,
        )
        .unwrap();
        assert_eq!(click.user_id, "u-1042");
        assert!(matches!(click.user_id, Cow::Borrowed(_)));
        assert_eq!(click.ts, 1_764_100_000_123);
    }

    #[test]
    fn unescapes_ids_with_escapes() {
        let click = parse_click(br#"{"eventId":"e","userId":"u-\u00e9\"x","ts":5}"#).unwrap();
        assert_eq!(click.user_id, "u-é\"x");
    }

    #[test]
    fn accepts_integral_floats_as_javascript_writes_them() {
        assert_eq!(parse_click(br#"{"eventId":"e","userId":"u","ts":1.7641e12}"#).unwrap().ts, 1_764_100_000_000);
    }

    #[test]
    fn classifies_bad_records_and_names_the_field() {
        assert_eq!(reason(b"{not json").0, RejectReason::InvalidJson);
        assert_eq!(reason(b"").0, RejectReason::InvalidJson);
        assert_eq!(reason(b"{\"userId\":\"u\xff\",\"eventId\":\"e\",\"ts\":1}").0, RejectReason::InvalidJson);
        assert_eq!(reason(b"[1,2]").0, RejectReason::WrongType);
        assert_eq!(reason(br#"{"eventId":"e","ts":1}"#), (RejectReason::MissingField, "missing required field `userId`".into()));
        assert_eq!(reason(br#"{"userId":"u","ts":1}"#).0, RejectReason::MissingField);
        assert_eq!(reason(br#"{"userId":"u","eventId":"e"}"#).0, RejectReason::MissingField);
        let (r, detail) = reason(br#"{"userId":"u","eventId":"e","ts":"yesterday"}"#);
        assert_eq!(r, RejectReason::WrongType);
        assert!(detail.contains("`ts`") && detail.contains("found string"), "{detail}");
        assert_eq!(reason(br#"{"userId":42,"eventId":"e","ts":1}"#).0, RejectReason::WrongType);
        assert_eq!(reason(br#"{"userId":{"id":1},"eventId":"e","ts":1}"#).0, RejectReason::WrongType);
        assert_eq!(reason(br#"{"userId":"u","eventId":"e","ts":1.5}"#).0, RejectReason::WrongType);
        assert_eq!(reason(br#"{"userId":"","eventId":"e","ts":1}"#).0, RejectReason::InvalidValue);
        assert_eq!(reason(br#"{"userId":"u","eventId":"e","ts":-1}"#).0, RejectReason::InvalidValue);
        assert_eq!(reason(br#"{"userId":"u","eventId":"e","ts":9007199254740992}"#).0, RejectReason::InvalidValue);
        assert_eq!(reason(br#"{"userId":null,"eventId":"e","ts":1}"#).0, RejectReason::WrongType);
    }
}
