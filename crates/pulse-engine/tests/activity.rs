//! The activity-count topology driven like Kafka Streams' TopologyTestDriver: records with chosen event
//! times in, decoded output records and rejects out.

use pulse_engine::output::decode;
use pulse_engine::{ActivityOptions, ActivityPartition, OutputKind, PartitionOutputs, RejectReason};
use serde_json::Value;

mod common;
use common::pack;

const MIN: i64 = 60_000;
/// 2025-11-25T19:45:00Z, a window boundary.
const T0: i64 = 1_764_099_900_000;

fn click(user: &str, ts: i64) -> String {
    format!(r#"{{"eventId":"e-{user}-{ts}","type":"page_view","userId":"{user}","sessionId":"s","source":"web","ts":{ts},"properties":{{}}}}"#)
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Count {
    user: String,
    start: i64,
    end: i64,
    count: u64,
    is_final: bool,
}

fn outputs(p: &mut ActivityPartition) -> Vec<Count> {
    decode(&p.take_output())
        .expect("well-formed output")
        .into_iter()
        // The click metrics' records are tested in tests/metrics.rs.
        .filter(|r| r.kind == OutputKind::ActivityCount as u8)
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.value).unwrap();
            assert_eq!(r.key, v["userId"].as_str().unwrap().as_bytes(), "key is the userId");
            Count {
                user: v["userId"].as_str().unwrap().to_owned(),
                start: v["windowStart"].as_i64().unwrap(),
                end: v["windowEnd"].as_i64().unwrap(),
                count: v["count"].as_u64().unwrap(),
                is_final: v["final"].as_bool().unwrap(),
            }
        })
        .collect()
}

fn feed(p: &mut ActivityPartition, records: &[String]) -> Vec<(u32, RejectReason)> {
    let (values, ends) = pack(records);
    p.ingest(&values, &ends, T0 + 10 * MIN).unwrap();
    p.take_rejects().into_iter().map(|r| (r.index, r.reason)).collect()
}

fn fin(user: &str, start: i64, count: u64) -> Count {
    Count { user: user.into(), start, end: start + 5 * MIN, count, is_final: true }
}

#[test]
fn counts_per_user_and_window_and_emits_one_final_when_grace_has_passed() {
    let mut p = ActivityPartition::new(ActivityOptions::default());
    // Out of order inside the window, two users.
    let rejects = feed(&mut p, &[click("u1", T0 + 3 * MIN), click("u2", T0 + 1000), click("u1", T0), click("u1", T0 + 4 * MIN + 59_999)]);
    assert!(rejects.is_empty());
    assert_eq!(p.count_of("u1", T0), Some(3));
    assert!(outputs(&mut p).is_empty(), "no final before the window closes");

    // Stream time moves into the next window, but not past end + grace: still open.
    feed(&mut p, &[click("u3", T0 + 5 * MIN + 59_999)]);
    assert!(outputs(&mut p).is_empty());
    // A straggler within grace is still counted.
    assert!(feed(&mut p, &[click("u2", T0 + 2 * MIN)]).is_empty());

    // Stream time reaches end + grace: finals for the first window, once.
    feed(&mut p, &[click("u3", T0 + 6 * MIN)]);
    let mut finals = outputs(&mut p);
    finals.sort();
    assert_eq!(finals, vec![fin("u1", T0, 3), fin("u2", T0, 2)]);
    feed(&mut p, &[click("u3", T0 + 7 * MIN)]);
    assert!(outputs(&mut p).iter().all(|c| c.start != T0), "a closed window is not reported again");
}

#[test]
fn events_for_closed_windows_are_rejected_as_late_and_not_counted() {
    let mut p = ActivityPartition::new(ActivityOptions::default());
    feed(&mut p, &[click("u1", T0), click("u1", T0 + 6 * MIN)]);
    let finals = outputs(&mut p);
    assert_eq!(finals, vec![fin("u1", T0, 1)]);
    let rejects = feed(&mut p, &[click("u1", T0 + 4 * MIN), click("u1", T0 + 5 * MIN)]);
    assert_eq!(rejects, vec![(0, RejectReason::Late)]);
    assert_eq!(p.stats().rejected[RejectReason::Late as usize - 1], 1);
    assert_eq!(p.count_of("u1", T0 + 5 * MIN), Some(2));
}

