import { helperAllowed, helperProto, type ArgType } from '../helpers/prototypes.js';
import type { MapSpec } from '../maps/spec.js';
import { MapFlag } from '../maps/spec.js';
import { HELPER_NAMES, HelperId, MapType } from '../uapi/index.js';
import type { ProgTypeName } from '../uapi/prog-types.js';
import { MAX_VAR_OFF, type VerifierContext } from './context.js';
import { checkCtxUnmodified, checkHelperMem } from './memory.js';
import { formatVarOff } from './alignment.js';
import { Reject } from './reject.js';
import {
  constBounds, constValue, isConst, isZeroConst, rangeBounds, sminValue, sync, uminValue, umaxValue, unknownBounds,
} from './scalar.js';
import { formatU64, toNumberU } from './u64.js';
import {
  NOT_INIT, isNullConst, isPointer, pointerReg, rewriteRegs, scalarReg, typeName, type Frame, type Reference, type Reg, type State,
} from './state.js';
import { FIELD_NAMES, fieldOffset, hasField, mapHasBtf } from './map-btf.js';

/** A callback the helper will invoke: verified as a call into `entry` with these argument registers. */
export interface CallbackCall {
  entry: number;
  args: Reg[];
  /** R0's allowed range at the callback's exit. */
  retMin: number;
  retMax: number;
  /** Runs later, on its own (a timer's): the kernel verifies it as a program of its own. */
  async: boolean;
}

const MEM_EXPECTED = 'fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_';
const MEM_TYPES = new Set(['fp', 'pkt', 'pkt_meta', 'map_key', 'map_value', 'mem']);

/** Map types each map-taking helper accepts (kernel check_map_func_compatibility, the common part). */
const MAP_HELPERS: Readonly<Record<number, readonly number[]>> = {
  [MapType.prog_array]: [12],
  [MapType.perf_event_array]: [22, 25, 55, 67],
  [MapType.ringbuf]: [130, 131, 134],
  [MapType.stack_trace]: [27],
  [MapType.cgroup_array]: [33, 37],
  [MapType.devmap]: [51], [MapType.devmap_hash]: [51], [MapType.cpumap]: [51], [MapType.xskmap]: [51, 1],
  [MapType.sockmap]: [52, 53, 60, 82, 1, 2, 3], [MapType.sockhash]: [70, 71, 72, 82, 1, 2, 3],
  [MapType.queue]: [87, 88, 89], [MapType.stack]: [87, 88, 89],
  [MapType.bloom_filter]: [87, 89],
  [MapType.reuseport_sockarray]: [82, 2, 3],
  [MapType.sk_storage]: [HelperId.sk_storage_get, HelperId.sk_storage_delete],
  [MapType.cgroup_storage]: [HelperId.get_local_storage], [MapType.percpu_cgroup_storage]: [HelperId.get_local_storage],
};
/** Helpers restricted to particular map types (the reverse direction). */
const HELPER_MAPS: Readonly<Record<number, readonly number[]>> = {
  12: [MapType.prog_array],
  22: [MapType.perf_event_array], 25: [MapType.perf_event_array], 55: [MapType.perf_event_array], 67: [MapType.perf_event_array],
  130: [MapType.ringbuf], 131: [MapType.ringbuf], 134: [MapType.ringbuf],
  27: [MapType.stack_trace],
  51: [MapType.devmap, MapType.devmap_hash, MapType.cpumap, MapType.xskmap],
  52: [MapType.sockmap], 60: [MapType.sockmap], 53: [MapType.sockmap],
  70: [MapType.sockhash], 71: [MapType.sockhash], 72: [MapType.sockhash],
  82: [MapType.reuseport_sockarray, MapType.sockmap, MapType.sockhash],
  87: [MapType.queue, MapType.stack, MapType.bloom_filter], 88: [MapType.queue, MapType.stack], 89: [MapType.queue, MapType.stack, MapType.bloom_filter],
  [HelperId.sk_storage_get]: [MapType.sk_storage], [HelperId.sk_storage_delete]: [MapType.sk_storage],
  [HelperId.get_local_storage]: [MapType.cgroup_storage, MapType.percpu_cgroup_storage],
};

