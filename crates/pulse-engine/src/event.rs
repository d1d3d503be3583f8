//! Parsing and validation of input events (docs/specification.md, "Event records"). Only the fields the
//! aggregations need are decoded, borrowed from the record bytes where they need no unescaping; everything else is skipped.
//! A field of the wrong JSON type is reported by name rather than by serde's position message.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::plain_json::{self, Value};
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

/// A JSON number (integer or not).
#[derive(Debug)]
pub struct Num(pub f64);

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

impl<'de> Visitor<'de> for FieldVisitor<Num> {
    type Value = Field<Num>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Field::Value(Num(v as f64)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Field::Value(Num(v as f64)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Field::Value(Num(v)))
    }
    wrong_type_visits! {
        visit_bool(bool) => "boolean", visit_unit() => "null", visit_none() => "null",
        visit_str(&str) => "string", visit_borrowed_str(&'de str) => "string", visit_string(String) => "string",
    }
    wrong_compound_visits!();
}

impl<'de> Deserialize<'de> for Field<Num> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor::<Num>(std::marker::PhantomData))
    }
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
    #[serde(rename = "type", borrow, default)]
    kind: Field<Str<'a>>,
    #[serde(rename = "productId", borrow, default)]
    product_id: Field<Str<'a>>,
}

/// `RawClick` from the plain-JSON fast path, when the record is in its subset and each field we read
/// appears at most once with the type we expect; anything else is left to serde_json and its messages.
fn scan_plain_click(bytes: &[u8]) -> Option<RawClick<'_>> {
    let mut raw = RawClick { user_id: Field::Missing, event_id: Field::Missing, ts: Field::Missing, kind: Field::Missing, product_id: Field::Missing };
    plain_json::scan_object(bytes, |key, value| {
        let str_field = match key {
            b"userId" => &mut raw.user_id,
            b"eventId" => &mut raw.event_id,
            b"type" => &mut raw.kind,
            b"productId" => &mut raw.product_id,
            b"ts" => {
                let (Field::Missing, Value::Int(ts)) = (&raw.ts, value) else { return None };
                raw.ts = Field::Value(Int(ts));
                return Some(());
            }
            _ => return Some(()),
        };
        let (Field::Missing, Value::Str(s)) = (&*str_field, value) else { return None };
        *str_field = Field::Value(Str(Cow::Borrowed(std::str::from_utf8(s).ok()?)));
        Some(())
    })?;
    Some(raw)
}

/// The funnel stage of a click, where it is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClickKind {
    ProductView,
    AddToCart,
    Other,
}

/// The fields of a `user-clicks` event that the aggregations use.
#[derive(Debug, PartialEq, Eq)]
pub struct Click<'a> {
    pub user_id: Cow<'a, str>,
    pub ts: i64,
    pub kind: ClickKind,
    pub product_id: Option<Cow<'a, str>>,
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
    required_named(field, || name.to_owned(), expected)
}

/// `required` for names that are built (say, with an array index) only if there is an error to report.
fn required_named<T>(field: Field<T>, name: impl FnOnce() -> String, expected: &str) -> Result<T, Invalid> {
    match field {
        Field::Missing => Err(Invalid::new(RejectReason::MissingField, format!("missing required field `{}`", name()))),
        Field::Wrong(found) => Err(Invalid::new(RejectReason::WrongType, format!("field `{}` must be {expected}, found {found}", name()))),
        Field::Value(v) => Ok(v),
    }
}

/// An optional field: absent is fine, a wrong type is not.
fn optional<T>(field: Field<T>, name: &str, expected: &str) -> Result<Option<T>, Invalid> {
    match field {
        Field::Missing => Ok(None),
        Field::Wrong(found) => Err(Invalid::new(RejectReason::WrongType, format!("field `{name}` must be {expected}, found {found}"))),
        Field::Value(v) => Ok(Some(v)),
    }
}

fn non_empty<'a>(value: Cow<'a, str>, name: &str) -> Result<Cow<'a, str>, Invalid> {
    if value.is_empty() {
        return Err(Invalid::new(RejectReason::InvalidValue, format!("field `{name}` must not be empty")));
    }
    Ok(value)
}

fn event_time(field: Field<Int>) -> Result<i64, Invalid> {
    let ts = required(field, "ts", "an integer (milliseconds since the epoch)")?.0;
    if !(0..=MAX_TS).contains(&ts) {
        return Err(Invalid::new(RejectReason::InvalidValue, format!("field `ts` must be between 0 and 2^53-1 milliseconds, got {ts}")));
    }
    Ok(ts)
}

