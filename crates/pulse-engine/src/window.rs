//! Epoch-aligned tumbling windows on event time, with a grace period (Kafka Streams' semantics).

use std::collections::VecDeque;

/// Size and grace of a tumbling window, both in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TumblingWindows {
    pub size_ms: i64,
    pub grace_ms: i64,
}

impl TumblingWindows {
    pub fn new(size_ms: i64, grace_ms: i64) -> Self {
        assert!(size_ms > 0, "window size must be positive");
        assert!(grace_ms >= 0, "grace must not be negative");
        Self { size_ms, grace_ms }
    }

    /// Start of the window holding `ts`, aligned to the epoch.
    pub fn start_of(&self, ts: i64) -> i64 {
        ts - ts.rem_euclid(self.size_ms)
    }

    pub fn end_of_start(&self, start: i64) -> i64 {
        start + self.size_ms
    }

    /// A window is closed once stream time reaches its end plus grace; events for it are then late.
    pub fn is_closed(&self, start: i64, stream_time: i64) -> bool {
        start + self.size_ms + self.grace_ms <= stream_time
    }
}

/// The open windows of one aggregation, oldest first, each holding a `T`. At most
/// `(size + grace) / size + 1` windows are open at once: older ones are closed by stream time, and
/// events for them are late.
#[derive(Debug, Clone)]
pub struct WindowRing<T> {
    pub windows: TumblingWindows,
    buckets: VecDeque<(i64, T)>,
}

impl<T> WindowRing<T> {
    pub fn new(windows: TumblingWindows) -> Self {
        Self { windows, buckets: VecDeque::with_capacity(4) }
    }

    /// The window of `ts`, created with `make` if new; `None` if it has closed at `stream_time`.
    pub fn open(&mut self, ts: i64, stream_time: i64, make: impl FnOnce() -> T) -> Option<(i64, &mut T)> {
        let start = self.windows.start_of(ts);
        if self.windows.is_closed(start, stream_time) {
            return None;
        }
        let at = match self.buckets.iter().position(|(s, _)| *s >= start) {
            Some(at) if self.buckets[at].0 == start => at,
            Some(at) => {
                self.buckets.insert(at, (start, make()));
                at
            }
            None => {
                self.buckets.push_back((start, make()));
                self.buckets.len() - 1
            }
        };
        let (start, bucket) = &mut self.buckets[at];
        Some((*start, bucket))
    }

    /// Removes and returns the oldest window if `stream_time` has closed it.
    pub fn pop_closed(&mut self, stream_time: i64) -> Option<(i64, T)> {
        let &(start, _) = self.buckets.front()?;
        if self.windows.is_closed(start, stream_time) {
            self.buckets.pop_front()
        } else {
            None
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &(i64, T)> {
        self.buckets.iter()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut (i64, T)> {
        self.buckets.iter_mut()
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Appends a window read from a snapshot; windows must come oldest first.
    pub fn push_restored(&mut self, start: i64, bucket: T) -> Result<(), crate::snapshot::SnapshotError> {
        if self.buckets.back().is_some_and(|(s, _)| *s >= start) || start != self.windows.start_of(start) {
            return Err(crate::snapshot::SnapshotError::Corrupt(format!("window start {start} out of order or unaligned")));
        }
        self.buckets.push_back((start, bucket));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_align_to_the_epoch() {
        let w = TumblingWindows::new(300_000, 60_000);
        assert_eq!(w.start_of(1_764_100_000_123), 1_764_099_900_000);
        assert_eq!(w.start_of(1_764_099_900_000), 1_764_099_900_000);
        assert_eq!(w.start_of(1_764_100_199_999), 1_764_099_900_000);
        assert_eq!(w.start_of(1_764_100_200_000), 1_764_100_200_000);
        assert_eq!(w.start_of(0), 0);
    }

    #[test]
    fn a_window_closes_at_end_plus_grace() {
        let w = TumblingWindows::new(300_000, 60_000);
        assert!(!w.is_closed(0, 359_999));
        assert!(w.is_closed(0, 360_000));
    }
}
