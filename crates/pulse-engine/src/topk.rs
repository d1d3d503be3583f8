//! Space-Saving (Metwally, Agrawal, El Abbadi 2005): a bounded heavy-hitter summary with weighted
//! increments. It monitors at most `capacity` items; an unmonitored item replaces the one with the
//! smallest count and inherits that count as its possible overestimate (`error`).
//!
//! Guarantees, for every monitored item: true count ∈ [count − error, count]; for every item that is
//! not monitored: true count ≤ the smallest monitored count (once the summary is full). An item with
//! `error == 0` has its exact count: it has been monitored since the summary began. The counters live
//! in a binary min-heap so that an increment or a replacement costs O(log capacity).

use compact_str::CompactString;
use rustc_hash::FxHashMap;

use crate::snapshot::{Reader, SnapshotError, Writer};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// Inline up to 24 bytes: evictions, frequent in a long tail, then allocate nothing.
    pub item: CompactString,
    pub count: u64,
    pub error: u64,
}

/// The top of a summary: items by descending count (ties by item), and the bound on the true count
/// of every item not listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Top<'a> {
    pub items: Vec<&'a Counter>,
    pub threshold: u64,
}

#[derive(Debug, Clone)]
pub struct SpaceSaving {
    capacity: usize,
    /// Counters in stable slots; an evicted item's slot goes to the item that replaces it.
    slots: Vec<Counter>,
    /// Min-heap on count, of slot numbers.
    heap: Vec<u32>,
    /// Heap position of each slot.
    position: Vec<u32>,
    index: FxHashMap<CompactString, u32>,
}