function helperName(id: number): string {
  return HELPER_NAMES[id] ? `bpf_${HELPER_NAMES[id]}` : 'unknown';
}

/** Program types that may update or delete sock map entries with the generic map helpers. */
const SOCKMAP_WRITERS = new Set(['socket_filter', 'sched_cls', 'sched_act', 'xdp', 'sk_reuseport', 'flow_dissector', 'sk_lookup']);

/**
 * The kernel's may_update_sockmap(): the types above hold no socket lock, nor do BPF iterators; sock_ops
 * may delete but updates only through its dedicated helpers.
 */
function mayUpdateSockmap(id: number, progName: string, attachType: string | undefined): boolean {
  if (SOCKMAP_WRITERS.has(progName)) return true;
  if (progName === 'tracing') return attachType !== undefined && /^(trace_iter$|iter(\.s)?\/)/.test(attachType);
  return progName === 'sock_ops' && id === HelperId.map_delete_elem;
}

function checkMapCompat(map: MapSpec, id: number, at: number, progName = '', attachType?: string): void {
  // The kernel records the tail call's map (record_func_key) before its map/helper compatibility check.
  if (id === HelperId.tail_call && map.type !== MapType.prog_array) throw new Reject('expected prog array map for tail call', at);
  if ((map.type === MapType.sockmap || map.type === MapType.sockhash) && (id === 2 || id === 3) && !mayUpdateSockmap(id, progName, attachType)) {
    throw new Reject(`cannot pass map_type ${map.type} into func ${helperName(id)}#${id}`, at);
  }
  const allowedForMap = MAP_HELPERS[map.type];
  const bad = (): never => { throw new Reject(`cannot pass map_type ${map.type} into func ${helperName(id)}#${id}`, at); };
  if (allowedForMap && !allowedForMap.includes(id)) bad();
  const mapsForHelper = HELPER_MAPS[id];
  if (mapsForHelper && !mapsForHelper.includes(map.type)) bad();
}

/** A map element callback's first arguments: the map, the element's key and its value. */
function mapElementArgs(map: MapSpec): Reg[] {
  return [
    pointerReg('map_ptr', { map }),
    pointerReg('map_key', { memSize: map.keySize, b: constBounds(0, 0) }),
    pointerReg('map_value', { map, b: constBounds(0, 0) }),
  ];
}

function resetCallerSaved(frame: Frame): void {
  for (let r = 1; r <= 5; r++) frame.regs[r] = NOT_INIT;
}

/** Drop every packet pointer after a helper that may move packet data. */
export function clearPacketPointers(state: State, unpriv: boolean): void {
  const dead = (r: Reg): boolean => r.type === 'pkt' || r.type === 'pkt_meta' || r.type === 'pkt_end';
  const replacement = unpriv ? NOT_INIT : scalarReg();
  rewriteRegs(state, (r) => (dead(r) ? replacement : r), true);
}

/** Release reference `refId`: every copy of the pointer becomes unusable. */
export function releaseReference(state: State, refId: number, unpriv: boolean): boolean {
  const idx = state.refs.findIndex((r) => r.id === refId && !r.lock);
  if (idx < 0) return false;
  state.refs.splice(idx, 1);
  const replacement = unpriv ? NOT_INIT : scalarReg();
  rewriteRegs(state, (r) => (r.refId === refId ? replacement : r), true);
  return true;
}

interface Meta {
  map?: MapSpec;
  /** Pointer argument awaiting its size (the previous mem argument). */
  memArg?: { regno: number; reg: Reg; write: boolean; nullable: boolean; readFirst: boolean };
  constSize?: number;
  maxSize?: number;
  callback?: number;
  releaseRef?: number;
  callbackCtx?: Reg;
  /** The map key pointer argument. */
  key?: Reg;
  /** `map` came from a timer argument: a map argument must then be the same map. */
  timerMap?: boolean;
}

