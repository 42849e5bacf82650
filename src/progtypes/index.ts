export * from './context.js';
export * from './table.js';
export * from './sections.js';
