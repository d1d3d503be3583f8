//! Kafka's default partitioner (Java's `BuiltInPartitioner`, librdkafka's `murmur2_random`): a keyed
//! record goes to partition `toPositive(murmur2(key)) % partitions`. Pulse's per-key state is only
//! whole when every record of a key is on that partition (docs/semantics.md, "Keys and partitions").

use crate::reject::RejectReason;

/// Kafka's murmur2 of `data`, as `org.apache.kafka.common.utils.Utils.murmur2`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= (tail[2] as u32) << 16;
    }
    if tail.len() >= 2 {
        h ^= (tail[1] as u32) << 8;
    }
    if let Some(&first) = tail.first() {
        h ^= first as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of `key` among `partitions` under Kafka's default partitioner.
pub fn partition_for(key: &[u8], partitions: u32) -> u32 {
    assert!(partitions > 0, "a topic has at least one partition");
    // Kafka's toPositive: clears the sign bit rather than taking the absolute value.
    (murmur2(key) as u32 & 0x7fff_ffff) % partitions
}

/// Where an engine's input partition sits in its topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub partition: u32,
    pub partitions: u32,
}

/// Refuses a record whose key belongs to another partition than `placement`'s: counted here, its key's
/// state would be split over two partitions, each holding part of the count.
pub fn check_placement(key: &str, placement: Option<Placement>) -> Result<(), (RejectReason, String)> {
    let Some(p) = placement else { return Ok(()) };
    let expected = partition_for(key.as_bytes(), p.partitions);
    if expected == p.partition {
        return Ok(());
    }
    Err((
        RejectReason::WrongPartition,
        format!(
            "key {key:?} belongs to partition {expected} of {} under Kafka's default partitioner (murmur2), not {}; produce with key = this id and the murmur2 partitioner (Java's default; librdkafka partitioner=murmur2_random)",
            p.partitions, p.partition
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from Kafka's own `Utils.murmur2` and `toPositive(murmur2) % n`.
    #[test]
    fn matches_kafkas_murmur2() {
        for (key, hash, p12, p24, p6) in [
            ("21", -973_932_308, 0, 12, 0),
            ("foobar", -790_332_482, 6, 6, 0),
            ("u-1", -766_518_409, 7, 7, 1),
            ("u-1042", -2_015_942_232, 8, 8, 2),
            ("fridge-7", -1_788_988_146, 2, 14, 2),
            ("a-little-bit-long-string", -985_981_536, 8, 8, 2),
            ("", 275_646_681, 9, 9, 3),
        ] {
            assert_eq!(murmur2(key.as_bytes()), hash, "{key}");
            assert_eq!([partition_for(key.as_bytes(), 12), partition_for(key.as_bytes(), 24), partition_for(key.as_bytes(), 6)], [p12, p24, p6], "{key}");
        }
    }

    #[test]
    fn refuses_a_key_on_another_partition_only() {
        assert!(check_placement("u-1", Some(Placement { partition: 7, partitions: 12 })).is_ok());
        assert!(check_placement("u-1", None).is_ok());
        let (reason, detail) = check_placement("u-1", Some(Placement { partition: 3, partitions: 12 })).unwrap_err();
        assert_eq!(reason, RejectReason::WrongPartition);
        assert!(detail.contains("partition 7 of 12"), "{detail}");
    }
}