/** Array maps whose lookup with a constant in-range key cannot fail (the kernel's can_elide_value_nullness). */
const NEVER_NULL_WITH_CONST_KEY = new Set<number>([MapType.array, MapType.percpu_array]);

/**
 * The key a stack pointer points at, when the stack holds it as a known constant (kernel
 * get_constant_map_key): zero bytes from the key's first byte to the slot's top, at least the key's
 * size; or a constant spilled scalar whose spilled bytes from the key's first byte to the slot's top
 * are exactly the key's size (the kernel then takes the whole spilled value). The slot's value then
 * decides the lookup's result, so it is made precise.
 */
function constantMapKey(ctx: VerifierContext, state: State, key: Reg, keySize: number): number | undefined {
  if (ctx.unpriv || key.type !== 'fp' || !isConst(key.b)) return undefined;
  const off = key.off + constValue(key.b);
  const spi = Math.floor((-off - 1) / 8);
  // Byte index of the key's first byte within its slot, counted from the slot's lowest address.
  const within = off + 8 * (spi + 1);
  const slot = state.frames[key.frame]?.stack[spi];
  if (!slot || spi < 0 || spi >= 64) return undefined;
  const run = (kind: string): number => {
    let n = 0;
    while (within + n < 8 && slot.bytes[within + n] === kind) n++;
    return n;
  };
  let value: number | undefined;
  const spilled = slot.spilled;
  if (run('0') >= keySize) value = 0;
  else if (slot.bytes[0] === 'r' && spilled?.type === 'scalar' && run('r') === keySize && isConst(spilled.b)) value = toNumberU(spilled.b.valueHi, spilled.b.valueLo);
  if (value !== undefined) ctx.markSlotPrecise(key.frame, spi);
  return value;
}

/** Helpers the kernel lets take packet pointers (pkt_access). */
const PKT_ACCESS = new Set([
  1, 2, 3, 28, 84, 85, 87, 88, 89, 99, 100, 110, 130, HelperId.tcp_raw_gen_syncookie_ipv4, HelperId.tcp_raw_gen_syncookie_ipv6,
  HelperId.tcp_raw_check_syncookie_ipv4, HelperId.tcp_raw_check_syncookie_ipv6,
]);

/** Bytes of the fixed-size header arguments. */
const HEADER_SIZE = { iphdr: 20, ipv6hdr: 40, tcphdr: 20 } as const;

function argMem(ctx: VerifierContext, state: State, at: number, regno: number, reg: Reg, size: number, write: boolean, align = 0): void {
  if (!MEM_TYPES.has(reg.type) || reg.nullable) throw new Reject(`R${regno} type=${typeName(reg)} expected=${MEM_EXPECTED}`, at);
  // The kernel checks the access before its alignment (check_func_arg, MEM_ALIGNED).
  checkHelperMem(ctx, state, at, regno, reg, size, write);
  if (align && reg.type === 'fp' && isConst(reg.b) && (reg.off + constValue(reg.b)) % align !== 0) {
    throw new Reject(`misaligned stack access off ${formatVarOff(reg.b)}+${reg.off}+0 size ${align}`, at);
  }
}

/** Argument kinds the verifier checks: the prototype table's plus per-program-type variants. */
type VerifierArg = ArgType | 'ctx_or_null';

const SKB_CTX_TYPES = new Set(['socket_filter', 'sched_cls', 'sched_act', 'cgroup_skb', 'sk_skb', 'lwt_in', 'lwt_out', 'lwt_xmit', 'lwt_seg6local', 'flow_dissector']);

/**
 * The kernel gives some helpers a different prototype per program type: bpf_get_netns_cookie takes
 * the ctx for skb programs and ctx-or-NULL elsewhere (sock, sock_addr, sock_ops, sk_msg, sockopt).
 */
function argsFor(id: number, args: readonly ArgType[], progName: string): readonly VerifierArg[] {
  if (id === HelperId.get_netns_cookie) return SKB_CTX_TYPES.has(progName) ? ['ctx'] : ['ctx_or_null'];
  return args;
}

