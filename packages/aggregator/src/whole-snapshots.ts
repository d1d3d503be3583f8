/** Where a partition's delta chain stands at a checkpoint. */
export interface ChainState {
  /** 0: no chain yet, or a kind of state that is always written whole. */
  readonly chain: number;
  /** Deltas since the chain's whole snapshot. */
  readonly seq: number;
  /** Encoded bytes of that whole snapshot and of the deltas since. */
  readonly baseBytes: number;
  readonly deltaBytes: number;
}

/** How overdue a whole snapshot is: 1 or more when `maxDeltas` deltas were written since it, or the deltas outweigh it. */
export function overdue(p: ChainState, maxDeltas: number): number {
  return p.chain === 0 || maxDeltas === 0 ? 0 : Math.max(p.seq / maxDeltas, p.deltaBytes / Math.max(1, p.baseBytes));
}

/**
 * Which of the partitions checkpointed now are written whole (docs/semantics.md, "Checkpoints"):
 * those without a chain; of those that are due — `maxDeltas` deltas since their whole snapshot, or
 * deltas outweighing it — only the most overdue one, so that large whole snapshots are spread over
 * checkpoints instead of coming together; and any chain at twice `maxDeltas`, so that no chain grows
 * without bound however many partitions are due. `maxDeltas` 0 writes everything whole.
 */
export function wholeSnapshots<T extends ChainState>(partitions: readonly T[], maxDeltas: number): Set<T> {
  const whole = new Set<T>();
  let mostOverdue: { p: T; by: number } | null = null;
  for (const p of partitions) {
    if (p.chain === 0 || maxDeltas === 0 || p.seq >= 2 * maxDeltas) {
      whole.add(p);
      continue;
    }
    const by = overdue(p, maxDeltas);
    if (by >= 1 && (mostOverdue === null || by > mostOverdue.by)) mostOverdue = { p, by };
  }
  if (mostOverdue !== null) whole.add(mostOverdue.p);
  return whole;
}
