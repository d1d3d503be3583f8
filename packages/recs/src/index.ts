export { RecsService, type RecsServiceOptions } from './service.js';