function checkArg(ctx: VerifierContext, state: State, at: number, id: number, regno: number, arg: VerifierArg, meta: Meta): void {
  const frame = state.frames[state.frames.length - 1]!;
  const reg = frame.regs[regno]!;
  if (reg.type === 'not_init') throw new Reject(`R${regno} !read_ok`, at);
  if ((reg.type === 'pkt' || reg.type === 'pkt_meta') && arg !== 'anything' && !PKT_ACCESS.has(id)) throw new Reject('helper access to the packet is not allowed', at);
  const expect = (what: string): never => { throw new Reject(`R${regno} type=${typeName(reg)} expected=${what}`, at); };
  // A scalar passed where a pointer may be NULL: whether it is 0 decides the check.
  const nullArg = (): boolean => {
    if (reg.type !== 'scalar') return false;
    ctx.markPrecise(regno);
    return isNullConst(reg);
  };
  switch (arg) {
    case 'anything':
      if (ctx.unpriv && isPointer(reg)) throw new Reject(`R${regno} leaks addr into helper function`, at);
      return;
    case 'const_map_ptr':
      if (reg.type !== 'map_ptr' || reg.nullable) expect('map_ptr');
      if (meta.timerMap && meta.map !== reg.map) {
        throw new Reject(`timer pointer in R1 map_uid=0 doesn't match map pointer in R${regno} map_uid=0`, at);
      }
      meta.map = reg.map!;
      return;
    case 'map_value_or_null':
      if (!meta.map) throw new Reject('invalid map_ptr to access map->value', at);
      if (nullArg()) return;
      argMem(ctx, state, at, regno, reg, meta.map.valueSize, false);
      return;
    case 'spin_lock':
      if (reg.type !== 'map_value' || reg.nullable) expect('map_value, ptr_');
      if (id === HelperId.spin_lock) acquireLock(state, at, regno, reg);
      else releaseLock(state, at, regno, reg);
      return;
    case 'timer':
      if (reg.type !== 'map_value' || reg.nullable) expect('map_value');
      fieldArgOffset(at, regno, reg, 'timer');
      meta.map = reg.map!;
      meta.timerMap = true;
      return;
    case 'map_key':
    case 'map_value':
    case 'map_value_uninit': {
      if (!meta.map) throw new Reject(`invalid map_ptr to access map->${arg === 'map_key' ? 'key' : 'value'}`, at);
      const size = arg === 'map_key' ? meta.map.keySize : meta.map.valueSize;
      const sockMap = meta.map.type === MapType.sockmap || meta.map.type === MapType.sockhash;
      // Sock maps take the socket itself as the value to store.
      if (arg === 'map_value' && sockMap && ['sock', 'sock_common', 'tcp_sock'].includes(reg.type) && !reg.nullable) return;
      // A key or value of no bytes on the stack (a ring buffer's key): the kernel's stack range check refuses it first.
      if (size === 0 && reg.type === 'fp' && !reg.nullable) throw new Reject('invalid zero-sized read', at);
      argMem(ctx, state, at, regno, reg, size, arg === 'map_value_uninit');
      if (arg === 'map_key') meta.key = reg;
      return;
    }
    case 'ctx_or_null':
    case 'ctx':
      if (arg === 'ctx_or_null' && nullArg()) return;
      if (reg.type !== 'ctx') expect('ctx');
      checkCtxUnmodified(regno, reg, at);
      return;
    case 'mem':
    case 'mem_or_null':
    case 'mem_rw':
    case 'mem_rw_or_null':
    case 'uninit_mem': {
      if ((arg === 'mem_or_null' || arg === 'mem_rw_or_null') && nullArg()) {
        meta.memArg = { regno, reg, write: false, nullable: true, readFirst: false };
        return;
      }
      if (!MEM_TYPES.has(reg.type) || reg.nullable) expect(MEM_EXPECTED);
      const readWrite = arg === 'mem_rw' || arg === 'mem_rw_or_null';
      // Read-write memory is checked as a write; stack bytes must be initialised first (the kernel's clobbering access).
      meta.memArg = { regno, reg, write: arg === 'uninit_mem' || readWrite, nullable: false, readFirst: readWrite && reg.type === 'fp' };
      return;
    }
    case 'const_size':
    case 'const_size_or_zero': {
      if (reg.type !== 'scalar') expect('scalar');
      ctx.markPrecise(regno);
      const b = reg.b;
      if (sminValue(b) < 0) throw new Reject(`R${regno} min value is negative, either use unsigned or 'var &= const'`, at);
      if (uminValue(b) === 0 && arg === 'const_size' ) throw new Reject(`R${regno} invalid zero-sized read: u64=[0,${formatU64(b.umaxHi, b.umaxLo)}]`, at);
      if (umaxValue(b) >= MAX_VAR_OFF) throw new Reject(`R${regno} unbounded memory access, use 'var &= const' or 'if (var < const)'`, at);
      meta.maxSize = umaxValue(b);
      const mem = meta.memArg;
      if (mem) {
        if (mem.nullable) {
          // NULL passes only as zero bytes; otherwise the kernel's helper access check names the stack.
          if (meta.maxSize !== 0) throw new Reject(`R${mem.regno} type=scalar expected=fp`, at);
        } else {
          if (mem.readFirst) checkHelperMem(ctx, state, at, mem.regno, mem.reg, meta.maxSize, false);
          checkHelperMem(ctx, state, at, mem.regno, mem.reg, meta.maxSize, mem.write);
        }
      }
      meta.memArg = undefined;
      return;
    }
    case 'const_alloc_size_or_zero':
      if (reg.type !== 'scalar') expect('scalar');
      ctx.markPrecise(regno);
      if (!isConst(reg.b)) throw new Reject(`R${regno} is not a known constant'`, at);
      meta.constSize = toNumberU(reg.b.valueHi, reg.b.valueLo);
      return;
    case 'ringbuf_mem_release':
      if (reg.type !== 'mem' || reg.nullable) expect('ringbuf_mem');
      if (reg.refId === 0) throw new Reject(`arg ${regno} is an unacquired reference`, at);
      if (reg.off !== 0 || !isZeroConst(reg.b)) throw new Reject(`R${regno} must have zero offset when passed to release func or trusted arg to kfunc`, at);
      meta.releaseRef = reg.refId;
      return;
    case 'func':
      if (reg.type !== 'func') expect('func');
      meta.callback = reg.subprog;
      return;
    case 'stack_or_null':
      if (nullArg()) {
        meta.callbackCtx = reg;
        return;
      }
      if (reg.type !== 'fp') expect('fp');
      meta.callbackCtx = reg;
      return;
    case 'const_str': {
      if (reg.type !== 'map_value') expect('map_value');
      if (!((reg.map!.flags ?? 0) & MapFlag.RDONLY_PROG)) throw new Reject(`R${regno} does not point to a readonly map'`, at);
      if (!isConst(reg.b)) throw new Reject(`R${regno} is not a constant address'`, at);
      return;
    }
    case 'iphdr':
    case 'ipv6hdr':
    case 'tcphdr':
      argMem(ctx, state, at, regno, reg, HEADER_SIZE[arg], false);
      return;
    case 'long_ptr':
    case 'int_ptr':
      argMem(ctx, state, at, regno, reg, arg === 'long_ptr' ? 8 : 4, true, arg === 'long_ptr' ? 8 : 4);
      return;
    case 'sock_common':
    case 'btf_sock_common':
      if (!['sock', 'sock_common', 'tcp_sock'].includes(reg.type) || reg.nullable) {
        expect(arg === 'sock_common' ? 'sock_common, sock, tcp_sock, xdp_sock' : 'sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_');
      }
      return;
    case 'socket':
      if (!['sock', 'sock_common', 'tcp_sock'].includes(reg.type) || reg.nullable) expect('sock');
      if (id === 86 /* sk_release */) {
        if (!reg.refId) throw new Reject(`R${regno} must be referenced when passed to release function`, at);
        meta.releaseRef = reg.refId;
      }
      return;
    default:
      throw new Reject(`R${regno} type=${typeName(reg)} expected=${arg}`, at);
  }
}

