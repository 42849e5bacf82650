/**
 * tsbpf's core, usable in Node and in browsers: the instruction set, assembler and disassembler,
 * the address space and engines, the object loader, maps and the userspace runtime. Node-only parts
 * have their own entry points: `tsbpf/linux` (bpf()), `tsbpf/net` (capture files), `tsbpf/cbpf`
 * (pcap-filter compiler, which reads /etc/hosts and friends).
 */
export { TsbpfError, type ErrorLocation } from './errors.js';
export {
  assemble, disassemble, decode, encode, validate, classify, builder,
  type Instruction, type Op,
} from './isa/index.js';
export { AddressSpace, MemoryAccessError } from './vm/memory.js';
export { interpreter } from './vm/interpreter.js';
export type { Engine, ExecutableProgram, RunOptions, RunResult } from './vm/engine.js';
export { editMap, objectMap, openObject, type BpfObject, type MapEdit, type ObjectMap, type ObjectProgram } from './object/index.js';
export { createMap, MapError, type MapSpec, type BpfMap } from './maps/index.js';
export {
  Runtime, LoadedObject, LoadedProgram, runOverCapture,
  type RuntimeOptions, type TestRunOptions, type TestRunResult,
} from './runtime/index.js';
export { MapType, ProgType, HelperId } from './uapi/index.js';
