import { Counter, Gauge, Registry } from 'prom-client';
import type { Aggregator } from './aggregator.js';

/** An aggregator's Prometheus metrics, read from it at each scrape, in a registry of their own. */
export function aggregatorMetrics(aggregator: Aggregator): Registry {
  const registry = new Registry();
  const registers = [registry];
  const total = (name: string, help: string, read: () => number) =>
    new Counter({ name, help, registers, collect() {
      this.reset();
      this.inc(read());
    } });
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({ name, help, registers, collect() {
      this.set(read());
    } });
  const c = aggregator.counters;
  total('pulse_aggregator_records_consumed_total', 'input records read from Kafka', () => c.consumed);
  total('pulse_aggregator_events_accepted_total', 'events counted in state', () => c.accepted);
  total('pulse_aggregator_outputs_total', 'records written to the output topics', () => c.outputs);
  total('pulse_aggregator_checkpoints_total', 'checkpoints completed (outputs acknowledged, snapshots written, offsets committed)', () => c.checkpoints);
  total('pulse_aggregator_restores_total', 'partitions restored from the changelog or opened empty', () => c.restores);
  total('pulse_aggregator_skipped_records_total', 'records retention deleted before they were processed (each gap is also on dead-letters as retention_gap)', () => c.skippedRecords);
  new Counter({ name: 'pulse_aggregator_dead_letters_total', help: 'records sent to dead-letters, by reason', labelNames: ['reason'] as const, registers, collect() {
    this.reset();
    for (const [reason, n] of aggregator.deadLetterReasons) this.inc({ reason }, n);
  } });
  gauge('pulse_aggregator_lag_records', 'records in the owned partitions not yet processed', () => aggregator.progress().lag);
  gauge('pulse_aggregator_state_keys', 'keys held in the engine state of the owned partitions', () => aggregator.progress().stateKeys);
  gauge('pulse_aggregator_state_bytes', 'estimated bytes of the engine state of the owned partitions', () => aggregator.progress().stateBytes);
  gauge('pulse_aggregator_partitions', 'input partitions assigned to this member', () => aggregator.readiness().partitions);
  gauge('pulse_aggregator_partitions_restoring', 'assigned partitions whose state is still being restored', () => aggregator.readiness().restoring);
  gauge('pulse_aggregator_checkpoint_age_seconds', 'seconds since the last completed checkpoint', () => aggregator.readiness().checkpointAgeMs / 1000);
  gauge('pulse_aggregator_ready', '1 when /readyz answers 200', () => (aggregator.readiness().ready ? 1 : 0));
  gauge('pulse_aggregator_rss_bytes', 'resident memory of the process', () => process.memoryUsage.rss());
  return registry;
}
