//! The business-metric topologies driven with chosen event times: top products, unique users and the
//! funnel from clicks; revenue, purchased products and buyers from purchases; sensor statistics.

use pulse_engine::output::decode;
use pulse_engine::{ActivityOptions, ActivityPartition, OutputKind, PartitionOutputs, PurchaseOptions, PurchasesPartition, RejectReason, SensorOptions, SensorPartition};
use serde_json::{json, Value};

mod common;
use common::pack;

const MIN: i64 = 60_000;
/// 2025-11-25T19:45:00Z, a 5-minute window boundary.
const T0: i64 = 1_764_099_900_000;

/// Decoded records of one kind: (key, value).
fn of_kind(packed: &[u8], kind: OutputKind) -> Vec<(String, Value)> {
    decode(packed)
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == kind as u8)
        .map(|r| (String::from_utf8(r.key).unwrap(), serde_json::from_slice(&r.value).unwrap()))
        .collect()
}

fn click(kind: &str, user: &str, product: &str, ts: i64) -> String {
    json!({"eventId": "e", "type": kind, "userId": user, "productId": product, "ts": ts}).to_string()
}

fn purchase(user: &str, items: &[(&str, u64)], total: f64, currency: &str, ts: i64) -> String {
    let items: Vec<Value> = items.iter().map(|(p, q)| json!({"productId": p, "quantity": q, "price": 1.5})).collect();
    json!({"eventId": "e", "type": "purchase", "userId": user, "orderId": "o", "items": items, "total": total, "currency": currency, "ts": ts}).to_string()
}

fn reading(sensor: &str, value: f64, ts: i64) -> String {
    json!({"eventId": "e", "sensorId": sensor, "metric": "temperature", "value": value, "unit": "C", "ts": ts}).to_string()
}

fn clicks_engine() -> ActivityPartition {
    ActivityPartition::new(ActivityOptions { partition: 3, emit_interval_ms: 0, top_k_size: 2, ..Default::default() })
}

#[test]
fn clicks_feed_top_products_unique_users_and_the_funnel_with_known_answers() {
    let mut p = clicks_engine();
    let mut records = Vec::new();
    // Window [T0, T0+5m): p-1 viewed 3×, p-2 2×, p-3 once; carts: p-2 twice; 4 distinct users, 3 viewers, 2 carters.
    for (kind, user, product, at) in [
        ("product_view", "u1", "p-1", 0),
        ("product_view", "u2", "p-1", 1),
        ("product_view", "u1", "p-2", 2),
        ("product_view", "u3", "p-1", MIN + 5),
        ("product_view", "u3", "p-2", MIN + 6),
        ("product_view", "u3", "p-3", MIN + 7),
        ("add_to_cart", "u1", "p-2", 2 * MIN),
        ("add_to_cart", "u2", "p-2", 2 * MIN + 1),
        ("search", "u4", "", 2 * MIN + 2),
    ] {
        records.push(click(kind, user, product, T0 + at));
    }
    let (values, ends) = pack(&records);
    assert_eq!(p.ingest(&values, &ends, 0).unwrap().accepted, 9);
    // Close the first 5-minute window: stream time reaches its end plus grace.
    let (values, ends) = pack(&[click("page_view", "u9", "", T0 + 6 * MIN)]);
    p.ingest(&values, &ends, 0).unwrap();
    let out = p.take_output();

    let top: Vec<_> = of_kind(&out, OutputKind::TopProducts).into_iter().filter(|(_, v)| v["windowStart"] == T0).collect();
    let views = &top.iter().find(|(k, _)| k == "views/3").unwrap().1;
    assert_eq!(
        *views,
        json!({"partition": 3, "metric": "views", "windowStart": T0, "windowEnd": T0 + 5 * MIN,
               "items": [{"productId": "p-1", "count": 3, "error": 0}, {"productId": "p-2", "count": 2, "error": 0}],
               "threshold": 1, "final": true})
    );
    let carts = &top.iter().find(|(k, _)| k == "carts/3").unwrap().1;
    assert_eq!(carts["items"], json!([{"productId": "p-2", "count": 2, "error": 0}]));
    assert_eq!(carts["threshold"], 0);

    let unique = of_kind(&out, OutputKind::UniqueUsers);
    let five = unique.iter().find(|(k, v)| k == "5m/3" && v["windowStart"] == T0).unwrap();
    assert_eq!(five.1["estimate"], 4);
    assert_eq!(five.1["final"], true);
    // 1-minute windows: [T0, +1m) had u1, u2; [+1m, +2m) u3; [+2m, +3m) u1, u2, u4.
    let ones: Vec<(i64, u64)> = unique
        .iter()
        .filter(|(k, _)| k == "1m/3")
        .map(|(_, v)| (v["windowStart"].as_i64().unwrap() - T0, v["estimate"].as_u64().unwrap()))
        .collect();
    assert_eq!(ones, vec![(0, 2), (MIN, 1), (2 * MIN, 3)]);

    let funnel = of_kind(&out, OutputKind::Funnel);
    assert_eq!(
        funnel[0],
        (
            "user-clicks/3".to_string(),
            json!({"source": "user-clicks", "partition": 3, "windowStart": T0, "windowEnd": T0 + 5 * MIN,
                   "views": 6, "carts": 2, "purchases": 0, "viewers": 3, "carters": 2, "buyers": 0, "final": true})
        )
    );
}