const STR_HELPERS = new Set([45, 67 /* get_stack */, 112, 115, 114]);

/** The held bpf_spin_lock, if any. */
export const heldLock = (state: State): Reference | undefined => state.refs.find((r) => r.lock);

/**
 * A helper argument that must point exactly at the value's bpf_spin_lock or bpf_timer (kernel
 * process_spin_lock / process_timer_func): its map needs BTF with that field, at that offset.
 */
function fieldArgOffset(at: number, regno: number, reg: Reg, kind: 'spin_lock' | 'timer'): void {
  const name = FIELD_NAMES[kind];
  if (!isConst(reg.b)) throw new Reject(`R${regno} doesn't have constant offset. ${name} has to be at the constant offset`, at);
  const map = reg.map!;
  if (!mapHasBtf(map)) throw new Reject(`map '${map.name}' has to have BTF in order to use ${name}`, at);
  const fieldOff = fieldOffset(map, kind);
  if (fieldOff === undefined) throw new Reject(`map '${map.name}' has no valid ${name}`, at);
  const off = reg.off + constValue(reg.b);
  if (off !== fieldOff) throw new Reject(`off ${off} doesn't point to 'struct ${name}' that is at ${fieldOff}`, at);
}

/**
 * bpf_spin_lock: remembered by its map and the value pointer's id. One lock at a time: with one held,
 * no helper but the unlock gets this far (checkHelperCall).
 */
