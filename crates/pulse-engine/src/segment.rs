//! The collector's fast path for Segment's `/v1/batch`: the whole body parsed, checked and mapped to
//! Pulse records in one pass, without a JavaScript object per event.
//!
//! It only ever says yes when it is sure: the body must be a batch of Segment calls that the JSON
//! schema of `/v1/batch` (packages/collector/src/schemas.ts) lets through and that
//! packages/collector/src/segment.ts maps without an error, and every value it copies must come out
//! byte for byte as `JSON.stringify(JSON.parse(…))` would write it. Anything else (a missing
//! messageId, a number where an id usually is a string, an escape it would have to rewrite, an error
//! to report) is `None`, and the collector takes its JavaScript path, which validates against the
//! schema and answers with the error naming the field.

/// Output kinds, in the packed format of `output.rs` (`kind u8, keyLen u32le, key, valueLen u32le, value`).
pub const KIND_CLICKS: u8 = 0;
pub const KIND_PURCHASES: u8 = 1;
pub const KIND_IDENTITIES: u8 = 2;

const MAX_DEPTH: usize = 32;
const MAX_EVENT_BYTES: usize = 32 * 1024;
const MAX_BATCH_EVENTS: usize = 2500;
/// Event times before 2000-01-01 or more than 5 minutes after arrival are refused (time.ts).
const MIN_EVENT_TIME: i64 = 946_684_800_000;
const MAX_FUTURE_MS: i64 = 5 * 60_000;

/// A mapped batch: records in the packed output format, where each starts, and each one's messageId.
#[derive(Debug, Default)]
pub struct MappedBatch {
    pub packed: Vec<u8>,
    pub starts: Vec<u32>,
    pub ids: Vec<String>,
    pub write_key: Option<String>,
}

