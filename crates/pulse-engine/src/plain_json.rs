//! A fast path for the common shape of input events: one JSON object whose strings need no unescaping.
//! It checks everything it passes over by JSON's grammar and hands each top-level field to the caller;
//! on anything it does not handle (an escape, a control character, invalid UTF-8, a key the caller
//! refuses, deep nesting, …) it gives up with `None`, and the caller parses the record with serde_json,
//! which then accepts or reports it exactly as it always does. So this module never decides an error.

/// The value of a top-level field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// The bytes between the quotes: valid UTF-8, with no escape or control character.
    Str(&'a [u8]),
    /// A number written as digits only, with no sign, fraction or exponent (at most 18 digits).
    Int(i64),
    /// Any other valid value (a negative or fractional number, a literal, an object, an array).
    Other,
}

/// Nesting below the top-level object that the scanner follows before giving up.
const MAX_DEPTH: usize = 32;

/// Scans `bytes` as one JSON object, calling `field(key, value)` for each member in order (the key as
/// the bytes between its quotes). Returns `None` (give up) when the text is not in the handled subset
/// or `field` returns `None`.
pub fn scan_object<'a>(bytes: &'a [u8], mut field: impl FnMut(&'a [u8], Value<'a>) -> Option<()>) -> Option<()> {
    let mut s = Scanner { bytes, at: 0 };
    s.skip_ws();
    s.expect(b'{')?;
    if !s.closes(b'}') {
        loop {
            let key = s.key()?;
            let value = match s.peek()? {
                b'"' => {
                    s.at += 1;
                    Value::Str(s.string()?)
                }
                b'0'..=b'9' => s.number()?,
                _ => {
                    s.skip_value(0)?;
                    Value::Other
                }
            };
            field(key, value)?;
            if !s.more(b'}')? {
                break;
            }
        }
    }
    s.skip_ws();
    (s.at == bytes.len()).then_some(())
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// Right after an opening `{` or `[`: consumes `close` (and the whitespace before it) if the
    /// object or array is empty.
    fn closes(&mut self, close: u8) -> bool {
        self.skip_ws();
        let empty = self.peek() == Some(close);
        self.at += usize::from(empty);
        empty
    }

    /// `"key":` of an object member, with the whitespace after the key and after the colon.
    fn key(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let key = self.string()?;
        self.skip_ws();
        self.expect(b':')?;
        self.skip_ws();
        Some(key)
    }

    /// After a member or element: `true` at a comma (another follows), `false` at `close`.
    fn more(&mut self, close: u8) -> Option<bool> {
        self.skip_ws();
        match self.next()? {
            b',' => {
                self.skip_ws();
                Some(true)
            }
            b if b == close => Some(false),
            _ => None,
        }
    }

    /// The rest of a string whose opening quote is consumed, up to and past its closing quote. Its bytes
    /// are checked as UTF-8 only when one is not ASCII: most strings are keys or skipped, never read as text.
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        let mut ascii = true;
        loop {
            self.at += plain_ascii_run(&self.bytes[self.at..]);
            match self.next()? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => ascii = false,
            }
        }
        let raw = &self.bytes[start..self.at - 1];
        (ascii || std::str::from_utf8(raw).is_ok()).then_some(raw)
    }

    /// A number starting at a digit: `Value::Int` if it is digits only, else checked and `Value::Other`.
    fn number(&mut self) -> Option<Value<'a>> {
        let start = self.at;
        let mut n: i64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            n = n * 10 + i64::from(d - b'0');
            self.at += 1;
            if self.at - start > 18 {
                return None;
            }
        }
        // JSON forbids leading zeros.
        if self.bytes[start] == b'0' && self.at - start > 1 {
            return None;
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            self.number_tail()?;
            return Some(Value::Other);
        }
        Some(Value::Int(n))
    }

    /// Fraction and exponent of a number whose integer part is consumed.
    fn number_tail(&mut self) -> Option<()> {
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.digits()?;
        }
        Some(())
    }

    /// One or more digits.
    fn digits(&mut self) -> Option<()> {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        (self.at > start).then_some(())
    }

    /// Any JSON value, checked and skipped.
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        match self.next()? {
            b'"' => self.string().map(drop),
            b'-' => {
                if !matches!(self.peek(), Some(b'0'..=b'9')) {
                    return None;
                }
                self.number().map(drop)
            }
            b'0'..=b'9' => {
                self.at -= 1;
                self.number().map(drop)
            }
            b't' => self.literal(b"rue"),
            b'f' => self.literal(b"alse"),
            b'n' => self.literal(b"ull"),
            open @ (b'{' | b'[') => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                let close = if open == b'{' { b'}' } else { b']' };
                if self.closes(close) {
                    return Some(());
                }
                loop {
                    if open == b'{' {
                        self.key()?;
                    }
                    self.skip_value(depth + 1)?;
                    if !self.more(close)? {
                        return Some(());
                    }
                }
            }
            _ => None,
        }
    }

    fn literal(&mut self, rest: &[u8]) -> Option<()> {
        let end = self.at + rest.len();
        (self.bytes.get(self.at..end)? == rest).then(|| self.at = end)
    }
}

