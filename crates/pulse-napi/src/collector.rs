//! The collector's fast path: a Segment `/v1/batch` body mapped natively, and its records sent as one
//! ticket in one call.

use napi::bindgen_prelude::*;
use pulse_engine::segment::map_segment_batch;

use crate::kafka::{client_error, KafkaCode, NativeProducer};

#[napi(object)]
pub struct SegmentBatch {
    /// The records in the engine's packed output format (kind 0: clicks, 1: purchases, 2: identities).
    pub packed: Buffer,
    /// Where each record starts in `packed`.
    pub starts: Uint32Array,
    /// Each record's messageId, for deduplication.
    pub ids: Vec<String>,
    pub write_key: Option<String>,
}

/// A `/v1/batch` body parsed, checked and mapped as the collector's JavaScript path would; null when
/// that path must decide (other call types, anything to refuse, anything it would write differently).
#[napi]
pub fn map_segment_batch_body(body: &[u8], received_at: f64) -> Option<SegmentBatch> {
    map_segment_batch(body, received_at as i64).map(|m| SegmentBatch { packed: m.packed.into(), starts: Uint32Array::new(m.starts), ids: m.ids, write_key: m.write_key })
}

#[napi]
impl NativeProducer {
    /// The records of `packed` starting at `starts`, as records 0, 1, … of `ticket`, each to the topic
    /// its kind is routed to (`routeOutputs`); returns how many were queued before the queue was full.
    #[napi]
    pub fn send_ticketed_outputs(&self, ticket: f64, packed: &[u8], starts: &[u32]) -> Result<u32, KafkaCode> {
        if !(ticket >= 0.0 && ticket.fract() == 0.0 && ticket <= pulse_kafka::producer::MAX_TICKET as f64) {
            return Err(Error::new(KafkaCode::Client, format!("sendTicketedOutputs: ticket {ticket} out of range")));
        }
        self.inner.send_ticketed_outputs(ticket as u64, packed, starts, &self.topics_by_kind).map(|n| n as u32).map_err(client_error)
    }
}