/// A JSON value with its text borrowed: strings and numbers as they were written.
#[derive(Debug)]
enum Json<'a> {
    Null,
    Bool(bool),
    /// The number's text, already known to print the same after a round trip through a double.
    Num(&'a [u8]),
    /// The string's text between the quotes, escapes as written (only those JSON.stringify writes).
    Str(&'a [u8]),
    Arr(Vec<Json<'a>>),
    /// Fields in order, and the object's size in bytes as sent.
    Obj(Vec<(&'a [u8], Json<'a>)>, usize),
}

impl<'a> Json<'a> {
    fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Obj(fields, _) => fields.iter().find(|(k, _)| *k == key.as_bytes()).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A plain string: no escapes, so its text is its value.
    fn plain_str(&self) -> Option<&'a str> {
        match self {
            Json::Str(s) if !s.contains(&b'\\') => std::str::from_utf8(s).ok(),
            _ => None,
        }
    }
}

/// `a ?? b` of JavaScript: `None` stands for a missing field, `Json::Null` for null.
fn coalesce<'v, 'a>(a: Option<&'v Json<'a>>, b: Option<&'v Json<'a>>) -> Option<&'v Json<'a>> {
    match a {
        None | Some(Json::Null) => b,
        some => some,
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    fn space(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Option<Json<'a>> {
        self.space();
        match *self.bytes.get(self.at)? {
            b'{' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                let start = self.at;
                self.at += 1;
                let mut fields: Vec<(&'a [u8], Json<'a>)> = Vec::new();
                self.space();
                if self.bytes.get(self.at) == Some(&b'}') {
                    self.at += 1;
                    return Some(Json::Obj(fields, self.at - start));
                }
                loop {
                    self.space();
                    let key = self.string()?;
                    // JavaScript puts integer-like keys first, and the last of duplicate keys wins:
                    // such objects would not be copied as written. Keys with escapes are not compared.
                    if key.contains(&b'\\') || key.first().is_some_and(u8::is_ascii_digit) || fields.iter().any(|(k, _)| *k == key) {
                        return None;
                    }
                    self.space();
                    if self.bytes.get(self.at) != Some(&b':') {
                        return None;
                    }
                    self.at += 1;
                    let v = self.value(depth + 1)?;
                    fields.push((key, v));
                    self.space();
                    match self.bytes.get(self.at)? {
                        b',' => self.at += 1,
                        b'}' => {
                            self.at += 1;
                            return Some(Json::Obj(fields, self.at - start));
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.at += 1;
                let mut items = Vec::new();
                self.space();
                if self.bytes.get(self.at) == Some(&b']') {
                    self.at += 1;
                    return Some(Json::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.space();
                    match self.bytes.get(self.at)? {
                        b',' => self.at += 1,
                        b']' => {
                            self.at += 1;
                            return Some(Json::Arr(items));
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => self.string().map(Json::Str),
            b't' => self.literal(b"true", Json::Bool(true)),
            b'f' => self.literal(b"false", Json::Bool(false)),
            b'n' => self.literal(b"null", Json::Null),
            _ => self.number(),
        }
    }

    fn literal(&mut self, word: &[u8], v: Json<'a>) -> Option<Json<'a>> {
        if self.bytes.get(self.at..self.at + word.len())? == word {
            self.at += word.len();
            Some(v)
        } else {
            None
        }
    }

    /// A string's text; only the escapes JSON.stringify itself writes (`\"`, `\\`, `\b`, `\f`, `\n`,
    /// `\r`, `\t`) are accepted, so the text can be copied as it is.
    fn string(&mut self) -> Option<&'a [u8]> {
        if self.bytes.get(self.at) != Some(&b'"') {
            return None;
        }
        let start = self.at + 1;
        let mut i = start;
        loop {
            let next = i + memchr::memchr2(b'"', b'\\', self.bytes.get(i..)?)?;
            // Raw control characters are not JSON (folded without a branch, so that it vectorises).
            if self.bytes[i..next].iter().fold(false, |bad, &c| bad | (c < 0x20)) {
                return None;
            }
            if self.bytes[next] == b'"' {
                self.at = next + 1;
                return Some(&self.bytes[start..next]);
            }
            if !matches!(self.bytes.get(next + 1)?, b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't') {
                return None;
            }
            i = next + 2;
        }
    }

    /// Numbers whose text is what JavaScript prints for them: no exponent, no `-0`, no leading or
    /// trailing zeros, at most 15 significant digits (so the double holds exactly that decimal), and
    /// not below 1e-6 (printed with an exponent).
    fn number(&mut self) -> Option<Json<'a>> {
        let start = self.at;
        let b = self.bytes;
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        let int_start = i;
        i = digits_end(b, i);
        let int = &b[int_start..i];
        if int.is_empty() || (int.len() > 1 && int[0] == b'0') {
            return None;
        }
        let mut digits = if int == b"0" { 0 } else { int.len() };
        if b.get(i) == Some(&b'.') {
            i += 1;
            let frac_start = i;
            i = digits_end(b, i);
            let frac = &b[frac_start..i];
            if frac.is_empty() || frac.last() == Some(&b'0') {
                return None;
            }
            if int == b"0" {
                let zeros = frac.iter().take_while(|&&d| d == b'0').count();
                if zeros > 5 {
                    return None;
                }
                digits = frac.len() - zeros;
            } else {
                digits += frac.len();
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) || digits > 15 || &b[start..i] == b"-0" {
            return None;
        }
        self.at = i;
        Some(Json::Num(&b[start..i]))
    }
}

/// Where the run of ASCII digits that starts at `from` ends.
fn digits_end(b: &[u8], from: usize) -> usize {
    from + b[from..].iter().take_while(|d| d.is_ascii_digit()).count()
}

/// Writes a value as JSON.stringify would (the parser accepted only what it copies unchanged).
fn write_json(out: &mut Vec<u8>, v: &Json<'_>) {
    match v {
        Json::Null => out.extend_from_slice(b"null"),
        Json::Bool(true) => out.extend_from_slice(b"true"),
        Json::Bool(false) => out.extend_from_slice(b"false"),
        Json::Num(n) => out.extend_from_slice(n),
        Json::Str(s) => write_str(out, s),
        Json::Arr(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(out, item);
            }
            out.push(b']');
        }
        Json::Obj(fields, _) => write_fields(out, fields.iter().map(|(k, v)| (*k, v))),
    }
}

fn write_fields<'v, 'a: 'v>(out: &mut Vec<u8>, fields: impl Iterator<Item = (&'v [u8], &'v Json<'a>)>) {
    out.push(b'{');
    let mut first = true;
    for (k, v) in fields {
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(out, k);
        out.push(b':');
        write_json(out, v);
    }
    out.push(b'}');
}

fn write_str(out: &mut Vec<u8>, text: &[u8]) {
    out.push(b'"');
    out.extend_from_slice(text);
    out.push(b'"');
}

/// `2025-11-25T19:45:00.123Z` as epoch ms; other forms (and impossible dates) are left to JavaScript.
fn iso_time(v: &[u8]) -> Option<i64> {
    if v.len() != 24 || v[4] != b'-' || v[7] != b'-' || v[10] != b'T' || v[13] != b':' || v[16] != b':' || v[19] != b'.' || v[23] != b'Z' {
        return None;
    }
    let num = |from: usize, len: usize| -> Option<i64> {
        v[from..from + len].iter().try_fold(0i64, |n, &d| d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0')))
    };
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second, ms) = (num(11, 2)?, num(14, 2)?, num(17, 2)?, num(20, 3)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if year < 1970 || !(1..=12).contains(&month) || day < 1 || day > days_in_month[(month - 1) as usize] || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days since the epoch (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + ms)
}

/// A time field: absent, or a string the fast parser reads (else the caller gives up).
fn time_field(call: &Json<'_>, key: &str) -> Result<Option<i64>, ()> {
    match call.get(key) {
        None => Ok(None),
        Some(Json::Str(s)) => iso_time(s).map(Some).ok_or(()),
        Some(_) => Err(()),
    }
}

/// `present(x)` of segment.ts for the id fields: a non-empty plain string, or none for null/absent/"".
fn user_id<'a>(v: Option<&Json<'a>>) -> Result<Option<&'a str>, ()> {
    match v {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Str([])) => Ok(None),
        Some(s @ Json::Str(raw)) if raw.len() <= 1024 => s.plain_str().map(Some).ok_or(()),
        _ => Err(()),
    }
}

/// `idValue` of segment.ts, for strings only (a number would need JavaScript's number printing).
fn id_value<'v, 'a>(v: Option<&'v Json<'a>>) -> Result<Option<&'v Json<'a>>, ()> {
    match v {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Str([])) => Ok(None),
        Some(s @ Json::Str(_)) => Ok(Some(s)),
        _ => Err(()),
    }
}

/// `amount` of segment.ts: a number of at least 0, none when absent or null.
fn amount<'v, 'a>(v: Option<&'v Json<'a>>) -> Result<Option<&'v [u8]>, ()> {
    match v {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Num(n)) if n[0] != b'-' => Ok(Some(n)),
        _ => Err(()),
    }
}

fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    hay.as_bytes().windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// `sourceOf` of segment.ts (its patterns have only ASCII letters, matched case-insensitively).
fn source_of(context: Option<&Json<'_>>) -> Result<&'static str, ()> {
    let Some(context) = context else { return Ok("server") };
    let nested = |a: &str, b: &str| match context.get(a) {
        Some(inner @ Json::Obj(..)) => inner.get(b),
        _ => None,
    };
    if let Some(device @ Json::Str(_)) = nested("device", "type") {
        let device = device.plain_str().ok_or(())?;
        if device.eq_ignore_ascii_case("ios") || device.eq_ignore_ascii_case("android") {
            return Ok("mobile");
        }
    }
    let kind = match nested("library", "name") {
        Some(library @ Json::Str(_)) => {
            let library = library.plain_str().ok_or(())?;
            if ["ios", "android", "react-native", "flutter", "swift", "kotlin", "xamarin"].iter().any(|m| contains_ignore_case(library, m)) {
                "mobile"
            } else if library.len() >= 12 && library.as_bytes()[..9].eq_ignore_ascii_case(b"analytics") && matches!(library.as_bytes()[9], b'.' | b'-') {
                let rest = &library.as_bytes()[10..];
                if rest[..2].eq_ignore_ascii_case(b"js") || rest.len() >= 4 && rest[..4].eq_ignore_ascii_case(b"next") {
                    "web"
                } else {
                    "server"
                }
            } else {
                "server"
            }
        }
        _ => "server",
    };
    Ok(if kind == "server" && (context.get("page").is_some() || context.get("userAgent").is_some()) { "web" } else { kind })
}

/// The spec's e-commerce events (segment.ts SPEC_EVENTS), matched on the lower-cased name with `_` as a space.
fn track_type(name: &str) -> Option<&'static str> {
    const SPEC: [(&str, &str); 7] = [
        ("product viewed", "product_view"),
        ("product clicked", "click"),
        ("product added", "add_to_cart"),
        ("product removed", "remove_from_cart"),
        ("products searched", "search"),
        ("checkout started", "checkout_started"),
        ("order completed", "purchase"),
    ];
    let normal = |c: u8| if c == b'_' { b' ' } else { c.to_ascii_lowercase() };
    SPEC.iter().find(|(spec, _)| spec.len() == name.len() && spec.bytes().zip(name.bytes()).all(|(s, c)| s == normal(c))).map(|(_, t)| *t)
}

/// Writes `"name":value` fields of the record head: eventId, type, userId, then sessionId if any.
fn head(out: &mut Vec<u8>, event_id: &[u8], pulse_type: &str, user: &str, session: Option<&Json<'_>>) {
    out.extend_from_slice(b"{\"eventId\":");
    write_str(out, event_id);
    out.extend_from_slice(b",\"type\":");
    write_str(out, pulse_type.as_bytes());
    out.extend_from_slice(b",\"userId\":");
    write_str(out, user.as_bytes());
    if let Some(s) = session {
        out.extend_from_slice(b",\"sessionId\":");
        write_json(out, s);
    }
}

fn tail(out: &mut Vec<u8>, source: Option<&str>, ts: i64) {
    if let Some(source) = source {
        out.extend_from_slice(b",\"source\":\"");
        out.extend_from_slice(source.as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b",\"ts\":");
    out.extend_from_slice(itoa::Buffer::new().format(ts).as_bytes());
}

/// The properties minus the fields that became the record's own.
fn rest<'v, 'a>(props: &'v [(&'a [u8], Json<'a>)], taken: &[&str]) -> Vec<(&'a [u8], &'v Json<'a>)> {
    props.iter().filter(|(k, _)| !taken.iter().any(|t| t.as_bytes() == *k)).map(|(k, v)| (*k, v)).collect()
}

struct Envelope<'v, 'a> {
    received_at: i64,
    sent_at: Option<i64>,
    context: Option<&'v Json<'a>>,
}

/// One call as segment.ts `mapSegmentCall` maps it: (kind, key, value), or `Err` to leave it to JavaScript.
fn map_call(call: &Json<'_>, env: &Envelope<'_, '_>, value: &mut Vec<u8>) -> Result<u8, ()> {
    const NO_FIELDS: &[(&[u8], Json<'static>)] = &[];
    let call_type = call.get("type").and_then(Json::plain_str).ok_or(())?;
    // Schema checks of the common fields (schemas.ts segmentFields), as far as they matter here.
    for key in ["context", "integrations", "properties", "traits"] {
        if !matches!(call.get(key), None | Some(Json::Obj(..))) {
            return Err(());
        }
    }
    let user = match user_id(call.get("userId"))? {
        Some(u) => u,
        None => user_id(call.get("anonymousId"))?.ok_or(())?,
    };
    // The other id field is still held to its schema.
    user_id(call.get("anonymousId"))?;
    let event_id = match call.get("messageId") {
        Some(Json::Str(s)) if !s.is_empty() && s.len() <= 256 && !s.contains(&b'\\') => *s,
        _ => return Err(()),
    };
    let sent_at = time_field(call, "sentAt")?.or(env.sent_at);
    // Both are held to the schema, even when `timestamp` is the one used.
    let original = time_field(call, "originalTimestamp")?;
    let timestamp = time_field(call, "timestamp")?.or(original);
    let ts = match timestamp {
        None => env.received_at,
        Some(t) => {
            let ts = sent_at.map_or(t, |s| env.received_at - (s - t));
            if !(MIN_EVENT_TIME..=env.received_at + MAX_FUTURE_MS).contains(&ts) {
                return Err(());
            }
            ts
        }
    };
    if let "identify" | "group" | "alias" = call_type {
        return identity(call, call_type, event_id, user, ts, value).map(|()| KIND_IDENTITIES);
    }
    let context = call.get("context").or(env.context);
    let props: &[(&[u8], Json<'_>)] = match call.get("properties") {
        Some(Json::Obj(fields, _)) => fields,
        _ => NO_FIELDS,
    };
    let prop = |key: &str| props.iter().find(|(k, _)| *k == key.as_bytes()).map(|(_, v)| v);
    let session = match id_value(coalesce(prop("sessionId"), prop("session_id")))? {
        Some(s) => Some(s),
        None => match coalesce(context.and_then(|c| c.get("sessionId")), context.and_then(|c| c.get("session_id"))) {
            Some(s @ Json::Str(_)) => Some(s),
            Some(Json::Num(_)) => return Err(()),
            _ => None,
        },
    };
    let source = source_of(context)?;

    match call_type {
        "page" | "screen" => {
            for key in ["name", "category"] {
                match call.get(key) {
                    None => {}
                    Some(Json::Str(s)) if s.len() <= 1024 => {}
                    _ => return Err(()),
                }
            }
            let mut properties = rest(props, &["sessionId", "session_id"]);
            let page_path = context.and_then(|c| match c.get("page") {
                Some(p @ Json::Obj(..)) => p.get("path"),
                _ => None,
            });
            // The page's path; a screen's name plays that part in an app.
            let page = if call_type == "screen" { call.get("name") } else { coalesce(prop("path"), page_path) };
            let extra = [("page", page), ("name", call.get("name")), ("category", call.get("category"))];
            for (key, v) in extra {
                if let Some(v) = v {
                    if !properties.iter().any(|(k, _)| *k == key.as_bytes()) {
                        properties.push((key.as_bytes(), v));
                    }
                }
            }
            head(value, event_id, "page_view", user, session);
            tail(value, Some(source), ts);
            value.extend_from_slice(b",\"properties\":");
            write_fields(value, properties.into_iter());
            value.push(b'}');
            Ok(KIND_CLICKS)
        }
        "track" => {
            let name = match call.get("event") {
                Some(e @ Json::Str(s)) if !s.is_empty() && s.len() <= 256 => e.plain_str().filter(|n| n.is_ascii()).ok_or(())?,
                _ => return Err(()),
            };
            match track_type(name) {
                Some("purchase") => purchase(props, event_id, user, session, ts, value).map(|()| KIND_PURCHASES),
                Some(t @ ("search" | "checkout_started")) => {
                    head(value, event_id, t, user, session);
                    tail(value, Some(source), ts);
                    value.extend_from_slice(b",\"properties\":");
                    write_fields(value, rest(props, &["sessionId", "session_id"]).into_iter());
                    value.push(b'}');
                    Ok(KIND_CLICKS)
                }
                None => {
                    let name_value = Json::Str(name.as_bytes());
                    let mut properties = rest(props, &["sessionId", "session_id"]);
                    match properties.iter_mut().find(|(k, _)| *k == b"event") {
                        Some(field) => field.1 = &name_value,
                        None => properties.push((b"event", &name_value)),
                    }
                    head(value, event_id, "click", user, session);
                    tail(value, Some(source), ts);
                    value.extend_from_slice(b",\"properties\":");
                    write_fields(value, properties.into_iter());
                    value.push(b'}');
                    Ok(KIND_CLICKS)
                }
                Some(t) => {
                    let product = id_value(coalesce(coalesce(prop("product_id"), prop("productId")), prop("sku")))?;
                    head(value, event_id, t, user, session);
                    if let Some(p) = product {
                        value.extend_from_slice(b",\"productId\":");
                        write_json(value, p);
                    }
                    tail(value, Some(source), ts);
                    value.extend_from_slice(b",\"properties\":");
                    write_fields(value, rest(props, &["product_id", "productId", "sku", "sessionId", "session_id"]).into_iter());
                    value.push(b'}');
                    Ok(KIND_CLICKS)
                }
            }
        }
        _ => Err(()),
    }
}

/// An id the schema requires: a non-empty string (a number would need JavaScript's number printing).
fn required_id<'v, 'a>(v: Option<&'v Json<'a>>) -> Result<&'v Json<'a>, ()> {
    match v {
        Some(s @ Json::Str(raw)) if !raw.is_empty() && raw.len() <= 1024 => Ok(s),
        _ => Err(()),
    }
}

/// identify, group and alias calls, to the identities topic, as segment.ts writes them.
fn identity(call: &Json<'_>, call_type: &str, event_id: &[u8], user: &str, ts: i64, value: &mut Vec<u8>) -> Result<(), ()> {
    head(value, event_id, call_type, user, None);
    let traits = |value: &mut Vec<u8>| {
        value.extend_from_slice(b",\"traits\":");
        match call.get("traits") {
            Some(t) => write_json(value, t),
            None => value.extend_from_slice(b"{}"),
        }
    };
    match call_type {
        "alias" => {
            // The schema requires the alias's own userId (an anonymousId does not stand in).
            if !matches!(user_id(call.get("userId")), Ok(Some(_))) {
                return Err(());
            }
            value.extend_from_slice(b",\"previousId\":");
            write_json(value, required_id(call.get("previousId"))?);
        }
        "group" => {
            value.extend_from_slice(b",\"groupId\":");
            write_json(value, required_id(call.get("groupId"))?);
            traits(value);
        }
        _ => {
            if let Some(anonymous) = user_id(call.get("anonymousId"))? {
                value.extend_from_slice(b",\"anonymousId\":");
                write_str(value, anonymous.as_bytes());
            }
            traits(value);
        }
    }
    tail(value, None, ts);
    value.push(b'}');
    Ok(())
}

/// `Order Completed` as segment.ts `purchase` writes it.
fn purchase(props: &[(&[u8], Json<'_>)], event_id: &[u8], user: &str, session: Option<&Json<'_>>, ts: i64, value: &mut Vec<u8>) -> Result<(), ()> {
    let prop = |key: &str| props.iter().find(|(k, _)| *k == key.as_bytes()).map(|(_, v)| v);
    let order = id_value(coalesce(prop("order_id"), prop("orderId")))?.ok_or(())?;
    let products: &[Json<'_>] = match prop("products") {
        None => &[],
        Some(Json::Arr(items)) => items,
        _ => return Err(()),
    };
    let mut items = Vec::with_capacity(products.len());
    let mut sum = 0f64;
    for p in products {
        let Json::Obj(..) = p else { return Err(()) };
        let product = id_value(coalesce(coalesce(p.get("product_id"), p.get("productId")), p.get("sku")))?.ok_or(())?;
        let quantity: &[u8] = match p.get("quantity") {
            None | Some(Json::Null) => b"1",
            Some(Json::Num(n)) if n[0] != b'-' && n[0] != b'0' && !n.contains(&b'.') => n,
            _ => return Err(()),
        };
        let price = amount(p.get("price"))?.ok_or(())?;
        let q: f64 = std::str::from_utf8(quantity).map_err(|_| ())?.parse().map_err(|_| ())?;
        let pr: f64 = std::str::from_utf8(price).map_err(|_| ())?.parse().map_err(|_| ())?;
        sum += q * pr;
        items.push((product, quantity, price));
    }
    let others = rest(props, &["order_id", "orderId", "products", "total", "currency", "sessionId", "session_id"]);
    let other = |key: &str| others.iter().find(|(k, _)| *k == key.as_bytes()).map(|(_, v)| *v);
    let total_given = match amount(prop("total"))? {
        Some(t) => Some(t),
        None => match amount(other("revenue"))? {
            Some(t) => Some(t),
            None => amount(other("value"))?,
        },
    };
    let currency = match prop("currency") {
        None => "USD".to_owned(),
        Some(Json::Str(c)) if c.len() == 3 && c.iter().all(u8::is_ascii_alphabetic) => String::from_utf8_lossy(c).to_ascii_uppercase(),
        _ => return Err(()),
    };
    head(value, event_id, "purchase", user, session);
    value.extend_from_slice(b",\"orderId\":");
    write_json(value, order);
    value.extend_from_slice(b",\"items\":[");
    for (i, (product, quantity, price)) in items.iter().enumerate() {
        if i > 0 {
            value.push(b',');
        }
        value.extend_from_slice(b"{\"productId\":");
        write_json(value, product);
        value.extend_from_slice(b",\"quantity\":");
        value.extend_from_slice(quantity);
        value.extend_from_slice(b",\"price\":");
        value.extend_from_slice(price);
        value.push(b'}');
    }
    value.extend_from_slice(b"],\"total\":");
    match total_given {
        Some(t) => value.extend_from_slice(t),
        None => write_js_number(value, (sum * 100.0).round() / 100.0)?,
    }
    value.extend_from_slice(b",\"currency\":");
    write_str(value, currency.as_bytes());
    tail(value, None, ts);
    if !others.is_empty() {
        value.extend_from_slice(b",\"properties\":");
        write_fields(value, others.into_iter());
    }
    value.push(b'}');
    Ok(())
}

/// A computed total as JavaScript prints it, for the values where ryu's shortest digits are printed
/// the same way (no exponent); others are left to JavaScript.
fn write_js_number(out: &mut Vec<u8>, n: f64) -> Result<(), ()> {
    if !n.is_finite() || n < 0.0 {
        return Err(());
    }
    if n == n.trunc() && n < 1e15 {
        out.extend_from_slice(itoa::Buffer::new().format(n as i64).as_bytes());
        return Ok(());
    }
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(n);
    if text.contains('e') || n < 1e-6 {
        return Err(());
    }
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

/// Parses, checks and maps a whole `/v1/batch` body; `None` whenever JavaScript must decide.
pub fn map_segment_batch(body: &[u8], received_at: i64) -> Option<MappedBatch> {
    std::str::from_utf8(body).ok()?;
    let mut parser = Parser { bytes: body, at: 0 };
    let root = parser.value(0)?;
    parser.space();
    if parser.at != body.len() {
        return None;
    }
    let Json::Obj(fields, _) = &root else { return None };
    let mut batch = None;
    let mut out = MappedBatch::default();
    for (key, v) in fields {
        match (*key, v) {
            (b"batch", Json::Arr(items)) if !items.is_empty() && items.len() <= MAX_BATCH_EVENTS => batch = Some(items),
            (b"sentAt", Json::Str(s)) if s.len() <= 64 => {}
            (b"context" | b"integrations", Json::Obj(..)) => {}
            (b"writeKey", w @ Json::Str(_)) => out.write_key = Some(w.plain_str()?.to_owned()),
            (b"batch" | b"sentAt" | b"context" | b"integrations" | b"writeKey", _) => return None,
            _ => {}
        }
    }
    let batch = batch?;
    let env = Envelope {
        received_at,
        sent_at: match root.get("sentAt") {
            None => None,
            Some(Json::Str(s)) => Some(iso_time(s)?),
            Some(_) => return None,
        },
        context: root.get("context"),
    };
    out.packed.reserve(body.len());
    out.starts.reserve(batch.len());
    out.ids.reserve(batch.len());
    let mut value = Vec::with_capacity(1024);
    for call in batch {
        let Json::Obj(_, bytes) = call else { return None };
        if *bytes > MAX_EVENT_BYTES {
            return None;
        }
        value.clear();
        let kind = map_call(call, &env, &mut value).ok()?;
        let Json::Str(id) = call.get("messageId")? else { return None };
        let user = user_id(call.get("userId")).ok()?.or(user_id(call.get("anonymousId")).ok()?)?;
        out.starts.push(u32::try_from(out.packed.len()).ok()?);
        out.packed.push(kind);
        out.packed.extend_from_slice(&u32::try_from(user.len()).ok()?.to_le_bytes());
        out.packed.extend_from_slice(user.as_bytes());
        out.packed.extend_from_slice(&u32::try_from(value.len()).ok()?.to_le_bytes());
        out.packed.extend_from_slice(&value);
        out.ids.push(String::from_utf8_lossy(id).into_owned());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_100_000_000;

    fn values(body: &str) -> Option<Vec<(u8, String, String)>> {
        let m = map_segment_batch(body.as_bytes(), NOW)?;
        Some(
            m.starts
                .iter()
                .map(|&at| {
                    let (kind, key, value, _) = read(&m.packed, at as usize);
                    (kind, key, value)
                })
                .collect(),
        )
    }

    fn read(packed: &[u8], at: usize) -> (u8, String, String, usize) {
        let key_len = u32::from_le_bytes(packed[at + 1..at + 5].try_into().unwrap()) as usize;
        let v = at + 5 + key_len;
        let value_len = u32::from_le_bytes(packed[v..v + 4].try_into().unwrap()) as usize;
        let text = |r: std::ops::Range<usize>| String::from_utf8(packed[r].to_vec()).unwrap();
        (packed[at], text(at + 5..v), text(v + 4..v + 4 + value_len), v + 4 + value_len)
    }

    #[test]
    fn reads_iso_times_as_javascript_does() {
        assert_eq!(iso_time(b"2025-11-25T19:46:40.000Z"), Some(NOW));
        assert_eq!(iso_time(b"2024-02-29T00:00:00.001Z"), Some(1_709_164_800_001));
        assert_eq!(iso_time(b"2025-02-29T00:00:00.000Z"), None);
        assert_eq!(iso_time(b"2025-11-25T19:46:40Z"), None);
    }

    #[test]
    fn copies_only_numbers_javascript_prints_the_same() {
        let canonical = |n: &str| Parser { bytes: n.as_bytes(), at: 0 }.number().is_some();
        for ok in ["0", "-1", "19.99", "0.000001", "123456789012345"] {
            assert!(canonical(ok), "{ok}");
        }
        for not in ["-0", "1.0", "01", "1e3", "0.0000001", "1234567890123456", "1."] {
            assert!(!canonical(not), "{not}");
        }
    }

    #[test]
    fn maps_track_and_order_calls() {
        let body = r#"{"batch":[
            {"type":"track","event":"Product Viewed","userId":"u-1","messageId":"m1","timestamp":"2025-11-25T19:46:39.000Z",
             "context":{"library":{"name":"analytics.js"}},"properties":{"product_id":"p-3","sessionId":"s-1","price":2.5}},
            {"type":"track","event":"Order Completed","anonymousId":"a-1","messageId":"m2",
             "properties":{"order_id":"o-1","products":[{"sku":"p-3","quantity":3,"price":0.1}],"coupon":"X"}}],
            "sentAt":"2025-11-25T19:46:40.000Z"}"#;
        let v = values(body).unwrap();
        assert_eq!(v[0].0, KIND_CLICKS);
        assert_eq!(v[0].1, "u-1");
        assert_eq!(
            v[0].2,
            r#"{"eventId":"m1","type":"product_view","userId":"u-1","sessionId":"s-1","productId":"p-3","source":"web","ts":1764099999000,"properties":{"price":2.5}}"#
        );
        assert_eq!(v[1].0, KIND_PURCHASES);
        assert_eq!(
            v[1].2,
            r#"{"eventId":"m2","type":"purchase","userId":"a-1","orderId":"o-1","items":[{"productId":"p-3","quantity":3,"price":0.1}],"total":0.3,"currency":"USD","ts":1764100000000,"properties":{"coupon":"X"}}"#
        );
    }

    #[test]
    fn leaves_what_it_cannot_decide_to_javascript() {
        let one = |call: &str| map_segment_batch(format!(r#"{{"batch":[{call}]}}"#).as_bytes(), NOW);
        assert!(one(r#"{"type":"track","event":"x","userId":"u","messageId":"m"}"#).is_some());
        for call in [
            r#"{"type":"alias","anonymousId":"a","previousId":"p","messageId":"m"}"#,
            r#"{"type":"track","event":"x","userId":"u"}"#,
            r#"{"type":"track","event":"x","userId":7,"messageId":"m"}"#,
            r#"{"type":"track","event":"x","userId":"u","messageId":"m","properties":{"a":1,"a":2}}"#,
            r#"{"type":"track","event":"x","userId":"u","messageId":"m","properties":{"a":"\u0041"}}"#,
            r#"{"type":"track","event":"x","userId":"u","messageId":"m","timestamp":"2099-01-01T00:00:00.000Z"}"#,
            r#"{"type":"track","event":"x","userId":"u","messageId":"m","context":null}"#,
        ] {
            assert!(one(call).is_none(), "{call}");
        }
    }
}
