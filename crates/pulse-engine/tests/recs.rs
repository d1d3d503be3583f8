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
    let mut m = trained();
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
    let opts = RecsOptions { half_life_ms: 3_600_000.0, ..Default::default() };
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
    let opts = RecsOptions { max_neighbours: 3, max_items: 50, max_users: 20, recent_items: 4, ..Default::default() };
    let mut m = RecsModel::new(opts);
    for i in 0..1000 {
        m.observe(&format!("u{}", i % 37), &format!("item{}", i % 80), Interaction::View, T + i);
    }
    let s = m.stats();
    assert!(s.items <= 50 && s.dropped_items > 0);
    assert!(s.users <= 20);
    assert!(s.pairs <= 50 * 3);
    assert!(m.similar("item1", 10).len() <= 3);
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
