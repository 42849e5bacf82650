export * from './opcodes.js';
export * from './instruction.js';
export * from './asm.js';
export * from './disasm.js';
export * as builder from './builder.js';
