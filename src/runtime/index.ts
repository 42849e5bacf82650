export * from './runtime.js';
export * from './relocate.js';
export * from './services.js';
export { TestRunError, XDP_PACKET_HEADROOM, type TestRunInput } from './test-run.js';
export * from './capture-run.js';
export { VerifierRejectedError, loadableInstructions, verifyForLoad } from './verify-load.js';
