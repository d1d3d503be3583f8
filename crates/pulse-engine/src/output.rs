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
