export * from './abi.js';
export * from './engine.js';
export * from './memory.js';
export * from './int64.js';
export { interpreter, InterpretedProgram, type InterpreterRunOptions, type PacketWindow } from './interpreter.js';
export { ENGINES, ENGINE_NAMES, DEFAULT_ENGINE, isEngineName, loadEngine } from './engines.js';
