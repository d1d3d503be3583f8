//! Results must not depend on how the input is cut into batches, nor on a snapshot/restore in between:
//! the aggregator's batches are whatever the consumer happens to return, and a restart may fall anywhere.

use proptest::prelude::*;
use pulse_engine::output::decode;
use pulse_engine::{ActivityOptions, ActivityPartition};

const T0: i64 = 1_764_099_900_000;

/// Events from a few users over ~20 minutes with bounded disorder, some malformed.
fn events() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec((0u8..6, 0i64..1_200_000, -200_000i64..0, 0u8..20), 1..300).prop_map(|raw| {
        let mut clock = T0;
        raw.into_iter()
            .map(|(user, step, jitter, kind)| {
                clock += step / 100;
                match kind {
                    0 => "{broken".to_string(),
                    1 => format!(r#"{{"eventId":"e","userId":"u{user}"}}"#),
                    _ => format!(r#"{{"eventId":"e","userId":"u{user}","ts":{}}}"#, clock + jitter),
                }
            })
            .collect()
    })
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

fn run(events: &[String], cuts: &[usize], restore_at: Option<usize>) -> Run {
    let options = ActivityOptions { emit_interval_ms: 0, max_keys_per_window: 4, ..Default::default() };
    let mut p = ActivityPartition::new(options);
    let mut finals = Vec::new();
    let mut rejects = Vec::new();
    let mut bounds: Vec<usize> = cuts.iter().copied().chain(restore_at).collect();
    bounds.sort_unstable();
    bounds.push(events.len());
    let mut start = 0;
    for end in bounds {
        if Some(start) == restore_at {
            let snap = p.snapshot(start as i64);
            let (q, next) = ActivityPartition::restore(&snap, options).unwrap();
            assert_eq!(next, start as i64);
            p = q;
        }
        let batch = &events[start..end];
        let mut values = Vec::new();
        let mut ends = Vec::new();
        for e in batch {
            values.extend_from_slice(e.as_bytes());
            ends.push(values.len() as u32);
        }
        p.ingest(&values, &ends, 0).unwrap();
        rejects.extend(p.take_rejects().into_iter().map(|r| (start + r.index as usize, r.reason.as_str())));
        // Updates depend on flush timing; finals do not. Keep the finals only.
        finals.extend(decode(&p.take_output()).unwrap().into_iter().map(|r| r.value));
        start = end;
    }
    Run { finals, rejects, state: p.snapshot(0) }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn batching_does_not_change_finals_rejects_or_state(events in events(), cuts in cuts(300)) {
        let cuts: Vec<usize> = cuts.into_iter().filter(|&c| c <= events.len()).collect();
        prop_assert_eq!(run(&events, &[], None), run(&events, &cuts, None));
    }

    #[test]
    fn a_snapshot_and_restore_anywhere_changes_nothing(events in events(), at in 0usize..300) {
        let at = at.min(events.len());
        prop_assert_eq!(run(&events, &[], None), run(&events, &[], Some(at)));
    }
}
