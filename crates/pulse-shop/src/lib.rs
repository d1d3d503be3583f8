//! The synthetic shop behind `pulse generate`: seeded, reproducible e-commerce sessions and IoT sensor
//! readings, written straight into the packed form the Kafka producer takes, so generating an event
//! costs a fraction of a microsecond and the load generator leaves the machine to what it measures.

pub mod json;
pub mod model;
pub mod packed;
pub mod prng;
pub mod zipf;

pub use model::{ShopModel, ShopOptions, Topic, EVENT_TYPES};
pub use packed::{intended_offset_ms, PackedRecords};