#[test]
fn grace_zero_closes_at_the_window_end() {
    let mut p = ActivityPartition::new(ActivityOptions { grace_ms: 0, ..Default::default() });
    feed(&mut p, &[click("u1", T0), click("u1", T0 + 5 * MIN - 1)]);
    assert!(outputs(&mut p).is_empty());
    feed(&mut p, &[click("u2", T0 + 5 * MIN)]);
    assert_eq!(outputs(&mut p), vec![fin("u1", T0, 2)]);
}

#[test]
fn updates_are_coalesced_per_emit_interval_and_carry_absolute_counts() {
    let mut p = ActivityPartition::new(ActivityOptions { emit_interval_ms: 100, ..Default::default() });
    feed(&mut p, &[click("u1", T0), click("u1", T0 + 1), click("u2", T0 + 2)]);
    assert!(p.flush_due(1_000) >= 2);
    let updates = outputs(&mut p);
    assert_eq!(updates.len(), 2);
    assert!(updates.contains(&Count { user: "u1".into(), start: T0, end: T0 + 5 * MIN, count: 2, is_final: false }));
    feed(&mut p, &[click("u1", T0 + 3)]);
    assert_eq!(p.flush_due(1_050), 0, "within the interval nothing is emitted");
    assert!(p.flush_due(1_100) >= 1);
    let updates = outputs(&mut p);
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].count, 3, "absolute count, not a delta");
    assert_eq!(p.flush_due(5_000), 0, "nothing pending, nothing emitted");
}

#[test]
fn updates_carry_the_oldest_unreported_event_time() {
    let mut p = ActivityPartition::new(ActivityOptions { emit_interval_ms: 0, ..Default::default() });
    feed(&mut p, &[click("u1", T0 + 50), click("u1", T0 + 20), click("u1", T0 + 90)]);
    p.flush_due(1);
    let out = p.take_output();
    let v: Value = serde_json::from_slice(&decode(&out).unwrap().into_iter().find(|r| r.kind == OutputKind::ActivityCount as u8).unwrap().value).unwrap();
    assert_eq!(v["oldestEventTs"], T0 + 20);
    assert_eq!(v["count"], 3);
}

#[test]
fn malformed_records_are_rejected_with_their_position_and_the_rest_is_counted() {
    let mut p = ActivityPartition::new(ActivityOptions::default());
    let records = vec![
        click("u1", T0),
        "{oops".to_string(),
        r#"{"eventId":"e","ts":1764099900000}"#.to_string(),
        r#"{"eventId":"e","userId":"u1","ts":"now"}"#.to_string(),
        click("u1", T0 + 1),
    ];
    let rejects = feed(&mut p, &records);
    assert_eq!(rejects, vec![(1, RejectReason::InvalidJson), (2, RejectReason::MissingField), (3, RejectReason::WrongType)]);
    assert_eq!(p.count_of("u1", T0), Some(2));
}

#[test]
fn a_bad_frame_is_refused_before_anything_is_counted() {
    let mut p = ActivityPartition::new(ActivityOptions::default());
    let (values, _) = pack(&[click("u1", T0)]);
    assert!(p.ingest(&values, &[5, 3], 0).is_err());
    assert!(p.ingest(&values, &[values.len() as u32 + 1], 0).is_err());
    assert_eq!(p.stats().accepted, 0);
}

#[test]
fn the_key_bound_rejects_new_users_as_overflow() {
    let mut p = ActivityPartition::new(ActivityOptions { max_keys_per_window: 2, ..Default::default() });
    let rejects = feed(&mut p, &[click("a", T0), click("b", T0), click("c", T0), click("a", T0), click("c", T0 + 5 * MIN)]);
    assert_eq!(rejects, vec![(2, RejectReason::Overflow)]);
    assert_eq!(p.count_of("a", T0), Some(2));
    assert_eq!(p.count_of("c", T0 + 5 * MIN), Some(1), "the bound is per window");
}

