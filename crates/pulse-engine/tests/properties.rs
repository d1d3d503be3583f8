//! Results must not depend on how the input is cut into batches, nor on a snapshot/restore in between:
//! the aggregator's batches are whatever the consumer happens to return, and a restart may fall anywhere.

use proptest::prelude::*;
use pulse_engine::output::decode;
use pulse_engine::snapshot::Checkpoint;
use pulse_engine::{ActivityOptions, ActivityPartition, PartitionOutputs, PurchaseOptions, PurchasesPartition, SensorOptions, SensorPartition};

mod common;
use common::pack;

const T0: i64 = 1_764_099_900_000;

/// Events from a few users (or sensors) over ~20 minutes with bounded disorder, some malformed;
/// `valid` writes a well-formed event of the topic from (user, product, time, variant).
fn events_of(valid: fn(u8, u8, i64, u8) -> String) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec((0u8..6, 0u8..9, 0i64..1_200_000, -200_000i64..0, 0u8..20), 1..300).prop_map(move |raw| {
        let mut clock = T0;
        raw.into_iter()
            .map(|(user, product, step, jitter, kind)| {
                clock += step / 100;
                match kind {
                    0 => "{broken".to_string(),
                    1 => format!(r#"{{"eventId":"e","userId":"u{user}","sensorId":"s{user}"}}"#),
                    _ => valid(user, product, clock + jitter, kind),
                }
            })
            .collect()
    })
}

