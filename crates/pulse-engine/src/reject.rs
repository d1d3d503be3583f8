//! Why an input record was not processed. The names are the `pulse.error.reason` header values of
//! docs/dead-letters.md, so they are a contract.

/// A reason a record goes to `dead-letters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RejectReason {
    /// Not parseable as JSON (including invalid UTF-8).
    InvalidJson = 1,
    /// A required field is absent.
    MissingField = 2,
    /// A field has the wrong JSON type, or the record is not a JSON object.
    WrongType = 3,
    /// A field has the right type but an impossible value (negative time, empty id).
    InvalidValue = 4,
    /// The event's window had already closed when it arrived.
    Late = 5,
    /// The window already holds its configured maximum of keys; counting more would exceed the memory bound.
    Overflow = 6,
    /// The event time is further ahead of the wall clock than the configured skew allows.
    Future = 7,
    /// The record's key belongs to another partition under Kafka's default partitioner.
    WrongPartition = 8,
}

impl RejectReason {
    pub const ALL: [RejectReason; 8] = [
        RejectReason::InvalidJson,
        RejectReason::MissingField,
        RejectReason::WrongType,
        RejectReason::InvalidValue,
        RejectReason::Late,
        RejectReason::Overflow,
        RejectReason::Future,
        RejectReason::WrongPartition,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::MissingField => "missing_field",
            RejectReason::WrongType => "wrong_type",
            RejectReason::InvalidValue => "invalid_value",
            RejectReason::Late => "late",
            RejectReason::Overflow => "overflow",
            RejectReason::Future => "future",
            RejectReason::WrongPartition => "wrong_partition",
        }
    }
}

/// One rejected record of a batch: its position in the batch, why, and a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub index: u32,
    pub reason: RejectReason,
    pub detail: String,
}