function acquireLock(state: State, at: number, regno: number, reg: Reg): void {
  fieldArgOffset(at, regno, reg, 'spin_lock');
  state.refs.push({ id: reg.id, insn: at, lock: reg.map! });
}

/** bpf_spin_unlock: of the lock held, through a pointer with the same id. */
function releaseLock(state: State, at: number, regno: number, reg: Reg): void {
  fieldArgOffset(at, regno, reg, 'spin_lock');
  const held = heldLock(state);
  if (!held) throw new Reject('bpf_spin_unlock without taking a lock', at);
  if (held.lock !== reg.map || held.id !== reg.id) throw new Reject('bpf_spin_unlock of different lock', at);
  state.refs.splice(state.refs.indexOf(held), 1);
}

/** Tracing types that find bpf_get_func_ip but may not call it (the kernel's check_get_func_ip refuses them after the arguments). */
const GET_FUNC_IP_REFUSED = new Set(['tracepoint', 'perf_event', 'raw_tracepoint', 'raw_tracepoint_writable', 'lsm']);
/** Tracing attach points with a trampoline, where bpf_get_func_ip works. */
const TRAMPOLINE_ATTACH = /^(fentry|fexit|fmod_ret|fsession)(\.s)?(\/|$)|^(trace_fentry|trace_fexit|modify_return)$/;

function checkGetFuncIp(ctx: VerifierContext, at: number): void {
  const name = `${helperName(HelperId.get_func_ip)}#${HelperId.get_func_ip}`;
  if (ctx.prog.name === 'kprobe') return;
  if (ctx.prog.name === 'tracing') {
    if (ctx.attachType !== undefined && !TRAMPOLINE_ATTACH.test(ctx.attachType)) throw new Reject(`func ${name} supported only for fentry/fexit/fmod_ret programs`, at);
    return;
  }
  throw new Reject(`func ${name} not supported for program type ${ctx.prog.id}`, at);
}

/** Hooks whose return value is not an errno (attach type or section names): no bpf_get_retval/bpf_set_retval there. */
const NO_RETVAL_HOOK = /recvmsg|getpeername|getsockname|inet_ingress|inet_egress|sock_ops/;

/** Helpers that may sleep, for sleepable programs only: loaded with BPF_F_SLEEPABLE, syscall programs, and sections named sleepable (`fentry.s/`, `lsm.s/` ...). */
const SLEEPING_HELPERS = new Set<number>([HelperId.copy_from_user]);
const SLEEPABLE_SECTION = /\.s(\/|$)/;

