import type { Instruction } from '../isa/instruction.js';
import type { MapSpec } from '../maps/spec.js';
import type { ProgTypeInfo } from '../progtypes/table.js';
import type { Cfg } from './cfg.js';

/** What every checking module needs to know about the program being verified. */
export interface VerifierContext {
  insns: readonly Instruction[];
  cfg: Cfg;
  prog: ProgTypeInfo;
  /** R0's allowed range at program exit (depends on the attach point for some types). */
  returnRange: readonly [number, number] | undefined;
  unpriv: boolean;
  /** Section name or attach type name (`iter/task`, `trace_iter`), when known. */
  attachType?: string;
  /** BPF_F_ANY_ALIGNMENT / STRICT_ALIGNMENT semantics for packet and map accesses. */
  strictAlignment: boolean;
  /** Loaded with BPF_F_SLEEPABLE: helpers that may sleep are allowed. */
  sleepable: boolean;
  /** Map an LD_IMM64 at `insn` refers to. */
  mapAt(insn: number): { map: MapSpec; value: boolean; offset: number } | undefined;
  /** Some LD_IMM64, reachable or not, refers to an arena map (kernel prog->aux->arena). */
  hasArena: boolean;
  /** First instructions of the program's global functions (from its BTF), when known. */
  globalFunctionEntries?: ReadonlySet<number>;
  newId(): number;
  /** Deepest stack use per subprogram (bytes), for the 512-byte chain check. */
  stackDepth: number[];
  /**
   * Scalar register `regno` of the current frame decides something at the current instruction (a
   * pointer offset, a size argument): states that differ in it must not prune each other.
   */
  markPrecise(regno: number): void;
  /** The same for a stack slot (slot i: fp-8(i+1) of call frame `frame`). */
  markSlotPrecise(frame: number, slot: number): void;
}

/** The context before exploration starts (the explorer supplies precision marking). */
export type VerifierSetup = Omit<VerifierContext, 'markPrecise' | 'markSlotPrecise'>;

/** Program types whose programs may write packet data directly. */
export const PACKET_WRITERS = new Set([
  'sched_cls', 'sched_act', 'xdp', 'lwt_xmit', 'sk_skb', 'sk_msg', 'lwt_seg6local',
]);

/** Program types that may use LD_ABS/LD_IND. */
export const LD_ABS_TYPES = new Set(['socket_filter', 'sched_cls', 'sched_act', 'cgroup_skb']);

export const MAX_STACK = 512;
export const MAX_VAR_OFF = 1 << 29;
export const MAX_PACKET_OFF = 0xffff;
