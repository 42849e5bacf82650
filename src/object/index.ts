export * from './types.js';
export { openObject, type OpenObjectOptions } from './open.js';
export { isDataSection } from './maps.js';
export * from './decode.js';
