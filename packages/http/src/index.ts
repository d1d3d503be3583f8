export { loggingOptions, traceRequests } from './logging.js';
export { ANSWERED_UNDER_LOAD, limitLoad, serverOptions, type HttpLimits } from './limits.js';
export { startOpsServer, type OpsOptions, type Readiness } from './ops.js';