fn click(user: u8, product: u8, ts: i64, variant: u8) -> String {
    let kind = ["product_view", "add_to_cart", "page_view"][variant as usize % 3];
    format!(r#"{{"eventId":"e","type":"{kind}","userId":"u{user}","productId":"p{product}","ts":{ts}}}"#)
}

fn purchase(user: u8, product: u8, ts: i64, variant: u8) -> String {
    let currency = if variant.is_multiple_of(4) { "EUR" } else { "USD" };
    format!(
        r#"{{"eventId":"e","userId":"u{user}","items":[{{"productId":"p{product}","quantity":{}}}],"total":{}.{:02},"currency":"{currency}","ts":{ts}}}"#,
        1 + variant % 3,
        product,
        variant
    )
}

fn reading(sensor: u8, value: u8, ts: i64, variant: u8) -> String {
    format!(r#"{{"eventId":"e","sensorId":"s{sensor}","metric":"t","value":{}.{variant},"unit":"C","ts":{ts}}}"#, value)
}

fn events() -> impl Strategy<Value = Vec<String>> {
    events_of(click)
}

/// The method set the aggregator uses, over the three engines.
trait Engine: Sized {
    fn ingest(&mut self, values: &[u8], ends: &[u32]);
    fn rejects(&mut self) -> Vec<(u32, &'static str)>;
    fn output(&mut self) -> Vec<u8>;
    fn snapshot(&self, next: i64) -> Vec<u8>;
    fn restore(&self, snap: &[u8]) -> (Self, i64);
}

macro_rules! engine {
    ($t:ty) => {
        impl Engine for $t {
            fn ingest(&mut self, values: &[u8], ends: &[u32]) {
                <$t as PartitionOutputs>::ingest(self, values, ends, 0).unwrap();
            }
            fn rejects(&mut self) -> Vec<(u32, &'static str)> {
                self.take_rejects().into_iter().map(|r| (r.index, r.reason.as_str())).collect()
            }
            fn output(&mut self) -> Vec<u8> {
                self.take_output()
            }
            fn snapshot(&self, next: i64) -> Vec<u8> {
                <$t>::snapshot(self, next)
            }
            fn restore(&self, snap: &[u8]) -> (Self, i64) {
                <$t>::restore(snap, self.options()).unwrap()
            }
        }
    };
}
engine!(ActivityPartition);
engine!(PurchasesPartition);
engine!(SensorPartition);

fn clicks_engine() -> ActivityPartition {
    ActivityPartition::new(ActivityOptions { emit_interval_ms: 0, max_keys_per_window: 4, top_k_capacity: 3, hll_precision: 8, ..Default::default() })
}

fn purchases_engine() -> PurchasesPartition {
    PurchasesPartition::new(PurchaseOptions { emit_interval_ms: 0, top_k_capacity: 3, hll_precision: 8, ..Default::default() })
}

fn sensors_engine() -> SensorPartition {
    SensorPartition::new(SensorOptions { emit_interval_ms: 0, max_keys_per_window: 4, ..Default::default() })
}

/// Cut points: a sorted list of split positions.
fn cuts(len: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..=len, 0..8).prop_map(|mut v| {
        v.sort_unstable();
        v
    })
}

#[derive(Debug, PartialEq, Eq)]
struct Run {
    finals: Vec<Vec<u8>>,
    rejects: Vec<(usize, &'static str)>,
    state: Vec<u8>,
}

fn run<E: Engine>(mut p: E, events: &[String], cuts: &[usize], restore_at: Option<usize>) -> Run {
    let mut finals = Vec::new();
    let mut rejects = Vec::new();
    let mut bounds: Vec<usize> = cuts.iter().copied().chain(restore_at).collect();
    bounds.sort_unstable();
    bounds.push(events.len());
    let mut start = 0;
    for end in bounds {
        if Some(start) == restore_at {
            let snap = p.snapshot(start as i64);
            let (q, next) = p.restore(&snap);
            assert_eq!(next, start as i64);
            p = q;
        }
        let batch = &events[start..end];
        let (values, ends) = pack(batch);
        p.ingest(&values, &ends);
        rejects.extend(p.rejects().into_iter().map(|(i, reason)| (start + i as usize, reason)));
        // Updates depend on flush timing; finals do not. Keep the finals only.
        finals.extend(decode(&p.output()).unwrap().into_iter().map(|r| r.value));
        start = end;
    }
    Run { finals, rejects, state: p.snapshot(0) }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn batching_does_not_change_finals_rejects_or_state(events in events(), cuts in cuts(300)) {
        let cuts: Vec<usize> = cuts.into_iter().filter(|&c| c <= events.len()).collect();
        prop_assert_eq!(run(clicks_engine(), &events, &[], None), run(clicks_engine(), &events, &cuts, None));
    }

    #[test]
    fn a_snapshot_and_restore_anywhere_changes_nothing(events in events(), at in 0usize..300) {
        let at = at.min(events.len());
        prop_assert_eq!(run(clicks_engine(), &events, &[], None), run(clicks_engine(), &events, &[], Some(at)));
    }

    #[test]
    fn purchases_do_not_depend_on_batching_or_a_restore(events in events_of(purchase), cuts in cuts(300), at in 0usize..300) {
        let cuts: Vec<usize> = cuts.into_iter().filter(|&c| c <= events.len()).collect();
        let whole = run(purchases_engine(), &events, &[], None);
        prop_assert_eq!(&whole, &run(purchases_engine(), &events, &cuts, None));
        prop_assert_eq!(&whole, &run(purchases_engine(), &events, &[], Some(at.min(events.len()))));
    }

    #[test]
    fn sensor_stats_do_not_depend_on_batching_or_a_restore(events in events_of(reading), cuts in cuts(300), at in 0usize..300) {
        let cuts: Vec<usize> = cuts.into_iter().filter(|&c| c <= events.len()).collect();
        let whole = run(sensors_engine(), &events, &[], None);
        prop_assert_eq!(&whole, &run(sensors_engine(), &events, &cuts, None));
        prop_assert_eq!(&whole, &run(sensors_engine(), &events, &[], Some(at.min(events.len()))));
    }
}

/// What a run of the activity engine shows: every output record (updates too: both runs flush at the
/// same points), the rejects, and the counts left open at the end, each list sorted.
#[derive(Debug, PartialEq, Eq)]
struct CheckpointedRun {
    outputs: Vec<Vec<u8>>,
    rejects: Vec<(usize, &'static str)>,
    open: Vec<Vec<u8>>,
    keys: u64,
}

/// Feeds `events` with a checkpoint at each cut `(position, whole, flush_first)` — a whole snapshot
/// where `whole` says so (and always at the first), a delta otherwise — and flushes after each batch,
/// before the checkpoint or after it. With `restore_at`, the engine is replaced at that cut by one
/// restored from the last whole snapshot and the deltas after it.
fn run_checkpointed(events: &[String], cuts: &[(usize, bool, bool)], restore_at: Option<usize>) -> CheckpointedRun {
    let mut p = clicks_engine();
    let mut frames: Vec<(bool, Vec<u8>)> = Vec::new();
    let mut outputs = Vec::new();
    let mut rejects = Vec::new();
    let mut start = 0;
    let mut bounds: Vec<(usize, bool, bool)> = cuts.to_vec();
    bounds.push((events.len(), false, true));
    for (i, &(end, whole, flush_first)) in bounds.iter().enumerate() {
        let batch = &events[start..end];
        let (values, ends) = pack(batch);
        PartitionOutputs::ingest(&mut p, &values, &ends, 0).unwrap();
        rejects.extend(p.take_rejects().into_iter().map(|r| (start + r.index as usize, r.reason.as_str())));
        if flush_first {
            p.flush_due(i as i64);
        }
        outputs.extend(decode(&p.take_output()).unwrap().into_iter().map(|r| r.value));
        if i < cuts.len() {
            if whole || frames.is_empty() {
                frames = vec![(true, p.encode_base(end as i64, 7 + i as u32).finish())];
            } else {
                frames.push((false, p.encode_delta(end as i64).expect("a chain exists").finish()));
            }
            if restore_at == Some(i) {
                let (mut q, mut next) = ActivityPartition::restore(&frames[0].1, p.options()).unwrap();
                for (_, delta) in &frames[1..] {
                    next = q.apply_delta(delta).unwrap();
                }
                assert_eq!(next, end as i64, "the last frame covers up to the cut");
                assert_eq!(q.chain(), p.chain());
                p = q;
            }
        }
        if !flush_first {
            p.flush_due(i as i64);
            outputs.extend(decode(&p.take_output()).unwrap().into_iter().map(|r| r.value));
        }
        start = end;
    }
    // Reports every open count as a final, so the open state is compared too.
    PartitionOutputs::ingest(&mut p, click(0, 0, T0 + 100_000_000, 0).as_bytes(), &[click(0, 0, T0 + 100_000_000, 0).len() as u32], 0).unwrap();
    let mut open: Vec<Vec<u8>> = decode(&p.take_output()).unwrap().into_iter().map(|r| r.value).collect();
    open.sort_unstable();
    outputs.sort_unstable();
    CheckpointedRun { outputs, rejects, open, keys: p.stats().keys }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_restore_from_a_whole_snapshot_and_its_deltas_changes_nothing(
        events in events(),
        cuts in prop::collection::vec((0usize..300, any::<bool>(), any::<bool>()), 1..10),
        at in 0usize..10,
    ) {
        let mut cuts: Vec<(usize, bool, bool)> = cuts.into_iter().map(|(c, w, f)| (c.min(events.len()), w, f)).collect();
        cuts.sort_unstable_by_key(|c| c.0);
        let at = at.min(cuts.len() - 1);
        prop_assert_eq!(run_checkpointed(&events, &cuts, None), run_checkpointed(&events, &cuts, Some(at)));
    }
}