fn json_error(err: serde_json::Error) -> Invalid {
    match err.classify() {
        // A valid JSON value that is not an object (an array, a string, …).
        serde_json::error::Category::Data => Invalid::new(RejectReason::WrongType, format!("event must be a JSON object: {err}")),
        _ => Invalid::new(RejectReason::InvalidJson, format!("not valid JSON: {err}")),
    }
}

/// Parses a `user-clicks` record: `userId` (non-empty string), `eventId` (string) and `ts` (integer
/// milliseconds, 0 ≤ ts ≤ 2^53-1) are required; `type` and `productId` are optional strings.
pub fn parse_click(bytes: &[u8]) -> Result<Click<'_>, Invalid> {
    click_from_raw(match scan_plain_click(bytes) {
        Some(raw) => raw,
        None => serde_json::from_slice::<RawClick>(bytes).map_err(json_error)?,
    })
}

fn click_from_raw(raw: RawClick<'_>) -> Result<Click<'_>, Invalid> {
    let user_id = required(raw.user_id, "userId", "a string")?.0;
    required(raw.event_id, "eventId", "a string")?;
    let ts = event_time(raw.ts)?;
    let user_id = non_empty(user_id, "userId")?;
    let kind = match optional(raw.kind, "type", "a string")? {
        Some(Str(t)) if t == "product_view" => ClickKind::ProductView,
        Some(Str(t)) if t == "add_to_cart" => ClickKind::AddToCart,
        _ => ClickKind::Other,
    };
    let product_id = optional(raw.product_id, "productId", "a string")?.map(|p| p.0).filter(|p| !p.is_empty());
    Ok(Click { user_id, ts, kind, product_id })
}

/// One line of an order.
#[derive(Debug, PartialEq, Eq)]
pub struct Item<'a> {
    pub product_id: Cow<'a, str>,
    pub quantity: u64,
}

/// The fields of a `user-purchases` event that the aggregations use.
#[derive(Debug, PartialEq)]
pub struct Purchase<'a> {
    pub user_id: Cow<'a, str>,
    pub ts: i64,
    pub items: Vec<Item<'a>>,
    /// `total` in millionths of the currency unit, so that sums are exact.
    pub total_micros: i64,
    pub currency: Cow<'a, str>,
}

/// The largest order total accepted, so that a window's sum cannot overflow.
pub const MAX_TOTAL: f64 = 1e12;
/// The largest item quantity accepted.
pub const MAX_QUANTITY: i64 = 1_000_000;

#[derive(Default)]
struct RawItem<'a> {
    product_id: Field<Str<'a>>,
    quantity: Field<Int>,
    price: Field<Num>,
}

/// `items`: absent, an array of (possibly malformed) items, or another JSON type.
#[derive(Default)]
enum RawItems<'a> {
    #[default]
    Missing,
    Wrong(&'static str),
    Value(Vec<Field<RawItem<'a>>>),
}

struct ItemVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ItemVisitor<'a> {
    type Value = Field<RawItem<'a>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an order item")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut item = RawItem::default();
        // Keys are borrowed from the record unless they hold escapes; no allocation per item.
        while let Some(key) = map.next_key::<Field<Str<'de>>>()? {
            let key = match &key {
                Field::Value(Str(k)) => k.as_ref(),
                _ => "",
            };
            match key {
                "productId" => item.product_id = map.next_value()?,
                "quantity" => item.quantity = map.next_value()?,
                "price" => item.price = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Field::Value(item))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Wrong("array"))
    }
    wrong_type_visits! {
        visit_bool(bool) => "boolean", visit_i64(i64) => "number", visit_u64(u64) => "number",
        visit_f64(f64) => "number", visit_unit() => "null", visit_none() => "null",
        visit_str(&str) => "string", visit_borrowed_str(&'de str) => "string", visit_string(String) => "string",
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<RawItem<'a>> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ItemVisitor(std::marker::PhantomData))
    }
}