impl SpaceSaving {
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "Space-Saving needs room for at least one item");
        Self { capacity, slots: Vec::new(), heap: Vec::new(), position: Vec::new(), index: FxHashMap::default() }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Rough memory of the summary: the items twice (slots and index) plus fixed overheads.
    pub fn size_bytes(&self) -> usize {
        self.slots.iter().map(|c| 2 * c.item.len() + 80).sum()
    }

    pub fn add(&mut self, item: &str, weight: u64) {
        if let Some(&slot) = self.index.get(item) {
            self.slots[slot as usize].count += weight;
            self.sift_down(self.position[slot as usize] as usize);
        } else if self.slots.len() < self.capacity {
            let slot = self.slots.len() as u32;
            self.index.insert(item.into(), slot);
            self.slots.push(Counter { item: item.into(), count: weight, error: 0 });
            self.position.push(self.heap.len() as u32);
            self.heap.push(slot);
            self.sift_up(self.heap.len() - 1);
        } else {
            let slot = self.heap[0];
            let counter = &mut self.slots[slot as usize];
            let min = counter.count;
            let evicted = std::mem::replace(counter, Counter { item: item.into(), count: min + weight, error: min });
            self.index.remove(&evicted.item);
            self.index.insert(item.into(), slot);
            self.sift_down(0);
        }
    }

    fn count_at(&self, heap_at: usize) -> u64 {
        self.slots[self.heap[heap_at] as usize].count
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.position[self.heap[a] as usize] = a as u32;
        self.position[self.heap[b] as usize] = b as u32;
    }

    fn sift_up(&mut self, mut at: usize) {
        while at > 0 {
            let parent = (at - 1) / 2;
            if self.count_at(at) >= self.count_at(parent) {
                break;
            }
            self.swap(at, parent);
            at = parent;
        }
    }

    fn sift_down(&mut self, mut at: usize) {
        loop {
            let (l, r) = (2 * at + 1, 2 * at + 2);
            let mut smallest = at;
            if l < self.heap.len() && self.count_at(l) < self.count_at(smallest) {
                smallest = l;
            }
            if r < self.heap.len() && self.count_at(r) < self.count_at(smallest) {
                smallest = r;
            }
            if smallest == at {
                break;
            }
            self.swap(at, smallest);
            at = smallest;
        }
    }

    /// The `k` items with the largest counts. `threshold` bounds the true count of any item not
    /// listed: the largest count left out, or the smallest monitored count once items have been evicted.
    pub fn top(&self, k: usize) -> Top<'_> {
        let by_rank = |a: &&Counter, b: &&Counter| b.count.cmp(&a.count).then_with(|| a.item.cmp(&b.item));
        // Only the first k + 1 need an order (this runs at every update of a window's records). They are
        // the items at or above the (k + 1)-th largest count, found on the counts alone: item names are
        // compared only to order that short list, not the ties of the whole summary's long tail.
        let mut items: Vec<&Counter> = if self.slots.len() > k + 1 {
            let mut counts: Vec<u64> = self.slots.iter().map(|c| c.count).collect();
            let (_, &mut cut, _) = counts.select_nth_unstable_by(k, |a, b| b.cmp(a));
            self.slots.iter().filter(|c| c.count >= cut).collect()
        } else {
            self.slots.iter().collect()
        };
        items.sort_unstable_by(by_rank);
        let left_out = items.get(k).map_or(0, |c| c.count);
        let unmonitored = if self.slots.len() == self.capacity { self.count_at(0) } else { 0 };
        items.truncate(k);
        Top { items, threshold: left_out.max(unmonitored) }
    }

    pub fn count_of(&self, item: &str) -> Option<&Counter> {
        self.index.get(item).map(|&slot| &self.slots[slot as usize])
    }

    /// Writes the counters in heap order (slots are an internal detail).
    pub fn write(&self, w: &mut Writer) {
        w.u32(self.heap.len() as u32);
        for c in self.heap.iter().map(|&slot| &self.slots[slot as usize]) {
            w.bytes(c.item.as_bytes());
            w.u64(c.count);
            w.u64(c.error);
        }
    }

    /// Reads a summary written by [`SpaceSaving::write`], heap order included.
    pub fn read(r: &mut Reader, capacity: usize) -> Result<Self, SnapshotError> {
        let n = r.u32()? as usize;
        if n > capacity {
            return Err(SnapshotError::Mismatch(format!("a top-K summary of {n} items, configured capacity {capacity}")));
        }
        let mut s = Self::new(capacity);
        for i in 0..n {
            let item: CompactString = std::str::from_utf8(r.bytes()?).map_err(|e| SnapshotError::Corrupt(format!("top-K item: {e}")))?.into();
            let (count, error) = (r.u64()?, r.u64()?);
            if error > count {
                return Err(SnapshotError::Corrupt(format!("top-K item with error {error} above its count {count}")));
            }
            if s.index.insert(item.clone(), i as u32).is_some() {
                return Err(SnapshotError::Corrupt("a top-K item appears twice".into()));
            }
            s.slots.push(Counter { item, count, error });
            s.heap.push(i as u32);
            s.position.push(i as u32);
        }
        if (1..n).any(|i| s.count_at(i) < s.count_at((i - 1) / 2)) {
            return Err(SnapshotError::Corrupt("top-K heap out of order".into()));
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A Zipf-like stream: item i appears about n/(i+1) times, interleaved deterministically.
    fn skewed(items: usize, n: usize) -> Vec<String> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let weights: Vec<f64> = (0..items).map(|i| 1.0 / (i as f64 + 1.0)).collect();
        let total: f64 = weights.iter().sum();
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let mut u = (state >> 11) as f64 / (1u64 << 53) as f64 * total;
                let mut i = 0;
                while u >= weights[i] && i + 1 < items {
                    u -= weights[i];
                    i += 1;
                }
                format!("p-{i}")
            })
            .collect()
    }

    fn exact(stream: &[String]) -> HashMap<&str, u64> {
        let mut counts = HashMap::new();
        for s in stream {
            *counts.entry(s.as_str()).or_insert(0) += 1;
        }
        counts
    }

    #[test]
    fn is_exact_while_the_items_fit() {
        let stream = skewed(50, 5_000);
        let mut s = SpaceSaving::new(64);
        for item in &stream {
            s.add(item, 1);
        }
        let truth = exact(&stream);
        let top = s.top(10);
        for c in &top.items {
            assert_eq!((c.count, c.error), (truth[&*c.item], 0), "{}", c.item);
        }
        let mut by_count: Vec<u64> = truth.values().copied().collect();
        by_count.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(top.items.iter().map(|c| c.count).collect::<Vec<_>>(), by_count[..10]);
        assert_eq!(top.threshold, by_count[10]);
    }

    /// Over capacity, every guarantee holds against exact counts: listed items bracket their true
    /// count, error-free items are exact, and nothing left out exceeds the threshold.
    #[test]
    fn keeps_its_guarantees_over_capacity_and_the_heavy_hitters_exact() {
        let stream = skewed(5_000, 200_000);
        let mut s = SpaceSaving::new(200);
        for item in &stream {
            s.add(item, 1);
        }
        let truth = exact(&stream);
        let top = s.top(10);
        for c in &top.items {
            let t = truth[&*c.item];
            assert!(c.count - c.error <= t && t <= c.count, "{}: {t} not in [{}, {}]", c.item, c.count - c.error, c.count);
            if c.error == 0 {
                assert_eq!(c.count, t);
            }
        }
        let listed: Vec<&str> = top.items.iter().map(|c| &*c.item).collect();
        for (item, &t) in &truth {
            if !listed.contains(item) {
                assert!(t <= top.threshold, "{item} has {t} > threshold {}", top.threshold);
            }
        }
        // The heaviest items arrive early and are never evicted: their counts are exact and the list is the true top 10.
        let mut ranked: Vec<(&str, u64)> = truth.iter().map(|(k, v)| (*k, *v)).collect();
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        assert!(top.items[..5].iter().all(|c| c.error == 0));
        assert_eq!(listed, ranked[..10].iter().map(|r| r.0).collect::<Vec<_>>());
    }

    /// The top k and the threshold are those of ranking every monitored item, ties by name included.
    #[test]
    fn top_matches_a_full_ranking() {
        for (items, capacity, n) in [(30, 64, 300), (5_000, 200, 20_000), (3, 10, 9), (400, 100, 500)] {
            let mut s = SpaceSaving::new(capacity);
            for item in skewed(items, n) {
                s.add(&item, 1);
            }
            let mut ranked: Vec<&Counter> = s.slots.iter().collect();
            ranked.sort_unstable_by(|a, b| b.count.cmp(&a.count).then(a.item.cmp(&b.item)));
            for k in [0, 1, 5, 10, 99, 500] {
                let top = s.top(k);
                let want: Vec<&Counter> = ranked.iter().take(k).copied().collect();
                assert_eq!(top.items, want, "items {items}, capacity {capacity}, k {k}");
                let left_out = ranked.get(k).map_or(0, |c| c.count);
                let unmonitored = if s.len() == capacity { s.count_at(0) } else { 0 };
                assert_eq!(top.threshold, left_out.max(unmonitored), "items {items}, capacity {capacity}, k {k}");
            }
        }
    }

    #[test]
    fn weighted_increments_and_replacement_inherit_the_minimum() {
        let mut s = SpaceSaving::new(2);
        s.add("a", 5);
        s.add("b", 2);
        s.add("c", 1);
        assert!(s.count_of("b").is_none());
        assert_eq!(s.count_of("c"), Some(&Counter { item: "c".into(), count: 3, error: 2 }));
        assert_eq!(s.top(1).threshold, 3);
        assert_eq!(s.top(5).threshold, 3, "the smallest monitored count bounds unmonitored items");
    }

    #[test]
    fn snapshot_round_trips_heap_order() {
        let mut s = SpaceSaving::new(20);
        for item in skewed(100, 1_000) {
            s.add(&item, 2);
        }
        let mut w = Writer::new(b"TEST", 1);
        s.write(&mut w);
        let frame = w.finish();
        let mut r = Reader::open(&frame, b"TEST", 1).unwrap();
        let t = SpaceSaving::read(&mut r, 20).unwrap();
        let in_heap_order = |x: &SpaceSaving| x.heap.iter().map(|&slot| x.slots[slot as usize].clone()).collect::<Vec<_>>();
        assert_eq!(in_heap_order(&t), in_heap_order(&s));
        assert!(SpaceSaving::read(&mut Reader::open(&frame, b"TEST", 1).unwrap(), 10).is_err(), "a smaller capacity is refused");
    }
}
