//! Binary snapshot encoding: little-endian primitives inside an LZ4 frame (lz4_flex's frame format, so
//! any LZ4 frame decoder — lz4-napi on the TypeScript side, the `lz4` CLI — can open it).

use std::fmt;
use std::io::{Read, Write};

/// Why a snapshot could not be restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// Not an LZ4 frame, truncated, or not a snapshot of this kind and version.
    Corrupt(String),
    /// A valid snapshot taken with other window settings; restoring it would change results silently.
    Mismatch(String),
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::Corrupt(m) => write!(f, "corrupt snapshot: {m}"),
            SnapshotError::Mismatch(m) => write!(f, "snapshot does not match the configuration: {m}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

/// How a partition's state is checkpointed: a whole snapshot that starts a delta chain, then
/// optionally deltas that hold only what changed since the previous checkpoint, so that a large,
/// slowly changing state is not written whole every time (docs/semantics.md, "Checkpoints").
/// Encoding is a consistent cut taken on the caller's thread; `Writer::finish` (compression) may run
/// on any thread.
pub trait Checkpoint {
    /// The whole state with `next_offset`, the first input offset it does not cover; starts chain `chain`.
    fn encode_base(&mut self, next_offset: i64, chain: u32) -> Writer;

    /// The changes since the last checkpoint, as the next delta of the chain; `None` where this kind
    /// of state is always written whole, or no chain has started.
    fn encode_delta(&mut self, _next_offset: i64) -> Option<Writer> {
        None
    }

    /// Applies the next delta of this state's chain; returns the offset it covers up to.
    fn apply_delta(&mut self, _frame: &[u8]) -> Result<i64, SnapshotError> {
        Err(SnapshotError::Corrupt("this kind of state is written whole and has no deltas".into()))
    }

    /// The chain this state continues and the deltas since its whole snapshot.
    fn chain(&self) -> (u32, u32) {
        (NO_CHAIN, 0)
    }
}

/// The chain of a state that has written no whole snapshot yet: no delta can follow it.
pub const NO_CHAIN: u32 = 0;

#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new(magic: &[u8; 4], version: u16) -> Self {
        let mut w = Self { buf: Vec::with_capacity(4096) };
        w.buf.extend_from_slice(magic);
        w.u16(version);
        w
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.buf.extend_from_slice(v);
    }

    /// Bytes written so far (before compression).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The LZ4 frame of everything written.
    pub fn finish(self) -> Vec<u8> {
        // The content checksum makes a torn or altered snapshot fail to restore instead of restoring wrong.
        let info = lz4_flex::frame::FrameInfo::new().content_checksum(true);
        let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::with_capacity(self.buf.len() / 2 + 64));
        enc.write_all(&self.buf).expect("writing to a Vec cannot fail");
        enc.finish().expect("finishing an LZ4 frame into a Vec cannot fail")
    }
}

#[derive(Debug)]
pub struct Reader {
    buf: Vec<u8>,
    at: usize,
}

impl Reader {
    /// Decompresses the frame and checks magic and version.
    pub fn open(frame: &[u8], magic: &[u8; 4], version: u16) -> Result<Self, SnapshotError> {
        Ok(Self::open_versions(frame, magic, version..=version)?.0)
    }

    /// Like `open`, for a reader of several versions; returns the version found.
    pub fn open_versions(frame: &[u8], magic: &[u8; 4], versions: std::ops::RangeInclusive<u16>) -> Result<(Self, u16), SnapshotError> {
        let mut buf = Vec::new();
        lz4_flex::frame::FrameDecoder::new(frame)
            .read_to_end(&mut buf)
            .map_err(|e| SnapshotError::Corrupt(format!("not an LZ4 frame: {e}")))?;
        let mut r = Self { buf, at: 0 };
        if r.take(4)? != magic {
            return Err(SnapshotError::Corrupt(format!("expected a {} snapshot", String::from_utf8_lossy(magic))));
        }
        let v = r.u16()?;
        if !versions.contains(&v) {
            return Err(SnapshotError::Corrupt(format!("unsupported snapshot version {v} (this engine reads {versions:?})")));
        }
        Ok((r, v))
    }
    fn take(&mut self, n: usize) -> Result<&[u8], SnapshotError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or_else(|| SnapshotError::Corrupt("truncated".into()))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }
    pub fn u16(&mut self) -> Result<u16, SnapshotError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("length checked")))
    }
    pub fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("length checked")))
    }
    pub fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("length checked")))
    }
    pub fn i64(&mut self) -> Result<i64, SnapshotError> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().expect("length checked")))
    }
    pub fn bytes(&mut self) -> Result<&[u8], SnapshotError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    /// A count of entries that take at least `entry_bytes` each, refused if the bytes left cannot hold
    /// them: a damaged count must not size an allocation (an abort, not an error).
    pub fn count(&mut self, entry_bytes: usize) -> Result<usize, SnapshotError> {
        let n = self.u32()? as usize;
        let left = self.buf.len() - self.at;
        if n.saturating_mul(entry_bytes) > left {
            return Err(SnapshotError::Corrupt(format!("{n} entries of at least {entry_bytes} bytes in the {left} bytes left")));
        }
        Ok(n)
    }
    pub fn finish(self) -> Result<(), SnapshotError> {
        if self.at == self.buf.len() {
            Ok(())
        } else {
            Err(SnapshotError::Corrupt(format!("{} trailing bytes", self.buf.len() - self.at)))
        }
    }
}