struct ItemsVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ItemsVisitor<'a> {
    type Value = RawItems<'a>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of order items")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(RawItems::Value(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(RawItems::Wrong("object"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(RawItems::Wrong("boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(RawItems::Wrong("number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(RawItems::Wrong("number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(RawItems::Wrong("number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(RawItems::Wrong("string"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RawItems::Wrong("null"))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawItems<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ItemsVisitor(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct RawPurchase<'a> {
    #[serde(rename = "userId", borrow, default)]
    user_id: Field<Str<'a>>,
    #[serde(rename = "eventId", borrow, default)]
    event_id: Field<Str<'a>>,
    #[serde(default)]
    ts: Field<Int>,
    #[serde(borrow, default)]
    items: RawItems<'a>,
    #[serde(default)]
    total: Field<Num>,
    #[serde(borrow, default)]
    currency: Field<Str<'a>>,
}

/// Parses a `user-purchases` record. Besides `userId`, `eventId` and `ts` (as for clicks), the
/// revenue and product aggregations need `items` (an array of `{productId, quantity}` with a
/// non-empty id and a quantity of 1..=1 000 000; `price`, when present, a number), `total` (a number,
/// 0 ≤ total ≤ 10^12) and `currency` (a non-empty string).
pub fn parse_purchase(bytes: &[u8]) -> Result<Purchase<'_>, Invalid> {
    let raw: RawPurchase = serde_json::from_slice(bytes).map_err(json_error)?;
    let user_id = non_empty(required(raw.user_id, "userId", "a string")?.0, "userId")?;
    required(raw.event_id, "eventId", "a string")?;
    let ts = event_time(raw.ts)?;
    let raw_items = match raw.items {
        RawItems::Missing => return Err(Invalid::new(RejectReason::MissingField, "missing required field `items`")),
        RawItems::Wrong(found) => return Err(Invalid::new(RejectReason::WrongType, format!("field `items` must be an array, found {found}"))),
        RawItems::Value(items) => items,
    };
    let mut items = Vec::with_capacity(raw_items.len());
    for (i, item) in raw_items.into_iter().enumerate() {
        let name = |field: &str| format!("items[{i}]{field}");
        let item = required_named(item, || name(""), "an object")?;
        let product_id = required_named(item.product_id, || name(".productId"), "a string")?.0;
        if product_id.is_empty() {
            return Err(Invalid::new(RejectReason::InvalidValue, format!("field `{}` must not be empty", name(".productId"))));
        }
        let quantity = required_named(item.quantity, || name(".quantity"), "an integer")?.0;
        if !(1..=MAX_QUANTITY).contains(&quantity) {
            return Err(Invalid::new(RejectReason::InvalidValue, format!("field `items[{i}].quantity` must be between 1 and {MAX_QUANTITY}, got {quantity}")));
        }
        if let Field::Wrong(found) = item.price {
            return Err(Invalid::new(RejectReason::WrongType, format!("field `{}` must be a number, found {found}", name(".price"))));
        }
        items.push(Item { product_id, quantity: quantity as u64 });
    }
    let total = required(raw.total, "total", "a number")?.0;
    if !(0.0..=MAX_TOTAL).contains(&total) {
        return Err(Invalid::new(RejectReason::InvalidValue, format!("field `total` must be between 0 and {MAX_TOTAL}, got {total}")));
    }
    let currency = non_empty(required(raw.currency, "currency", "a string")?.0, "currency")?;
    Ok(Purchase { user_id, ts, items, total_micros: (total * 1e6).round() as i64, currency })
}

#[derive(Deserialize)]
struct RawSensor<'a> {
    #[serde(rename = "sensorId", borrow, default)]
    sensor_id: Field<Str<'a>>,
    #[serde(rename = "eventId", borrow, default)]
    event_id: Field<Str<'a>>,
    #[serde(default)]
    ts: Field<Int>,
    #[serde(borrow, default)]
    metric: Field<Str<'a>>,
    #[serde(default)]
    value: Field<Num>,
    #[serde(borrow, default)]
    unit: Field<Str<'a>>,
}

/// The fields of a `sensor-data` event that the aggregations use.
#[derive(Debug, PartialEq)]
pub struct Reading<'a> {
    pub sensor_id: Cow<'a, str>,
    pub ts: i64,
    pub metric: Cow<'a, str>,
    pub value: f64,
    /// Empty when the reading names no unit.
    pub unit: Cow<'a, str>,
}

