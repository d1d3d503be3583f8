//! What the engine's test files share.

/// Packs records as the aggregator does: one buffer plus end positions.
pub fn pack<R: AsRef<[u8]>>(records: &[R]) -> (Vec<u8>, Vec<u32>) {
    let mut values = Vec::new();
    let mut ends = Vec::new();
    for r in records {
        values.extend_from_slice(r.as_ref());
        ends.push(values.len() as u32);
    }
    (values, ends)
}
