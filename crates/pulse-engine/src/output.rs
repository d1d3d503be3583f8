//! Records the engine asks the caller to write to Kafka, packed into one buffer so that a whole batch
//! of outputs crosses the native boundary as a single `Buffer`.
//!
//! Layout, repeated: `kind: u8`, `key_len: u32 LE`, key bytes, `value_len: u32 LE`, value bytes.

/// Which output topic a record belongs to; the caller maps kinds to topic names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum OutputKind {
    /// `user-activity-counts`: a window count for one user.
    ActivityCount = 1,
    /// `pulse-revenue`: orders, items and revenue of one currency in a 1-minute window.
    Revenue = 2,
    /// `pulse-top-products`: a Space-Saving top list of views, carts or purchases in a 5-minute window.
    TopProducts = 3,
    /// `pulse-unique-users`: a HyperLogLog estimate of active users in a 1- or 5-minute window.
    UniqueUsers = 4,
    /// `pulse-funnel`: one side (clicks or purchases) of the view → cart → purchase funnel.
    Funnel = 5,
    /// `pulse-sensor-stats`: min/max/mean/count and EWMA anomaly score of one sensor in a 1-minute window.
    SensorStats = 6,
}

#[derive(Debug, Default)]
pub struct OutputBuffer {
    bytes: Vec<u8>,
    records: usize,
}

impl OutputBuffer {
    pub fn len(&self) -> usize {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Appends a record whose value is written by `write_value` straight into the buffer.
    pub fn push_with(&mut self, kind: OutputKind, key: &[u8], write_value: impl FnOnce(&mut Vec<u8>)) {
        self.bytes.push(kind as u8);
        self.bytes.extend_from_slice(&(key.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(key);
        let len_at = self.bytes.len();
        self.bytes.extend_from_slice(&[0; 4]);
        write_value(&mut self.bytes);
        let value_len = (self.bytes.len() - len_at - 4) as u32;
        self.bytes[len_at..len_at + 4].copy_from_slice(&value_len.to_le_bytes());
        self.records += 1;
    }

    /// Takes the packed records, leaving the buffer empty (with its capacity kept for the next batch).
    pub fn take(&mut self) -> Vec<u8> {
        self.records = 0;
        let capacity = self.bytes.capacity();
        std::mem::replace(&mut self.bytes, Vec::with_capacity(capacity.min(1 << 20)))
    }
}

/// Helpers that write JSON values straight into an output buffer.
pub mod json {
    pub fn string(out: &mut Vec<u8>, s: &str) {
        if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            out.push(b'"');
            out.extend_from_slice(s.as_bytes());
            out.push(b'"');
        } else {
            serde_json::to_writer(out, s).expect("writing a string to a Vec cannot fail");
        }
    }

    pub fn int(out: &mut Vec<u8>, v: impl itoa::Integer) {
        out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    /// A number in its shortest round-tripping form; `null` if it overflowed to infinity (a sum of
    /// readings near f64's limit), which JSON cannot hold.
    pub fn num(out: &mut Vec<u8>, v: f64) {
        if v.is_finite() {
            out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
        } else {
            out.extend_from_slice(b"null");
        }
    }

    /// `,"name":` — the separator and name of a field that is not the first.
    pub fn field(out: &mut Vec<u8>, name: &str) {
        out.push(b',');
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
    }

    pub fn final_flag(out: &mut Vec<u8>, is_final: bool) {
        out.extend_from_slice(if is_final { b",\"final\":true}" } else { b",\"final\":false}" });
    }
}

/// One decoded output record; used by tests and tools, not by the hot path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRecord {
    pub kind: u8,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// Decodes a packed buffer; `None` if it is malformed.
pub fn decode(mut bytes: &[u8]) -> Option<Vec<OutputRecord>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let kind = *bytes.first()?;
        let key_len = u32::from_le_bytes(bytes.get(1..5)?.try_into().ok()?) as usize;
        let key = bytes.get(5..5 + key_len)?.to_vec();
        let at = 5 + key_len;
        let value_len = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize;
        let value = bytes.get(at + 4..at + 4 + value_len)?.to_vec();
        bytes = &bytes[at + 4 + value_len..];
        out.push(OutputRecord { kind, key, value });
    }
    Some(out)
}