/** Helpers that read a trampoline's saved arguments: fentry/fexit/fmod_ret and LSM (not lsm_cgroup) programs only. */
const TRAMPOLINE_HELPERS = new Set<number>([HelperId.get_func_arg, HelperId.get_func_ret, HelperId.get_func_arg_cnt]);

/** The kernel's per-attach-type and sleepability refusals that come before the arguments are checked. */
function checkCallContext(ctx: VerifierContext, at: number, id: number): void {
  const attach = ctx.attachType;
  const lsmCgroup = attach !== undefined && /^lsm_cgroup(\/|$)/.test(attach);
  let withheld = false;
  if (id === HelperId.get_retval || id === HelperId.set_retval) {
    withheld = ctx.prog.name === 'lsm' ? !lsmCgroup : NO_RETVAL_HOOK.test(attach ?? '');
  } else if (TRAMPOLINE_HELPERS.has(id) && attach !== undefined) {
    withheld = ctx.prog.name === 'lsm' ? lsmCgroup : !TRAMPOLINE_ATTACH.test(attach);
  }
  if (withheld) throw new Reject(`program of this type cannot use helper ${helperName(id)}#${id}`, at);
  if (SLEEPING_HELPERS.has(id) && !ctx.sleepable && ctx.prog.name !== 'syscall' && !SLEEPABLE_SECTION.test(attach ?? '')) {
    throw new Reject('helper call might sleep in a non-sleepable prog', at);
  }
}

/**
 * Check a helper call against its prototype and apply its effect on the state. Returns a callback to
 * verify when the helper calls back into the program.
 */
