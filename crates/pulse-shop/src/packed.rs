use crate::model::ShopModel;

/// Records of one topic packed as the Kafka producer takes them: values and keys back to back, with
/// the end offset of each.
#[derive(Debug, Default)]
pub struct PackedRecords {
    pub values: Vec<u8>,
    pub ends: Vec<u32>,
    pub keys: Vec<u8>,
    pub key_ends: Vec<u32>,
}

impl PackedRecords {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// Offset of event `i`'s intended send time from the start of a run at `rate` events/s: i/rate seconds,
/// floored to whole milliseconds (the resolution of `ts`). Computed from `i` each time, so no rounding
/// error accumulates.
pub fn intended_offset_ms(i: u64, rate: f64) -> u64 {
    ((i as f64 * 1000.0) / rate).floor() as u64
}

impl ShopModel {
    /// The next `count` events of a run paced at `rate` events/s from `t0` (epoch ms), where the model's
    /// sequence number is the event's index in the run: each carries ts = t0 + its intended offset.
    /// Returns the records by topic, in `Topic` order.
    pub fn next_paced(&mut self, t0: u64, rate: f64, count: usize) -> [PackedRecords; 3] {
        let mut out: [PackedRecords; 3] = Default::default();
        // The topic is known only once the event is written, so it is written here first.
        let (mut value, mut key) = (Vec::with_capacity(1024), Vec::with_capacity(64));
        for _ in 0..count {
            let ts = t0 + intended_offset_ms(self.sequence(), rate);
            value.clear();
            key.clear();
            let topic = self.next(ts, &mut value, &mut key);
            let records = &mut out[topic as usize];
            records.values.extend_from_slice(&value);
            records.keys.extend_from_slice(&key);
            records.ends.push(records.values.len() as u32);
            records.key_ends.push(records.keys.len() as u32);
        }
        out
    }
}
