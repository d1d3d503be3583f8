export { runCollectorBench, type CollectorBenchOptions, type CollectorBenchResult, type CollectorRun } from './collector/run.js';
export { runE2E, type E2EOptions, type E2EResult } from './e2e/run.js';
export { machineInfo, type MachineInfo } from './lib/machine.js';
export { compareRecommenders, tuneRecommender, TUNING_GRID, type ModelScores, type TuningResult } from './recs/compare.js';
export { runRecsServingBench, type RecsServingOptions, type RecsServingResult } from './recs/serving.js';
export { runKafkaBaseline, type KafkaBaselineOptions, type KafkaBaselineResult } from './kafka-baseline/run.js';
export { runProfile, type ProfileOptions, type ProfileResult, type ProfiledRole } from './profile/run.js';
export { runSinkBench, type SinkBenchOptions, type SinkBenchResult } from './sink/run.js';
