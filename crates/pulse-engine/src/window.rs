//! Epoch-aligned tumbling windows on event time, with a grace period (Kafka Streams' semantics).

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
