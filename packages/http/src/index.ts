export { loggingOptions, traceRequests } from './logging.js';
export { limitLoad, serverOptions, type HttpLimits } from './limits.js';
export { startOpsServer, type OpsOptions, type Readiness } from './ops.js';
