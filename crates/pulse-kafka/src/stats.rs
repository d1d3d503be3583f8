use std::sync::Mutex;

/// The latest statistics document librdkafka emitted (every `statistics.interval.ms`).
#[derive(Debug, Default)]
pub struct StatsSlot(Mutex<Option<String>>);

impl StatsSlot {
    pub fn store(&self, json: &[u8]) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(String::from_utf8_lossy(json).into_owned());
    }

    pub fn latest(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