/// How many bytes at the start of `bytes` are printable ASCII other than `"` and `\\`, eight at a
/// time: a word's first byte that is a quote, a backslash, a control character or not ASCII is found
/// with the has-zero-byte trick (exact for the lowest such byte, which is the one that counts).
fn plain_ascii_run(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let mut chunks = bytes.chunks_exact(8);
    let mut run = 0;
    for chunk in &mut chunks {
        let v = u64::from_le_bytes(chunk.try_into().expect("chunks of eight"));
        let special = zero_byte(v ^ (ONES * u64::from(b'"'))) | zero_byte(v ^ (ONES * u64::from(b'\\'))) | (v.wrapping_sub(ONES * 0x20) & !v & HIGHS) | (v & HIGHS);
        if special != 0 {
            return run + special.trailing_zeros() as usize / 8;
        }
        run += 8;
    }
    run + chunks.remainder().iter().take_while(|&&b| (0x20..0x80).contains(&b) && b != b'"' && b != b'\\').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Option<Vec<(String, Value<'_>)>> {
        let mut out = Vec::new();
        scan_object(text.as_bytes(), |k, v| {
            out.push((String::from_utf8(k.to_vec()).unwrap(), v));
            Some(())
        })?;
        Some(out)
    }

    #[test]
    fn reads_the_top_level_fields_of_a_plain_object() {
        let got = fields(r#" {"a":"x", "b" : 12,"c":{"d":[1,2.5,-3e-2,true,false,null,{}]},"e":[],"f":"é"} "#).unwrap();
        assert_eq!(
            got,
            vec![
                ("a".into(), Value::Str(b"x")),
                ("b".into(), Value::Int(12)),
                ("c".into(), Value::Other),
                ("e".into(), Value::Other),
                ("f".into(), Value::Str("é".as_bytes())),
            ]
        );
        assert_eq!(fields("{}").unwrap(), vec![]);
        assert_eq!(fields(r#"{"n":1.5,"m":-2,"z":0}"#).unwrap(), vec![("n".into(), Value::Other), ("m".into(), Value::Other), ("z".into(), Value::Int(0))]);
    }

    #[test]
    fn finds_the_first_byte_that_ends_a_plain_run() {
        let plain = b"abcdefghijklmnopqrstuvwxyz 0123456789";
        for len in 0..plain.len() {
            for stop in [b'"', b'\\', 0x00, 0x1f, 0x7f, 0x80, 0xff] {
                let mut text = plain[..len].to_vec();
                text.push(stop);
                text.extend_from_slice(b"tail\"x");
                let expected = if stop == 0x7f { len + 1 + 4 } else { len };
                assert_eq!(plain_ascii_run(&text), expected, "stop {stop:#x} after {len}");
            }
            assert_eq!(plain_ascii_run(&plain[..len]), len);
        }
    }

    #[test]
    fn gives_up_on_what_it_does_not_handle() {
        for text in [
            r#"{"a":"x\"y"}"#,       // escape
            "{\"a\":\"x\u{1}\"}",    // control character
            r#"{"a\u0041":1}"#,      // escaped key
            r#"{"a":01}"#,           // leading zero
            r#"{"a":1234567890123456789}"#, // more digits than i64 surely holds
            r#"{"a":1.}"#,
            r#"{"a":1e}"#,
            r#"{"a":-}"#,
            r#"{"a":tru}"#,
            r#"{"a":1,}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":{"b"}}"#,
            r#"{"a":1}x"#,
            r#"{"a":1"#,
            r#"[1]"#,
            "",
            &format!(r#"{{"a":{}1{}}}"#, "[".repeat(40), "]".repeat(40)),
        ] {
            assert_eq!(fields(text), None, "{text}");
        }
        assert_eq!(scan_object(b"{\"a\":\"\xff\"}", |_, _| Some(())), None, "invalid UTF-8");
        assert_eq!(scan_object(br#"{"a":1}"#, |_, _| None), None, "refused by the caller");
    }
}
