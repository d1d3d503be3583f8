//! Hostile input: arbitrary bytes and mutated JSON into the event parsers and the Segment mapper,
//! and mutated snapshots into the decoders. Whatever comes in, the answer is a value or an error —
//! never a panic, and never an allocation sized by a length field the input made up.

use std::io::{Read, Write};

use proptest::prelude::*;
use pulse_engine::event::{parse_click, parse_purchase, parse_reading};
use pulse_engine::recs::{parse_interactions, RecsModel, RecsOptions};
use pulse_engine::segment::map_segment_batch;
use pulse_engine::snapshot::Checkpoint;
use pulse_engine::{ActivityOptions, ActivityPartition, PartitionOutputs, PurchaseOptions, PurchasesPartition, SensorOptions, SensorPartition};

mod common;
use common::pack;

const T0: i64 = 1_764_099_900_000;

/// JSON documents built from the fields the parsers look for, with values of every type: deeper paths
/// than random bytes reach.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(serde_json::Value::from),
        "[\\PC]{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("eventId"), Just("type"), Just("userId"), Just("anonymousId"), Just("sessionId"), Just("productId"), Just("ts"), Just("timestamp"),
            Just("items"), Just("quantity"), Just("price"), Just("total"), Just("currency"), Just("sensorId"), Just("metric"), Just("value"),
            Just("batch"), Just("event"), Just("properties"), Just("products"), Just("product_id"), Just("order_id"), Just("messageId"), Just("writeKey"),
        ]
        .prop_map(str::to_owned);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(key, inner, 0..8).prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A record's bytes: arbitrary, or JSON from `json_value` cut short or with a byte changed.
fn record() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        (json_value(), any::<u16>(), any::<u8>(), 0u8..3).prop_map(|(v, at, byte, how)| {
            let mut bytes = serde_json::to_vec(&v).unwrap();
            let at = at as usize % (bytes.len() + 1);
            match how {
                0 => {}
                1 => bytes.truncate(at),
                _ if at < bytes.len() => bytes[at] = byte,
                _ => bytes.push(byte),
            }
            bytes
        }),
    ]
}

fn lz4(plain: &[u8]) -> Vec<u8> {
    let info = lz4_flex::frame::FrameInfo::new().content_checksum(true);
    let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
    enc.write_all(plain).unwrap();
    enc.finish().unwrap()
}

fn unlz4(frame: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    lz4_flex::frame::FrameDecoder::new(frame).read_to_end(&mut plain).unwrap();
    plain
}

/// A snapshot's content changed as a corrupted disk or a bug would: bytes changed, cut, or inserted,
/// then framed again with a valid checksum so that the decoder itself is what reads it.
fn mutate(plain: &[u8], edits: &[(u16, u8, u8)]) -> Vec<u8> {
    let mut p = plain.to_vec();
    for &(at, byte, how) in edits {
        let at = at as usize % (p.len() + 1);
        match how % 4 {
            0 if at < p.len() => p[at] = byte,
            1 => p.truncate(at),
            2 => p.insert(at, byte),
            _ if at < p.len() => p[at] ^= 0xff,
            _ => {}
        }
    }
    lz4(&p)
}

fn click(user: u32, ts: i64) -> Vec<u8> {
    format!(r#"{{"eventId":"e{user}","type":"product_view","userId":"u{user}","productId":"p{}","ts":{ts}}}"#, user % 7).into_bytes()
}

fn activity_snapshot() -> Vec<u8> {
    let mut p = ActivityPartition::new(ActivityOptions::default());
    let records: Vec<_> = (0..40).map(|i| click(i % 9, T0 + i as i64 * 20_000)).collect();
    let (values, ends) = pack(&records);
    p.ingest(&values, &ends, T0).unwrap();
    p.snapshot(41)
}

/// A whole snapshot that starts chain 5, the delta after it (some users counted again, one window
/// more), and the base restored and snapshotted again; made once.
fn activity_base_and_delta() -> &'static (Vec<u8>, Vec<u8>, Vec<u8>) {
    static FRAMES: std::sync::OnceLock<(Vec<u8>, Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    FRAMES.get_or_init(make_activity_base_and_delta)
}

fn make_activity_base_and_delta() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut p = ActivityPartition::new(ActivityOptions::default());
    let records: Vec<_> = (0..40).map(|i| click(i % 9, T0 + i as i64 * 20_000)).collect();
    let (values, ends) = pack(&records);
    p.ingest(&values, &ends, T0).unwrap();
    let base = p.encode_base(41, 5).finish();
    let records: Vec<_> = (0..10).map(|i| click(i % 4, T0 + 800_000 + i as i64 * 1000)).collect();
    let (values, ends) = pack(&records);
    p.ingest(&values, &ends, T0).unwrap();
    let delta = p.encode_delta(51).expect("the chain has started").finish();
    let restored = ActivityPartition::restore(&base, ActivityOptions::default()).unwrap().0.snapshot(0);
    (base, delta, restored)
}

