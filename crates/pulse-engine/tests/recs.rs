//! The recommender on small hand-made sessions whose right answers are known.

use pulse_engine::recs::{Interaction, RecsModel, RecsOptions};
use pulse_engine::recs_eval::{evaluate, parse_sessions_tsv};

const T: i64 = 1_764_100_000_000;

fn items(model: &mut RecsModel, user: &str, k: usize, exclude_seen: bool) -> Vec<String> {
    model.recommend(user, k, exclude_seen).items.into_iter().map(|r| r.item).collect()
}

/// Many sessions go phone → case → charger; a few go phone → headphones.
fn trained() -> RecsModel {
    let mut m = RecsModel::new(RecsOptions::default());
    let mut t = T;
    for s in 0..30 {
        let user = format!("s{s}");
        for item in ["phone", "case", "charger"] {
            m.observe(&user, item, Interaction::View, t);
            t += 1000;
        }
    }
    for s in 30..33 {
        let user = format!("s{s}");
        for item in ["phone", "headphones"] {
            m.observe(&user, item, Interaction::View, t);
            t += 1000;
        }
    }
    m
}

#[test]
fn recommends_what_follows_the_users_recent_items() {
    let mut m = trained();
    m.observe("new", "phone", Interaction::View, T + 1_000_000);
    let recs = m.recommend("new", 3, true);
    assert!(!recs.fallback);
    assert_eq!(recs.items[0].item, "case", "{recs:?}");
    assert_eq!(recs.items[0].because.as_deref(), Some("phone"));
    assert!(items(&mut m, "new", 3, true).contains(&"headphones".to_string()));
    // After the case, the charger comes first.
    m.observe("new", "case", Interaction::View, T + 1_001_000);
    assert_eq!(items(&mut m, "new", 1, true), vec!["charger"]);
}

#[test]
fn excluding_seen_items_leaves_them_out() {
    let mut m = trained();
    m.observe("u", "case", Interaction::View, T + 1_000_000);
    m.observe("u", "phone", Interaction::View, T + 1_001_000);
    let with_seen = items(&mut m, "u", 10, false);
    let without = items(&mut m, "u", 10, true);
    assert!(with_seen.contains(&"case".to_string()));
    assert!(!without.contains(&"case".to_string()) && !without.contains(&"phone".to_string()));
}

#[test]
fn a_cold_user_gets_the_popularity_fallback_flagged() {
    let m = trained();
    let recs = m.recommend("nobody", 3, false);
    assert!(recs.fallback);
    assert_eq!(recs.items.len(), 3);
    assert!(recs.items.iter().all(|r| r.because.is_none()));
    assert_eq!(recs.items[0].item, "phone", "the most viewed item trends first");
}

#[test]
fn purchases_weigh_more_than_views() {
    let mut m = RecsModel::new(RecsOptions::default());
    m.observe("a", "x", Interaction::View, T);
    m.observe("a", "viewed", Interaction::View, T + 1);
    m.observe("b", "x", Interaction::View, T + 2);
    m.observe("b", "bought", Interaction::Purchase, T + 3);
    m.observe("c", "x", Interaction::View, T + 4);
    assert_eq!(items(&mut m, "c", 1, true), vec!["bought"]);
}

#[test]
fn recent_evidence_outweighs_old_evidence() {
    let opts = RecsOptions { session_age_ms: 3_600_000.0, ..Default::default() };
    let mut m = RecsModel::new(opts);
    for s in 0..5 {
        m.observe(&format!("old{s}"), "x", Interaction::View, T);
        m.observe(&format!("old{s}"), "stale", Interaction::View, T + 1);
    }
    let later = T + 10 * 3_600_000;
    for s in 0..2 {
        m.observe(&format!("new{s}"), "x", Interaction::View, later);
        m.observe(&format!("new{s}"), "fresh", Interaction::View, later + 1);
    }
    m.observe("q", "x", Interaction::View, later + 2);
    assert_eq!(items(&mut m, "q", 1, true), vec!["fresh"]);
}

#[test]
fn memory_stays_within_its_bounds() {
    let opts = RecsOptions { max_sessions: 10, max_session_items: 4, max_items: 50, max_users: 20, ..Default::default() };
    let mut m = RecsModel::new(opts);
    for i in 0..1000 {
        m.observe(&format!("u{}", i % 37), &format!("item{}", i % 80), Interaction::View, T + i);
    }
    let s = m.stats();
    assert!(s.items <= 50 && s.evicted_items > 0);
    assert!(s.users <= 20);
    assert_eq!(s.sessions, 10);
    assert!(m.similar("item999", 10).is_empty());
}