#[test]
fn click_metric_updates_are_coalesced_and_only_changed_records_are_sent() {
    let mut p = clicks_engine();
    let (values, ends) = pack(&[click("product_view", "u1", "p-1", T0), click("product_view", "u1", "p-1", T0 + 1)]);
    p.ingest(&values, &ends, 0).unwrap();
    p.flush_due(0);
    let out = p.take_output();
    assert_eq!(of_kind(&out, OutputKind::TopProducts).len(), 1, "views only: nothing was carted");
    assert_eq!(of_kind(&out, OutputKind::TopProducts)[0].1["items"][0]["count"], 2);
    assert_eq!(of_kind(&out, OutputKind::UniqueUsers).len(), 2, "1m and 5m");
    // The same user again: unique-user sketches do not change, so only the views and funnel are re-sent.
    let (values, ends) = pack(&[click("product_view", "u1", "p-1", T0 + 2)]);
    p.ingest(&values, &ends, 0).unwrap();
    p.flush_due(1);
    let out = p.take_output();
    assert!(of_kind(&out, OutputKind::UniqueUsers).is_empty());
    assert_eq!(of_kind(&out, OutputKind::Funnel)[0].1["views"], 3);
}

#[test]
fn a_click_too_late_for_its_minute_still_counts_in_five_minute_windows() {
    let mut p = clicks_engine();
    let (values, ends) = pack(&[click("product_view", "u1", "p-1", T0 + 3 * MIN), click("product_view", "u2", "p-1", T0 + 10)]);
    p.ingest(&values, &ends, 0).unwrap();
    assert!(p.take_rejects().is_empty());
    assert_eq!(p.stats().partially_late, 1);
    assert_eq!(p.count_of("u2", T0), Some(1));
}

fn purchases_engine() -> PurchasesPartition {
    PurchasesPartition::new(PurchaseOptions { partition: 2, emit_interval_ms: 0, top_k_size: 3, ..Default::default() })
}