fn purchases_snapshot() -> Vec<u8> {
    let mut p = PurchasesPartition::new(PurchaseOptions::default());
    let records: Vec<_> = (0..20)
        .map(|i| format!(r#"{{"eventId":"o{i}","userId":"u{}","items":[{{"productId":"p{}","quantity":2,"price":1.5}}],"total":3,"currency":"USD","ts":{}}}"#, i % 5, i % 4, T0 + i * 30_000).into_bytes())
        .collect();
    let (values, ends) = pack(&records);
    p.ingest(&values, &ends, T0).unwrap();
    p.snapshot(21)
}

fn sensors_snapshot() -> Vec<u8> {
    let mut p = SensorPartition::new(SensorOptions::default());
    let records: Vec<_> = (0..30).map(|i| format!(r#"{{"eventId":"r{i}","sensorId":"s{}","metric":"t","value":{i}.5,"ts":{}}}"#, i % 4, T0 + i * 10_000).into_bytes()).collect();
    let (values, ends) = pack(&records);
    p.ingest(&values, &ends, T0).unwrap();
    p.snapshot(31)
}

fn recs_snapshot() -> Vec<u8> {
    let model = RecsModel::new(RecsOptions::default());
    let records: Vec<_> = (0..60).map(|i| click(i % 6, T0 + i as i64 * 1000)).collect();
    let (values, ends) = pack(&records);
    let (observations, _) = parse_interactions(&values, &ends);
    let mut model = model;
    for o in &observations {
        model.learn(o);
    }
    model.snapshot()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn parsers_answer_any_record_without_panicking(r in record()) {
        let _ = parse_click(&r);
        let _ = parse_purchase(&r);
        let _ = parse_reading(&r);
        let _ = map_segment_batch(&r, T0);
    }

    #[test]
    fn engines_take_any_batch_and_count_only_what_they_accept(records in prop::collection::vec(record(), 1..20)) {
        let (values, ends) = pack(&records);
        let mut clicks = ActivityPartition::new(ActivityOptions { max_future_ms: Some(300_000), partitions: Some(12), ..ActivityOptions::default() });
        let summary = clicks.ingest(&values, &ends, T0).unwrap();
        prop_assert_eq!(summary.accepted + summary.rejected, records.len() as u32);
        prop_assert_eq!(clicks.take_rejects().len(), summary.rejected as usize);
        PurchasesPartition::new(PurchaseOptions::default()).ingest(&values, &ends, T0).unwrap();
        SensorPartition::new(SensorOptions::default()).ingest(&values, &ends, T0).unwrap();
        let _ = parse_interactions(&values, &ends);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn snapshot_decoders_refuse_damaged_snapshots_without_panicking(edits in prop::collection::vec((any::<u16>(), any::<u8>(), any::<u8>()), 1..4), raw in prop::collection::vec(any::<u8>(), 0..64)) {
        let activity = unlz4(&activity_snapshot());
        let _ = ActivityPartition::restore(&mutate(&activity, &edits), ActivityOptions::default());
        let purchases = unlz4(&purchases_snapshot());
        let _ = PurchasesPartition::restore(&mutate(&purchases, &edits), PurchaseOptions::default());
        let sensors = unlz4(&sensors_snapshot());
        let _ = SensorPartition::restore(&mutate(&sensors, &edits), SensorOptions::default());
        let recs = unlz4(&recs_snapshot());
        let _ = RecsModel::restore(&mutate(&recs, &edits), RecsOptions::default());
        // A damaged delta is applied whole or not at all.
        let (base, delta, base_again) = activity_base_and_delta();
        let (mut restored, _) = ActivityPartition::restore(base, ActivityOptions::default()).unwrap();
        if restored.apply_delta(&mutate(&unlz4(delta), &edits)).is_err() {
            prop_assert_eq!(&restored.snapshot(0), base_again);
        }
        // And bytes that are no frame at all.
        prop_assert!(ActivityPartition::restore(&raw, ActivityOptions::default()).is_err());
        prop_assert!(restored.apply_delta(&raw).is_err());
    }
}
