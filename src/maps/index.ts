export * from './spec.js';
export * from './map.js';
export * from './array.js';
export * from './hash.js';
export * from './lpm.js';
export * from './ringbuf.js';
export * from './queue.js';
export * from './create.js';