/// Parses a `sensor-data` record: `sensorId` (non-empty string), `eventId`, `ts`, `metric` (non-empty
/// string) and `value` (a number) are required; `unit` is an optional string.
pub fn parse_reading(bytes: &[u8]) -> Result<Reading<'_>, Invalid> {
    let raw: RawSensor = serde_json::from_slice(bytes).map_err(json_error)?;
    let sensor_id = non_empty(required(raw.sensor_id, "sensorId", "a string")?.0, "sensorId")?;
    required(raw.event_id, "eventId", "a string")?;
    let ts = event_time(raw.ts)?;
    let metric = non_empty(required(raw.metric, "metric", "a string")?.0, "metric")?;
    let value = required(raw.value, "value", "a number")?.0;
    let unit = optional(raw.unit, "unit", "a string")?.map_or(Cow::Borrowed(""), |u| u.0);
    Ok(Reading { sensor_id, ts, metric, value, unit })
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

    /// Click records as the load generator writes them, and variants a fuzzer can break.
    const CLICK_SEEDS: [&str; 4] = [
        r#"{"eventId":"0b9e6c1a-5f1d-4c7e-9a51-3c2f4b8d9e01","type":"product_view","userId":"u-4711","sessionId":"s-00af31c2","productId":"p-17","source":"web","ts":1764100000123,"properties":{"category":"shoes","price":39.98}}"#,
        r#"{"eventId":"e-2","type":"search","userId":"u-1","sessionId":"s-1","source":"mobile","ts":1764100000000,"properties":{"query":"red shoes","results":12}}"#,
        r#" { "userId" : "u-é" , "eventId":"e","ts":0,"n":[-1.5e3,true,false,null,{"a":[]}],"type":"add_to_cart"} "#,
        r#"{"eventId":"e","userId":"u","ts":9007199254740991,"productId":""}"#,
    ];

    #[test]
    fn the_plain_json_path_takes_generator_records() {
        for seed in CLICK_SEEDS {
            assert!(scan_plain_click(seed.as_bytes()).is_some(), "{seed}");
        }
        for refused in [r#"{"eventId":"e","userId":"u\"x","ts":1}"#, r#"{"eventId":"e","userId":"u","ts":1,"userId":"v"}"#, r#"{"eventId":"e","userId":"u","ts":1.5e12}"#] {
            assert!(scan_plain_click(refused.as_bytes()).is_none(), "{refused}");
        }
    }

    proptest::proptest! {
        /// Whenever the plain-JSON path answers, serde_json gives the same click or the same rejection.
        #[test]
        fn the_plain_json_path_agrees_with_serde_json(
            seed in 0..CLICK_SEEDS.len(),
            edits in proptest::collection::vec((0usize..400, 0usize..3, proptest::sample::select(b"\"\\,:{}[]01-.eE x\x01\xff\xc3tnu".to_vec())), 0..4),
        ) {
            let mut bytes = CLICK_SEEDS[seed].as_bytes().to_vec();
            for (at, op, b) in edits {
                let at = at % (bytes.len() + 1);
                match op {
                    0 => bytes.insert(at, b),
                    1 if at < bytes.len() => { bytes.remove(at); }
                    _ if at < bytes.len() => bytes[at] = b,
                    _ => {}
                }
            }
            if let Some(raw) = scan_plain_click(&bytes) {
                let serde = serde_json::from_slice::<RawClick>(&bytes).map_err(json_error).and_then(click_from_raw);
                proptest::prop_assert_eq!(click_from_raw(raw), serde, "{}", String::from_utf8_lossy(&bytes));
            }
        }
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
    fn reads_the_funnel_stage_and_product_of_a_click() {
        let view = parse_click(br#"{"eventId":"e","userId":"u","ts":1,"type":"product_view","productId":"p-1"}"#).unwrap();
        assert_eq!((view.kind, view.product_id.as_deref()), (ClickKind::ProductView, Some("p-1")));
        let cart = parse_click(br#"{"eventId":"e","userId":"u","ts":1,"type":"add_to_cart"}"#).unwrap();
        assert_eq!((cart.kind, cart.product_id), (ClickKind::AddToCart, None));
        assert_eq!(parse_click(br#"{"eventId":"e","userId":"u","ts":1,"type":"search"}"#).unwrap().kind, ClickKind::Other);
        assert_eq!(reason(br#"{"eventId":"e","userId":"u","ts":1,"type":7}"#).0, RejectReason::WrongType);
        assert_eq!(reason(br#"{"eventId":"e","userId":"u","ts":1,"productId":["p"]}"#).0, RejectReason::WrongType);
    }

    #[test]
    fn parses_purchases_and_keeps_totals_exact() {
        let p = parse_purchase(
            br#"{"eventId":"e","type":"purchase","userId":"u-1","sessionId":"s","orderId":"o","items":[{"productId":"p-311","quantity":2,"price":19.99},{"productId":"p-2","quantity":1,"extra":{"x":[1]}}],"total":39.98,"currency":"USD","ts":1764100004000}"#,
        )
        .unwrap();
        assert_eq!(p.user_id, "u-1");
        assert_eq!(p.total_micros, 39_980_000);
        assert_eq!(p.currency, "USD");
        assert_eq!(p.items, vec![Item { product_id: "p-311".into(), quantity: 2 }, Item { product_id: "p-2".into(), quantity: 1 }]);
    }

    #[test]
    fn classifies_bad_purchases_and_names_the_field() {
        let bad = |s: &str| {
            let e = parse_purchase(s.as_bytes()).unwrap_err();
            (e.reason, e.detail)
        };
        let base = r#""eventId":"e","userId":"u","ts":1,"currency":"USD""#;
        assert_eq!(bad(&format!(r#"{{{base},"total":1}}"#)), (RejectReason::MissingField, "missing required field `items`".into()));
        assert_eq!(bad(&format!(r#"{{{base},"items":[]}}"#)).0, RejectReason::MissingField);
        assert_eq!(bad(&format!(r#"{{{base},"items":{{}},"total":1}}"#)).0, RejectReason::WrongType);
        assert_eq!(bad(&format!(r#"{{{base},"items":[1],"total":1}}"#)).0, RejectReason::WrongType);
        let (r, d) = bad(&format!(r#"{{{base},"items":[{{"productId":"p","quantity":"2"}}],"total":1}}"#));
        assert_eq!(r, RejectReason::WrongType);
        assert!(d.contains("items[0].quantity"), "{d}");
        assert_eq!(bad(&format!(r#"{{{base},"items":[{{"quantity":2}}],"total":1}}"#)).0, RejectReason::MissingField);
        assert_eq!(bad(&format!(r#"{{{base},"items":[{{"productId":"p","quantity":0}}],"total":1}}"#)).0, RejectReason::InvalidValue);
        assert_eq!(bad(&format!(r#"{{{base},"items":[{{"productId":"p","quantity":1,"price":"1"}}],"total":1}}"#)).0, RejectReason::WrongType);
        assert_eq!(bad(&format!(r#"{{{base},"items":[],"total":"12"}}"#)).0, RejectReason::WrongType);
        assert_eq!(bad(&format!(r#"{{{base},"items":[],"total":-1}}"#)).0, RejectReason::InvalidValue);
        assert_eq!(bad(r#"{"eventId":"e","userId":"u","ts":1,"items":[],"total":1}"#).0, RejectReason::MissingField);
        assert_eq!(bad(r#"{"eventId":"e","ts":1,"items":[],"total":1,"currency":"USD"}"#).0, RejectReason::MissingField);
    }

    #[test]
    fn parses_sensor_readings_and_classifies_bad_ones() {
        let r = parse_reading(br#"{"eventId":"e","sensorId":"fridge-7","metric":"temperature","value":4.2,"unit":"C","ts":1764100000500}"#).unwrap();
        assert_eq!((r.sensor_id.as_ref(), r.metric.as_ref(), r.value, r.unit.as_ref(), r.ts), ("fridge-7", "temperature", 4.2, "C", 1_764_100_000_500));
        assert_eq!(parse_reading(br#"{"eventId":"e","sensorId":"s","metric":"m","value":3,"ts":1}"#).unwrap().unit, "");
        let bad = |s: &[u8]| parse_reading(s).unwrap_err().reason;
        assert_eq!(bad(br#"{"eventId":"e","metric":"m","value":3,"ts":1}"#), RejectReason::MissingField);
        assert_eq!(bad(br#"{"eventId":"e","sensorId":"s","metric":"m","ts":1}"#), RejectReason::MissingField);
        assert_eq!(bad(br#"{"eventId":"e","sensorId":"s","value":1,"ts":1}"#), RejectReason::MissingField);
        assert_eq!(bad(br#"{"eventId":"e","sensorId":"s","metric":"m","value":"hot","ts":1}"#), RejectReason::WrongType);
        assert_eq!(bad(br#"{"eventId":"e","sensorId":"s","metric":"m","value":1,"unit":5,"ts":1}"#), RejectReason::WrongType);
        assert_eq!(bad(br#"{"eventId":"e","sensorId":"","metric":"m","value":1,"ts":1}"#), RejectReason::InvalidValue);
        assert_eq!(bad(b"{oops"), RejectReason::InvalidJson);
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
