export * from './parse.js';
export * from './helpers.js';
export * from './run.js';
