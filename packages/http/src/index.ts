export { limitLoad, serverOptions, type HttpLimits } from './limits.js';
export { startOpsServer, type OpsOptions, type Readiness } from './ops.js';