#[test]
fn purchases_give_exact_revenue_top_products_and_buyers() {
    let mut p = purchases_engine();
    let records = vec![
        purchase("u1", &[("p-1", 2), ("p-2", 1)], 39.98, "USD", T0 + 1_000),
        purchase("u2", &[("p-1", 1)], 0.1, "USD", T0 + 2_000),
        purchase("u2", &[("p-3", 4)], 0.2, "USD", T0 + 3_000),
        purchase("u3", &[("p-2", 1)], 12.5, "EUR", T0 + 4_000),
        purchase("u1", &[("p-2", 1)], 1.01, "USD", T0 + MIN + 1),
        r#"{"eventId":"e","userId":"u1","ts":1764099900000,"items":[],"currency":"USD"}"#.to_string(),
    ];
    let (values, ends) = pack(&records);
    assert_eq!(p.ingest(&values, &ends, 0).unwrap().accepted, 5);
    assert_eq!(p.take_rejects().iter().map(|r| (r.index, r.reason)).collect::<Vec<_>>(), vec![(5, RejectReason::MissingField)]);
    assert_eq!(p.revenue_of("USD", T0), Some((3, 8, 40_280_000)));

    let (values, ends) = pack(&[purchase("u4", &[("p-9", 1)], 1.0, "USD", T0 + 7 * MIN)]);
    p.ingest(&values, &ends, 0).unwrap();
    let out = p.take_output();
    let revenue: Vec<Value> = of_kind(&out, OutputKind::Revenue).into_iter().map(|(_, v)| v).collect();
    assert!(revenue.contains(&json!({"partition": 2, "currency": "USD", "windowStart": T0, "windowEnd": T0 + MIN, "orders": 3, "items": 8, "revenue": 40.28, "final": true})));
    assert!(revenue.contains(&json!({"partition": 2, "currency": "EUR", "windowStart": T0, "windowEnd": T0 + MIN, "orders": 1, "items": 1, "revenue": 12.5, "final": true})));
    assert!(revenue.contains(&json!({"partition": 2, "currency": "USD", "windowStart": T0 + MIN, "windowEnd": T0 + 2 * MIN, "orders": 1, "items": 1, "revenue": 1.01, "final": true})));
    assert_eq!(of_kind(&out, OutputKind::Revenue).iter().filter(|(k, _)| k == "2/USD").count(), 2);

    let (key, top) = &of_kind(&out, OutputKind::TopProducts)[0];
    assert_eq!(key, "purchases/2");
    assert_eq!(
        top["items"],
        json!([{"productId": "p-3", "count": 4, "error": 0}, {"productId": "p-1", "count": 3, "error": 0}, {"productId": "p-2", "count": 3, "error": 0}])
    );
    let (key, funnel) = &of_kind(&out, OutputKind::Funnel)[0];
    assert_eq!(key, "user-purchases/2");
    assert_eq!((funnel["purchases"].as_u64(), funnel["buyers"].as_u64(), funnel["views"].as_u64()), (Some(5), Some(3), Some(0)));
}

#[test]
fn late_purchases_are_rejected_and_partially_late_ones_counted_where_open() {
    let mut p = purchases_engine();
    let (values, ends) = pack(&[
        purchase("u1", &[("p-1", 1)], 1.0, "USD", T0 + 4 * MIN),
        purchase("u2", &[("p-1", 1)], 2.0, "USD", T0 + 10),
        purchase("u3", &[("p-1", 1)], 3.0, "USD", T0 + 12 * MIN),
        purchase("u3", &[("p-1", 1)], 3.0, "USD", T0 + 5 * MIN),
    ]);
    p.ingest(&values, &ends, 0).unwrap();
    assert_eq!(p.stats().partially_late, 1, "the minute of T0+10ms closed at T0+2m, its 5-minute window had not");
    assert_eq!(p.take_rejects().iter().map(|r| (r.index, r.reason)).collect::<Vec<_>>(), vec![(3, RejectReason::Late)]);
    let out = p.take_output();
    let funnel = of_kind(&out, OutputKind::Funnel).into_iter().find(|(_, v)| v["windowStart"] == T0).unwrap().1;
    assert_eq!(funnel["purchases"], 2);
}