#[test]
fn a_full_item_table_evicts_the_least_recently_seen_item() {
    let opts = RecsOptions { max_items: 3, ..Default::default() };
    let mut m = RecsModel::new(opts);
    for (i, item) in ["a", "b", "c", "a"].iter().enumerate() {
        m.observe("u", item, Interaction::View, T + i as i64);
    }
    // b is now the least recently seen: d takes its place, a and c stay.
    m.observe("v", "d", Interaction::View, T + 10);
    assert_eq!(m.stats().items, 3);
    assert_eq!(m.stats().evicted_items, 1);
    assert!(m.similar("b", 5).is_empty(), "an evicted item is unknown");
    let similar: Vec<String> = m.similar("a", 5).into_iter().map(|r| r.item).collect();
    assert!(similar.contains(&"c".to_string()) && !similar.contains(&"b".to_string()) && !similar.contains(&"d".to_string()), "{similar:?}");
    // u's session lost b but keeps the rest.
    let seen = items(&mut m, "u", 10, false);
    assert!(!seen.contains(&"b".to_string()), "{seen:?}");
    // The snapshot keeps the evicted slot's new owner.
    let restored = RecsModel::restore(&m.snapshot(), opts).unwrap();
    assert_eq!(restored.stats(), m.stats());
    assert_eq!(restored.recommend("u", 5, false), m.recommend("u", 5, false));
}

#[test]
fn the_oldest_sessions_leave_the_store_first() {
    let opts = RecsOptions { max_sessions: 2, ..Default::default() };
    let mut m = RecsModel::new(opts);
    m.observe("s1", "x", Interaction::View, T);
    m.observe("s1", "old", Interaction::View, T + 1);
    m.observe("s2", "x", Interaction::View, T + 2);
    m.observe("s2", "mid", Interaction::View, T + 3);
    m.observe("s3", "x", Interaction::View, T + 4);
    // s3 took s1's slot: what s1 saw no longer follows x.
    assert_eq!(m.stats().sessions, 2);
    let recs = items(&mut m, "s3", 5, true);
    assert!(recs.contains(&"mid".to_string()) && !recs[..1].contains(&"old".to_string()), "{recs:?}");
    assert!(m.recommend("s3", 5, true).items.iter().find(|r| r.item == "old").is_none_or(|r| r.because.is_none()), "old only as a trending fill");
}

#[test]
fn the_neighbour_sessions_favour_the_item_next_to_the_shared_one() {
    let mut m = RecsModel::new(RecsOptions::default());
    // In every past session a is followed by b at once, and c comes four steps later.
    for s in 0..10 {
        for (i, item) in ["a", "b", "p", "q", "r", "c"].iter().enumerate() {
            m.observe(&format!("s{s}"), item, Interaction::View, T + s * 100 + i as i64);
        }
    }
    m.observe("new", "a", Interaction::View, T + 5000);
    let recs = items(&mut m, "new", 6, true);
    let at = |x: &str| recs.iter().position(|r| r == x).unwrap();
    assert!(at("b") < at("p") && at("p") < at("c"), "{recs:?}");
}

#[test]
fn similar_items_come_from_the_same_scores() {
    let m = trained();
    let similar: Vec<String> = m.similar("case", 2).into_iter().map(|r| r.item).collect();
    assert!(similar.contains(&"charger".to_string()) && similar.contains(&"phone".to_string()), "{similar:?}");
    assert!(m.similar("unknown", 5).is_empty());
}

#[test]
fn session_files_are_parsed_strictly() {
    let ok = parse_sessions_tsv("SessionId\tItemId\tTime\n2\tb\t10.5\n1\ta\t5\n1\tc\t4\n").unwrap();
    assert_eq!(ok.len(), 2);
    assert_eq!(ok[0][0].session, "1");
    assert_eq!(ok[0].iter().map(|e| e.item.as_str()).collect::<Vec<_>>(), vec!["c", "a"], "time order within a session");
    assert_eq!(ok[1][0].ts_ms, 10_500);
    assert!(parse_sessions_tsv("").is_err());
    assert!(parse_sessions_tsv("Session\tItem\tTime\n").unwrap_err().contains("header"));
    assert!(parse_sessions_tsv("SessionId\tItemId\tTime\n1\ta\n").unwrap_err().contains("line 2"));
    assert!(parse_sessions_tsv("SessionId\tItemId\tTime\n1\ta\tsoon\n").unwrap_err().contains("Time"));
}

