//! Numbers written as JavaScript's `String(number)` writes them, so the events are the canonical JSON
//! a JavaScript producer would send (no `40.0`, no `-0`).

pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

pub fn push_number(out: &mut Vec<u8>, x: f64) {
    if x == x.trunc() && x.abs() < 1e15 {
        // Integral values print without a fraction; -0 prints as 0.
        out.extend_from_slice(itoa::Buffer::new().format(x as i64).as_bytes());
    } else {
        out.extend_from_slice(ryu::Buffer::new().format(x).as_bytes());
    }
}

/// Integer cents as a JSON number: 3998 → 39.98 (exact: c/100 is the double nearest the decimal).
pub fn push_cents(out: &mut Vec<u8>, cents: i64) {
    push_number(out, cents as f64 / 100.0);
}

/// JavaScript's Math.round: halves round up, towards +∞.
pub fn js_round(x: f64) -> f64 {
    let floor = x.floor();
    if x - floor >= 0.5 { floor + 1.0 } else { floor }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(x: f64) -> String {
        let mut out = Vec::new();
        push_number(&mut out, x);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writes_numbers_as_javascript_does() {
        assert_eq!(number(40.0), "40");
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(39.98), "39.98");
        assert_eq!(number(-18.3), "-18.3");
        assert_eq!(number(0.05), "0.05");
        assert_eq!(number(1.5), "1.5");
        assert_eq!(number(396_000.01), "396000.01");
        let mut cents = Vec::new();
        push_cents(&mut cents, 3998);
        assert_eq!(cents, b"39.98");
    }

    #[test]
    fn rounds_halves_up() {
        assert_eq!(js_round(2.5), 3.0);
        assert_eq!(js_round(-2.5), -2.0);
        assert_eq!(js_round(-2.6), -3.0);
        assert_eq!(js_round(0.49), 0.0);
    }
}
