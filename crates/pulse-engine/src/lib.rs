//! Pulse's stream-processing core: everything on the hot path between a batch of Kafka record values
//! and the records Pulse writes back. Pure Rust with no N-API types, so `cargo test` exercises it
//! directly; `pulse-napi` is a thin binding over it.
//!
//! Data flows in and out as bytes: a batch is one buffer of concatenated record values plus their end
//! positions; outputs accumulate in one [`output::OutputBuffer`] of length-prefixed key/value records.

pub mod activity;
pub mod engine;
pub mod event;
pub mod histogram;
pub mod hll;
pub mod metrics;
pub mod output;
pub mod partitioner;
mod plain_json;
pub mod purchases;
pub mod recs;
pub mod recs_eval;
pub mod reject;
pub mod segment;
pub mod sensors;
pub mod snapshot;
pub mod topk;
pub mod window;

pub use activity::{ActivityOptions, ActivityPartition};
pub use engine::{BadFrame, IngestSummary, PartitionOutputs, PartitionStats};
pub use output::{OutputBuffer, OutputKind};
pub use purchases::{PurchaseOptions, PurchasesPartition};
pub use sensors::{SensorOptions, SensorPartition};
pub use reject::{Reject, RejectReason};
pub use snapshot::SnapshotError;