#[test]
fn evaluation_scores_a_perfectly_predictable_test_set() {
    let mut train = String::from("SessionId\tItemId\tTime\n");
    for s in 0..20 {
        for (i, item) in ["a", "b", "c", "d"].iter().enumerate() {
            train.push_str(&format!("{s}\t{item}\t{}\n", 1000 + s * 10 + i));
        }
    }
    let test = "SessionId\tItemId\tTime\n100\ta\t5000\n100\tb\t5001\n100\tc\t5002\n";
    let r = evaluate(RecsOptions::default(), &parse_sessions_tsv(&train).unwrap(), &parse_sessions_tsv(test).unwrap(), 1);
    assert_eq!(r.predictions, 2);
    assert_eq!(r.seen_excluded.hit_rate, 1.0);
    assert_eq!(r.seen_excluded.mrr, 1.0);
    assert_eq!(r.events, 83);
}

mod streaming {
    use super::*;
    use proptest::prelude::*;

    fn record(user: u8, product: u8, kind: u8, ts: i64) -> String {
        match kind {
            0 => format!(r#"{{"eventId":"e","type":"product_view","userId":"u{user}","sessionId":"s","productId":"p{product}","ts":{ts}}}"#),
            1 => format!(r#"{{"eventId":"e","type":"add_to_cart","userId":"u{user}","sessionId":"s","productId":"p{product}","ts":{ts}}}"#),
            2 => format!(
                r#"{{"eventId":"e","type":"purchase","userId":"u{user}","orderId":"o","items":[{{"productId":"p{product}","quantity":1,"price":2.5}},{{"productId":"p{}","quantity":2,"price":1}}],"total":4.5,"currency":"USD","ts":{ts}}}"#,
                product / 2
            ),
            3 => format!(r#"{{"eventId":"e","type":"page_view","userId":"u{user}","sessionId":"s","ts":{ts}}}"#),
            _ => "{not json".to_string(),
        }
    }

    fn events() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec((0u8..8, 0u8..30, 0u8..6, 0i64..600_000), 1..200).prop_map(|raw| {
            let mut t = T;
            raw.into_iter()
                .map(|(u, p, k, step)| {
                    t += step;
                    record(u, p, k, t)
                })
                .collect()
        })
    }

    fn feed(model: &mut RecsModel, batch: &[String]) -> pulse_engine::recs::IngestCounts {
        let mut values = Vec::new();
        let mut ends = Vec::new();
        for r in batch {
            values.extend_from_slice(r.as_bytes());
            ends.push(values.len() as u32);
        }
        model.ingest(&values, &ends)
    }

    fn small() -> RecsOptions {
        RecsOptions { max_sessions: 7, max_session_items: 5, max_users: 6, max_items: 25, ..Default::default() }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn the_model_does_not_depend_on_batching(events in events(), cuts in prop::collection::vec(0usize..200, 0..6)) {
            let mut whole = RecsModel::new(small());
            feed(&mut whole, &events);
            let mut pieces = RecsModel::new(small());
            let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c.min(events.len())).collect();
            bounds.sort_unstable();
            bounds.push(events.len());
            let mut start = 0;
            for end in bounds {
                feed(&mut pieces, &events[start..end]);
                start = end;
            }
            prop_assert_eq!(whole.snapshot(), pieces.snapshot());
        }

        #[test]
        fn a_snapshot_and_restore_anywhere_changes_nothing(events in events(), at in 0usize..200) {
            let at = at.min(events.len());
            let mut straight = RecsModel::new(small());
            feed(&mut straight, &events);
            let mut first = RecsModel::new(small());
            feed(&mut first, &events[..at]);
            let mut restored = RecsModel::restore(&first.snapshot(), small()).unwrap();
            feed(&mut restored, &events[at..]);
            prop_assert_eq!(straight.snapshot(), restored.snapshot());
            prop_assert_eq!(straight.recommend("u1", 5, false), restored.recommend("u1", 5, false));
        }
    }

    #[test]
    fn ingest_learns_views_carts_and_each_purchased_product() {
        let mut m = RecsModel::new(RecsOptions::default());
        let counts = feed(&mut m, &[record(1, 4, 0, T), record(1, 6, 1, T + 1), record(1, 8, 2, T + 2), record(1, 0, 3, T + 3), record(1, 0, 9, T + 4)]);
        assert_eq!(counts, pulse_engine::recs::IngestCounts { learned: 4, skipped: 1, invalid: 1 });
        assert!(m.recommend("u1", 10, false).items.iter().any(|r| r.item == "p4"));
    }

    #[test]
    fn a_corrupt_model_snapshot_is_refused() {
        let mut m = RecsModel::new(RecsOptions::default());
        feed(&mut m, &[record(1, 4, 0, T), record(1, 6, 0, T + 1)]);
        let snap = m.snapshot();
        assert!(RecsModel::restore(&snap[..snap.len() / 2], RecsOptions::default()).is_err());
        assert!(RecsModel::restore(b"garbage", RecsOptions::default()).is_err());
    }
}
