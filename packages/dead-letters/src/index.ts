export { deadLetterHeaders, toDeadLetter, HEADERS, type DeadLetter, type DeadLetterSource } from './headers.js';
export { countDeadLetters, ID_PATTERN, matches, readDeadLetters, type DeadLetterCounts, type DeadLetterFilter } from './list.js';
export { replayDeadLetters, type Fix, type ReplayOptions, type ReplayResult, type ReplayStep } from './replay.js';
export { describeGap, recordRetentionGaps, type RetentionGap } from './gaps.js';