#[test]
fn sensor_statistics_and_the_ewma_anomaly_score() {
    let mut p = SensorPartition::new(SensorOptions { emit_interval_ms: 0, ewma_alpha: 0.5, ..Default::default() });
    let readings: Vec<String> = [4.0, 4.2, 4.0, 4.2, 9.0].iter().enumerate().map(|(i, v)| reading("fridge-7", *v, T0 + i as i64 * 1000)).collect();
    let (values, ends) = pack(&readings);
    assert_eq!(p.ingest(&values, &ends, 0).unwrap().accepted, 5);
    p.flush_due(0);
    let out = p.take_output();
    let (key, v) = &of_kind(&out, OutputKind::SensorStats)[0];
    assert_eq!(key, "fridge-7");
    assert_eq!((v["count"].as_u64(), v["min"].as_f64(), v["max"].as_f64()), (Some(5), Some(4.0), Some(9.0)));
    assert!((v["mean"].as_f64().unwrap() - 5.08).abs() < 1e-12);
    // EWMA by hand with α = 0.5.
    let (mut mean, mut var, mut score) = (4.0f64, 0.0f64, 0.0);
    for x in [4.2, 4.0, 4.2, 9.0] {
        let d: f64 = x - mean;
        score = if var > 0.0 { d.abs() / var.sqrt() } else { 0.0 };
        mean += 0.5 * d;
        var = 0.5 * (var + 0.5 * d * d);
    }
    assert!((v["ewma"].as_f64().unwrap() - mean).abs() < 1e-12);
    assert!((v["anomalyScore"].as_f64().unwrap() - score).abs() < 1e-9);
    assert!(score > 10.0, "a jump from ~4.1 to 9 is an anomaly (score {score})");
    assert_eq!((v["metric"].as_str(), v["unit"].as_str(), v["final"].as_bool()), (Some("temperature"), Some("C"), Some(false)));

    // The EWMA carries into the next window; the window closes with one final.
    let (values, ends) = pack(&[reading("fridge-7", 4.1, T0 + MIN + 1), reading("other", 1.0, T0 + 2 * MIN)]);
    p.ingest(&values, &ends, 0).unwrap();
    let out = p.take_output();
    let finals = of_kind(&out, OutputKind::SensorStats);
    assert_eq!(finals.len(), 1);
    assert_eq!((finals[0].1["windowStart"].as_i64(), finals[0].1["count"].as_u64(), finals[0].1["final"].as_bool()), (Some(T0), Some(5), Some(true)));
    p.flush_due(1);
    let next = of_kind(&p.take_output(), OutputKind::SensorStats).into_iter().find(|(k, _)| k == "fridge-7").unwrap().1;
    assert!((next["ewma"].as_f64().unwrap() - (mean + 0.5 * (4.1 - mean))).abs() < 1e-12);
}

#[test]
fn bad_and_late_readings_and_the_sensor_bound() {
    let mut p = SensorPartition::new(SensorOptions { max_keys_per_window: 2, ..Default::default() });
    let (values, ends) = pack(&[
        reading("a", 1.0, T0 + 3 * MIN),
        reading("b", 1.0, T0 + 3 * MIN),
        reading("c", 1.0, T0 + 3 * MIN),
        reading("a", 1.0, T0),
        r#"{"eventId":"e","sensorId":"a","metric":"t","ts":1764099900000}"#.to_string(),
    ]);
    p.ingest(&values, &ends, 0).unwrap();
    let rejects: Vec<_> = p.take_rejects().into_iter().map(|r| (r.index, r.reason)).collect();
    assert_eq!(rejects, vec![(2, RejectReason::Overflow), (3, RejectReason::Late), (4, RejectReason::MissingField)]);
}