#[test]
fn user_ids_that_need_escaping_round_trip_through_the_output() {
    let mut p = ActivityPartition::new(ActivityOptions { emit_interval_ms: 0, ..Default::default() });
    let (values, ends) = pack(&[r#"{"eventId":"e","userId":"u\"\\\n\u00e9","ts":1764099900000}"#.to_string()]);
    p.ingest(&values, &ends, 0).unwrap();
    p.flush_due(0);
    let out = outputs(&mut p);
    assert_eq!(out[0].user, "u\"\\\né");
}

#[test]
fn snapshot_restore_round_trips_state_and_pending_reports() {
    let opts = ActivityOptions { emit_interval_ms: 0, ..Default::default() };
    let mut p = ActivityPartition::new(opts);
    feed(&mut p, &[click("u1", T0), click("u2", T0 + 1), click("u1", T0 + 5 * MIN + 1)]);
    p.flush_due(0);
    outputs(&mut p);
    feed(&mut p, &[click("u2", T0 + 2)]);
    let snap = p.snapshot(4242);
    let (mut q, next) = ActivityPartition::restore(&snap, opts).unwrap();
    assert_eq!(next, 4242);
    assert_eq!(q.snapshot(4242), snap, "restore then snapshot is the identity");
    assert_eq!(q.count_of("u2", T0), Some(2));
    assert_eq!(q.stream_time(), p.stream_time());
    // The increment not reported before the snapshot is reported after restore.
    q.flush_due(0);
    assert_eq!(outputs(&mut q), vec![Count { user: "u2".into(), start: T0, end: T0 + 5 * MIN, count: 2, is_final: false }]);
}

#[test]
fn snapshots_from_other_settings_or_garbage_are_refused() {
    let mut p = ActivityPartition::new(ActivityOptions::default());
    feed(&mut p, &(0..100).map(|i| click(&format!("user-{i}"), T0 + i)).collect::<Vec<_>>());
    let snap = p.snapshot(0);
    let other = ActivityOptions { grace_ms: 0, ..Default::default() };
    assert!(matches!(ActivityPartition::restore(&snap, other), Err(pulse_engine::SnapshotError::Mismatch(_))));
    assert!(matches!(ActivityPartition::restore(b"not a frame", ActivityOptions::default()), Err(pulse_engine::SnapshotError::Corrupt(_))));
    // Cuts into the end mark or into the data; cutting exactly the end mark and checksum leaves the content whole.
    for cut in [3, 12, snap.len() / 2] {
        let torn = &snap[..snap.len() - cut];
        assert!(matches!(ActivityPartition::restore(torn, ActivityOptions::default()), Err(pulse_engine::SnapshotError::Corrupt(_))), "cut {cut}");
    }
    let mut flipped = snap;
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    assert!(ActivityPartition::restore(&flipped, ActivityOptions::default()).is_err());
}

/// A snapshot written before the click metrics existed (version 1: the same layout without them)
/// restores with its counts and empty metrics, so an upgrade does not lose the open windows.
#[test]
fn a_snapshot_from_before_the_click_metrics_restores_its_counts() {
    use std::io::Write;
    let mut raw = b"PLSA".to_vec();
    raw.extend_from_slice(&1u16.to_le_bytes());
    for v in [300_000i64, 60_000, 77, T0 + 10] {
        raw.extend_from_slice(&v.to_le_bytes());
    }
    raw.extend_from_slice(&1u32.to_le_bytes()); // one window
    raw.extend_from_slice(&T0.to_le_bytes());
    raw.extend_from_slice(&1u32.to_le_bytes()); // one user
    raw.extend_from_slice(&0u32.to_le_bytes()); // none pending
    raw.extend_from_slice(&2u32.to_le_bytes());
    raw.extend_from_slice(b"u1");
    raw.extend_from_slice(&5u64.to_le_bytes());
    raw.extend_from_slice(&i64::MAX.to_le_bytes());
    let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
    enc.write_all(&raw).unwrap();
    let frame = enc.finish().unwrap();
    let (mut p, next) = ActivityPartition::restore(&frame, ActivityOptions::default()).unwrap();
    assert_eq!((next, p.count_of("u1", T0), p.stream_time()), (77, Some(5), Some(T0 + 10)));
    feed(&mut p, &[click("u1", T0 + 20)]);
    assert_eq!(p.count_of("u1", T0), Some(6));
}

#[test]
fn an_event_far_ahead_of_the_clock_is_rejected_as_future_and_does_not_move_stream_time() {
    let mut p = ActivityPartition::new(ActivityOptions { max_future_ms: Some(5 * MIN), ..ActivityOptions::default() });
    let now = T0 + 10 * MIN; // the clock `feed` passes
    feed(&mut p, &[click("u1", T0 + 9 * MIN)]);
    // 2038, and one just past the bound.
    let rejects = feed(&mut p, &[click("u1", 2_145_916_800_000), click("u2", now + 5 * MIN + 1)]);
    assert_eq!(rejects, vec![(0, RejectReason::Future), (1, RejectReason::Future)]);
    assert_eq!(p.stats().rejected[RejectReason::Future as usize - 1], 2);
    assert_eq!(p.stats().stream_time, Some(T0 + 9 * MIN));
    // Events of the current window are still counted, not late.
    assert!(feed(&mut p, &[click("u1", T0 + 9 * MIN + 1)]).is_empty());
    assert_eq!(p.count_of("u1", T0 + 5 * MIN), Some(2));
    assert_eq!(p.count_of("u2", now + 5 * MIN + 1), None);
    // The bound survives a snapshot: the restored partition refuses the same event.
    let frame = p.snapshot(7);
    let (mut restored, _) = ActivityPartition::restore(&frame, p.options()).unwrap();
    assert_eq!(feed(&mut restored, &[click("u1", 2_145_916_800_000)]), vec![(0, RejectReason::Future)]);
    // Exactly at the bound is accepted.
    assert!(feed(&mut restored, &[click("u3", now + 5 * MIN)]).is_empty());
}

#[test]
fn without_a_bound_a_future_event_is_counted() {
    let mut p = ActivityPartition::new(ActivityOptions::default());
    assert!(feed(&mut p, &[click("u1", 2_145_916_800_000)]).is_empty());
}

#[test]
fn a_record_is_checked_against_its_kafka_timestamp_so_a_replay_refuses_the_same_events() {
    let options = ActivityOptions { max_future_ms: Some(5 * MIN), ..ActivityOptions::default() };
    let produced = T0 + 9 * MIN;
    let year_2038 = 2_145_916_800_000;
    let (values, ends) = pack(&[click("u1", produced), click("u1", produced + 6 * MIN), click("u2", produced + MIN), click("u3", year_2038)]);
    // The third record has no timestamp (the wall clock decides); the fourth claims to come from 2038
    // (a timestamp ahead of the wall clock counts as the wall clock).
    let times = [produced as f64, produced as f64, -1.0, year_2038 as f64];
    // Processed at once, and replayed ten minutes later: the same events are refused both times.
    for now in [produced + 1000, produced + 10 * MIN] {
        let mut p = ActivityPartition::new(options);
        p.ingest_at(&values, &ends, &times, now).unwrap();
        let rejects: Vec<_> = p.take_rejects().into_iter().map(|r| (r.index, r.reason)).collect();
        assert_eq!(rejects, vec![(1, RejectReason::Future), (3, RejectReason::Future)], "now {now}");
        assert_eq!(p.count_of("u1", T0 + 5 * MIN), Some(1));
        assert_eq!(p.count_of("u2", T0 + 10 * MIN), Some(1));
    }
}

#[test]
fn a_user_on_another_partition_than_murmur2_gives_it_is_rejected_as_wrong_partition() {
    // "u-1" belongs to partition 7 of 12, "u-1042" to 8 (Kafka's Utils.murmur2).
    let mut p = ActivityPartition::new(ActivityOptions { partition: 7, partitions: Some(12), ..ActivityOptions::default() });
    assert_eq!(feed(&mut p, &[click("u-1", T0), click("u-1042", T0), click("u-1", T0 + 1)]), vec![(1, RejectReason::WrongPartition)]);
    assert_eq!(p.count_of("u-1", T0), Some(2));
    assert_eq!(p.count_of("u-1042", T0), None);
}
