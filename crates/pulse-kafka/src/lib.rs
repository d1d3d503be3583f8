//! Kafka clients for the hot topics, on librdkafka. The consumer hands whole batches over as packed
//! bytes grouped by partition; the producer takes packed records and counts their delivery reports
//! itself, by epoch. So no per-record object or callback has to reach the caller's runtime.

pub mod admin;
pub mod consumer;
pub mod producer;
mod refusal;
mod stats;

pub use refusal::{Refusal, RefusalKind};

pub use rdkafka::error::{KafkaError, KafkaResult};

/// librdkafka's version string, e.g. "2.10.0".
pub fn librdkafka_version() -> String {
    rdkafka::util::get_rdkafka_version().1
}