export function checkHelperCall(ctx: VerifierContext, state: State, at: number, id: number): CallbackCall | undefined {
  // Only the unlock may be called under a lock (kernel do_check, before it looks the helper up).
  if (id !== HelperId.spin_unlock && heldLock(state)) throw new Reject('function calls are not allowed while holding a lock', at);
  const proto = helperProto(id);
  if (!proto) {
    if (!HELPER_NAMES[id]) throw new Reject(`invalid func unknown#${id}`, at);
    throw new Reject(`program of this type cannot use helper ${helperName(id)}#${id}`, at);
  }
  const refusedLater = id === HelperId.get_func_ip && GET_FUNC_IP_REFUSED.has(ctx.prog.name);
  if (!refusedLater && !helperAllowed(proto, ctx.prog.name as ProgTypeName)) throw new Reject(`program of this type cannot use helper ${helperName(id)}#${id}`, at);
  if (ctx.unpriv && proto.privileged) throw new Reject(`program of this type cannot use helper ${helperName(id)}#${id}`, at);
  checkCallContext(ctx, at, id);
  const meta: Meta = {};
  argsFor(id, proto.args, ctx.prog.name).forEach((arg, i) => checkArg(ctx, state, at, id, i + 1, arg, meta));
  // As in the kernel's check_helper_call, the map suits the helper only once every argument passed.
  if (meta.map) checkMapCompat(meta.map, id, at, ctx.prog.name, ctx.attachType);
  if (id === HelperId.get_func_ip) checkGetFuncIp(ctx, at);
  if (id === HelperId.get_local_storage && !isNullConst(state.frames[state.frames.length - 1]!.regs[2]!)) throw new Reject("get_local_storage() doesn't support non-zero flags", at);
  if (meta.memArg && !meta.memArg.nullable) {
    // A mem argument without a following size: the helper reads a fixed-size object; accept as is.
  }
  if (meta.releaseRef !== undefined) {
    if (!releaseReference(state, meta.releaseRef, ctx.unpriv)) throw new Reject(`R1 must be referenced when passed to release function`, at);
  }
  const frame = state.frames[state.frames.length - 1]!;
  let callback: CallbackCall | undefined;
  if (meta.callback !== undefined) {
    const cbCtx = meta.callbackCtx ?? scalarReg(constBounds(0, 0));
    const sync = { retMin: 0, retMax: 1, async: false };
    if (proto.name === 'loop') {
      callback = { entry: meta.callback, args: [scalarReg(rangeBounds(0, 0xffffffff)), cbCtx], ...sync };
    } else if (proto.name === 'for_each_map_elem') {
      callback = { entry: meta.callback, args: [...mapElementArgs(meta.map!), cbCtx], ...sync };
    } else if (proto.name === 'timer_set_callback') {
      // The timer's callback gets its map, key and value, and must return 0.
      callback = { entry: meta.callback, args: mapElementArgs(meta.map!), retMin: 0, retMax: 0, async: true };
    }
  }
  resetCallerSaved(frame);
  switch (proto.ret) {
    case 'void':
      frame.regs[0] = NOT_INIT;
      break;
    case 'map_value':
      frame.regs[0] = pointerReg('map_value', { map: meta.map!, b: constBounds(0, 0) });
      break;
    case 'map_value_or_null': {
      const map = meta.map!;
      const isMapInMap = map.type === MapType.array_of_maps || map.type === MapType.hash_of_maps;
      if (map.type === MapType.sockmap || map.type === MapType.sockhash) {
        // A socket from a sock map is a reference the program must release.
        const refId = ctx.newId();
        state.refs.push({ id: refId, insn: at });
        frame.regs[0] = pointerReg('sock', { nullable: true, id: ctx.newId(), refId, b: constBounds(0, 0) });
      } else if (isMapInMap) {
        const inner = map.innerMap ?? { name: `${map.name}.inner`, type: MapType.array, keySize: 4, valueSize: 8, maxEntries: 1 };
        frame.regs[0] = pointerReg('map_ptr', { map: inner, nullable: true, id: ctx.newId() });
      } else {
        const key = proto.name === 'map_lookup_elem' && NEVER_NULL_WITH_CONST_KEY.has(map.type) && meta.key
          ? constantMapKey(ctx, state, meta.key, map.keySize) : undefined;
        const nullable = key === undefined || key >= map.maxEntries;
        // A value holding a lock needs an id even when it cannot be NULL: the lock is known by it.
        const id = nullable || hasField(map, 'spin_lock') ? ctx.newId() : 0;
        frame.regs[0] = pointerReg('map_value', { map, nullable, id, b: constBounds(0, 0) });
      }
      break;
    }
    case 'ringbuf_mem_or_null': {
      const refId = ctx.newId();
      state.refs.push({ id: refId, insn: at });
      frame.regs[0] = pointerReg('mem', { nullable: true, id: ctx.newId(), refId, memSize: meta.constSize ?? 0, b: constBounds(0, 0) });
      break;
    }
    case 'socket_or_null':
    case 'sock_common_or_null': {
      const acquires = proto.name === 'sk_lookup_tcp' || proto.name === 'sk_lookup_udp' || proto.name === 'skc_lookup_tcp';
      let refId = 0;
      if (acquires) {
        refId = ctx.newId();
        state.refs.push({ id: refId, insn: at });
      }
      frame.regs[0] = pointerReg(proto.ret === 'socket_or_null' ? 'sock' : 'sock_common', { nullable: true, id: ctx.newId(), refId, b: constBounds(0, 0) });
      break;
    }
    case 'tcp_sock_or_null':
      frame.regs[0] = pointerReg('tcp_sock', { nullable: true, id: ctx.newId(), b: constBounds(0, 0) });
      break;
    case 'integer': {
      if (STR_HELPERS.has(id) && meta.maxSize !== undefined) {
        // A string length: at most the buffer's size.
        const b = unknownBounds();
        b.smaxHi = 0; b.smaxLo = meta.maxSize | 0; b.s32max = meta.maxSize | 0;
        sync(b);
        frame.regs[0] = scalarReg(b);
      } else {
        frame.regs[0] = scalarReg();
      }
      break;
    }
    default:
      throw new Reject(`unsupported return type of helper ${helperName(id)}#${id}`, at);
  }
  if (proto.changesPacket) clearPacketPointers(state, ctx.unpriv);
  return callback;
}

