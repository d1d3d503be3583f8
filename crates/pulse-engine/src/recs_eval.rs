//! Offline evaluation of the recommender on session data (docs/specification.md, "Recommendation evaluation"): replay the training
//! sessions through the streaming model, then each test session event by event, asking for the top `k`
//! after each event and scoring the next item (HR@k and MRR@k), with already-seen items allowed and,
//! separately, excluded. The model keeps learning from the test events as they are replayed, as it does
//! in production; it never sees an event before it is asked about it.

use crate::recs::{Interaction, RecsModel, RecsOptions};

#[derive(Debug, Clone, PartialEq)]
pub struct SessionEvent {
    pub session: String,
    pub item: String,
    pub ts_ms: i64,
}

/// Parses `SessionId<TAB>ItemId<TAB>Time` (seconds, possibly fractional) with that header. Events are
/// returned grouped by session in the order of each session's first event, each session's events in
/// time order.
pub fn parse_sessions_tsv(text: &str) -> Result<Vec<Vec<SessionEvent>>, String> {
    let mut lines = text.lines();
    let header = lines.next().ok_or("empty file: expected the header SessionId\\tItemId\\tTime")?;
    let columns: Vec<&str> = header.trim_end_matches('\r').split('\t').collect();
    if columns != ["SessionId", "ItemId", "Time"] {
        return Err(format!("line 1: expected the header SessionId\\tItemId\\tTime, got {header:?}"));
    }
    let mut order: Vec<String> = Vec::new();
    let mut sessions: rustc_hash::FxHashMap<String, Vec<SessionEvent>> = rustc_hash::FxHashMap::default();
    for (n, line) in lines.enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let mut fields = line.split('\t');
        let (Some(session), Some(item), Some(time), None) = (fields.next(), fields.next(), fields.next(), fields.next()) else {
            return Err(format!("line {}: expected 3 tab-separated fields, got {line:?}", n + 2));
        };
        let seconds: f64 = time.parse().map_err(|_| format!("line {}: Time must be seconds since the epoch, got {time:?}", n + 2))?;
        if !seconds.is_finite() || session.is_empty() || item.is_empty() {
            return Err(format!("line {}: empty SessionId or ItemId, or a bad Time", n + 2));
        }
        let event = SessionEvent { session: session.to_owned(), item: item.to_owned(), ts_ms: (seconds * 1000.0).round() as i64 };
        sessions
            .entry(session.to_owned())
            .or_insert_with(|| {
                order.push(session.to_owned());
                Vec::new()
            })
            .push(event);
    }
    let mut grouped: Vec<Vec<SessionEvent>> = order.into_iter().map(|s| sessions.remove(&s).expect("every ordered session exists")).collect();
    for s in &mut grouped {
        s.sort_by_key(|e| e.ts_ms);
    }
    grouped.sort_by_key(|s| s[0].ts_ms);
    Ok(grouped)
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Scores {
    pub hit_rate: f64,
    pub mrr: f64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct EvalResult {
    pub seen_allowed: Scores,
    pub seen_excluded: Scores,
    /// Next-item predictions scored.
    pub predictions: u64,
    pub sessions: u64,
    pub events: u64,
}

#[derive(Default)]
struct Tally {
    hits: u64,
    reciprocal_ranks: f64,
}

impl Tally {
    fn add(&mut self, ranked: &[crate::recs::Recommendation], next: &str) {
        if let Some(rank) = ranked.iter().position(|r| r.item == next) {
            self.hits += 1;
            self.reciprocal_ranks += 1.0 / (rank + 1) as f64;
        }
    }
    fn scores(&self, n: u64) -> Scores {
        if n == 0 {
            return Scores::default();
        }
        Scores { hit_rate: self.hits as f64 / n as f64, mrr: self.reciprocal_ranks / n as f64 }
    }
}

/// Replays training events in time order (interleaving sessions as they happened).
pub fn train(model: &mut RecsModel, sessions: &[Vec<SessionEvent>]) -> u64 {
    let mut events: Vec<&SessionEvent> = sessions.iter().flatten().collect();
    events.sort_by_key(|e| e.ts_ms);
    for e in &events {
        model.observe(&e.session, &e.item, Interaction::View, e.ts_ms);
    }
    events.len() as u64
}

pub fn evaluate(options: RecsOptions, train_sessions: &[Vec<SessionEvent>], test_sessions: &[Vec<SessionEvent>], k: usize) -> EvalResult {
    let mut model = RecsModel::new(options);
    let mut events = train(&mut model, train_sessions);
    let (mut allowed, mut excluded) = (Tally::default(), Tally::default());
    let mut predictions = 0;
    for session in test_sessions {
        // Test sessions are new users to the model, whatever their ids in the training file.
        let user = format!("test:{}", session[0].session);
        let mut seen: Vec<&str> = Vec::new();
        for (i, e) in session.iter().enumerate() {
            model.observe(&user, &e.item, Interaction::View, e.ts_ms);
            events += 1;
            if !seen.contains(&e.item.as_str()) {
                seen.push(&e.item);
            }
            let Some(next) = session.get(i + 1) else { break };
            // One query serves both lists: long enough that k remain once the seen items are left out.
            let ranked = model.recommend(&user, k + seen.len(), false).items;
            allowed.add(&ranked[..k.min(ranked.len())], &next.item);
            let unseen: Vec<_> = ranked.into_iter().filter(|r| !seen.contains(&r.item.as_str())).take(k).collect();
            excluded.add(&unseen, &next.item);
            predictions += 1;
        }
    }
    EvalResult {
        seen_allowed: allowed.scores(predictions),
        seen_excluded: excluded.scores(predictions),
        predictions,
        sessions: test_sessions.len() as u64,
        events,
    }
}