/// Snapshot, restore, and the restored engine is indistinguishable: same bytes, same later outputs.
#[test]
fn every_engine_round_trips_through_a_snapshot() {
    let clicks: Vec<String> = (0i64..400).map(|i| click(if i % 3 == 0 { "add_to_cart" } else { "product_view" }, &format!("u{}", i % 37), &format!("p-{}", i % 11), T0 + i * 900)).collect();
    let opts = ActivityOptions { partition: 3, emit_interval_ms: 0, top_k_capacity: 5, ..Default::default() };
    let mut a = ActivityPartition::new(opts);
    let (values, ends) = pack(&clicks[..300]);
    a.ingest(&values, &ends, 0).unwrap();
    a.take_output();
    let snap = a.snapshot(300);
    let (mut b, next) = ActivityPartition::restore(&snap, opts).unwrap();
    assert_eq!(next, 300);
    assert_eq!(b.snapshot(300), snap);
    let (values, ends) = pack(&clicks[300..]);
    a.ingest(&values, &ends, 0).unwrap();
    b.ingest(&values, &ends, 0).unwrap();
    a.flush_due(0);
    b.flush_due(0);
    assert_eq!(a.take_output(), b.take_output());
    assert!(matches!(ActivityPartition::restore(&snap, ActivityOptions { partition: 4, ..opts }), Err(pulse_engine::SnapshotError::Mismatch(_))));
    assert!(matches!(ActivityPartition::restore(&snap, ActivityOptions { hll_precision: 12, ..opts }), Err(pulse_engine::SnapshotError::Mismatch(_))));

    let orders: Vec<String> = (0i64..200).map(|i| purchase(&format!("u{}", i % 23), &[(&format!("p-{}", i % 7), 1 + i as u64 % 3)], 1.25 * i as f64, if i % 5 == 0 { "EUR" } else { "USD" }, T0 + i * 2_000)).collect();
    let popts = PurchaseOptions { emit_interval_ms: 0, top_k_capacity: 4, ..Default::default() };
    let mut a = PurchasesPartition::new(popts);
    let (values, ends) = pack(&orders[..150]);
    a.ingest(&values, &ends, 0).unwrap();
    a.take_output();
    let snap = a.snapshot(150);
    let (mut b, next) = PurchasesPartition::restore(&snap, popts).unwrap();
    assert_eq!((next, b.snapshot(150)), (150, snap.clone()));
    let (values, ends) = pack(&orders[150..]);
    a.ingest(&values, &ends, 0).unwrap();
    b.ingest(&values, &ends, 0).unwrap();
    a.flush_due(0);
    b.flush_due(0);
    assert_eq!(a.take_output(), b.take_output());
    assert!(PurchasesPartition::restore(&snap, PurchaseOptions { top_k_capacity: 5, ..popts }).is_err());

    let readings: Vec<String> = (0..300).map(|i| reading(&format!("s-{}", i % 13), (i % 17) as f64 * 0.5, T0 + i * 700)).collect();
    let sopts = SensorOptions { emit_interval_ms: 0, ..Default::default() };
    let mut a = SensorPartition::new(sopts);
    let (values, ends) = pack(&readings[..200]);
    a.ingest(&values, &ends, 0).unwrap();
    a.take_output();
    let snap = a.snapshot(200);
    let (mut b, next) = SensorPartition::restore(&snap, sopts).unwrap();
    assert_eq!((next, b.snapshot(200)), (200, snap.clone()));
    let (values, ends) = pack(&readings[200..]);
    a.ingest(&values, &ends, 0).unwrap();
    b.ingest(&values, &ends, 0).unwrap();
    a.flush_due(0);
    b.flush_due(0);
    assert_eq!(a.take_output(), b.take_output());
    assert!(matches!(SensorPartition::restore(&snap, SensorOptions { ewma_alpha: 0.2, ..sopts }), Err(pulse_engine::SnapshotError::Mismatch(_))));
    assert!(matches!(SensorPartition::restore(b"junk", sopts), Err(pulse_engine::SnapshotError::Corrupt(_))));
}

#[test]
fn purchases_and_readings_far_ahead_of_the_clock_are_rejected_as_future() {
    let now = T0 + MIN;
    let far = now + 6 * MIN;
    let mut orders = PurchasesPartition::new(PurchaseOptions { max_future_ms: Some(5 * MIN), ..PurchaseOptions::default() });
    let (values, ends) = pack(&[purchase("u1", &[("p1", 1)], 1.5, "USD", far), purchase("u1", &[("p1", 1)], 1.5, "USD", T0)]);
    assert_eq!(orders.ingest(&values, &ends, now).unwrap().accepted, 1);
    assert_eq!(orders.take_rejects().iter().map(|r| (r.index, r.reason)).collect::<Vec<_>>(), vec![(0, RejectReason::Future)]);
    assert_eq!(orders.stats().stream_time, Some(T0));

    let mut sensors = SensorPartition::new(SensorOptions { max_future_ms: Some(5 * MIN), ..SensorOptions::default() });
    let reading = |ts: i64| json!({"eventId": "e", "sensorId": "fridge-7", "metric": "temperature", "value": 4.2, "ts": ts}).to_string();
    let (values, ends) = pack(&[reading(far), reading(T0)]);
    assert_eq!(sensors.ingest(&values, &ends, now).unwrap().accepted, 1);
    assert_eq!(sensors.take_rejects().iter().map(|r| (r.index, r.reason)).collect::<Vec<_>>(), vec![(0, RejectReason::Future)]);
    assert_eq!(sensors.stats().stream_time, Some(T0));
}
