import { PerfEventArrayMap, RINGBUF_HEADER, RingBufMap } from '../maps/ringbuf.js';
import { ObjectArrayMap } from '../maps/array.js';
import { copyBytes, zeroBytes } from '../maps/bytes.js';
import { Errno } from '../maps/spec.js';
import type { BpfMap } from '../maps/map.js';
import type { HelperIdName } from '../uapi/helper-ids.js';
import {
  HelperStatus, argBigInt, argNumber, argPointer, argU32, setReturn, setReturnBigInt, setReturnNumber, type Helper, type HelperCall,
} from '../vm/abi.js';
import { MAX_TAIL_CALLS } from '../vm/engine.js';
import { ExecutionError } from '../vm/engine.js';
import type { ExecEnv } from './env.js';
import { FormatError, formatBpf, type FormatMemory } from './format.js';

/**
 * Helpers every program type may call: maps, time, randomness, printing, strings, ring buffers,
 * bpf_loop, tail calls. Pointer arguments are checked against the address space's regions, so a
 * helper cannot be made to read or write outside what the program was given, verified or not.
 */

type Call = HelperCall<ExecEnv>;
export type HelperImpl = Helper<ExecEnv>;

const fail = (call: Call, errno: number): void => setReturnNumber(call, -errno);

/** The map argument, or a fault: the verifier only lets map pointers reach these arguments. */
export function mapArg(call: Call, n: number): BpfMap {
  const map = call.env.services.mapByHandle(argU32(call, n));
  if (!map) throw new ExecutionError('vm/bad-map', `helper argument r${n} is not a map`, call.insn);
  return map;
}

/** Check that [address, address+size) is inside one region (writable when `write`). */
export function checkMemory(call: Call, address: number, size: number, write: boolean): void {
  if (size === 0) return;
  call.space.check(address, address < 0 ? 1 : 0, size, write, call.insn);
}

export function memoryReader(call: Call): FormatMemory {
  const space = call.space;
  return {
    readString(address, max) {
      const a = Number(address);
      const region = address < 2n ** 32n ? space.regionAt(a) : undefined;
      if (!region) return undefined;
      const end = Math.min(region.start + region.size, a + max);
      let s = '';
      for (let p = a; p < end && space.u8[p] !== 0; p++) s += String.fromCharCode(space.u8[p]!);
      return s;
    },
    readBytes(address, length) {
      const a = Number(address);
      const region = address < 2n ** 32n ? space.regionAt(a) : undefined;
      if (!region || a + length > region.start + region.size) return undefined;
      return space.u8.slice(a, a + length);
    },
  };
}

function readFormat(call: Call, address: number, size: number): string | undefined {
  checkMemory(call, address, size, false);
  const bytes = call.space.u8.subarray(address, address + size);
  const nul = bytes.indexOf(0);
  if (nul < 0) return undefined; // the kernel requires the format to be NUL-terminated within size
  return String.fromCharCode(...bytes.subarray(0, nul));
}

/** Arguments packed as u64s in memory (trace_vprintk, snprintf). */
function packedArgs(call: Call, address: number, length: number): bigint[] {
  if (length % 8 !== 0 || length > 8 * 12) return [];
  checkMemory(call, address, length, false);
  const out: bigint[] = [];
  for (let i = 0; i < length; i += 8) out.push(call.space.view.getBigUint64(address + i, true));
  return out;
}

function mapOp(op: (map: BpfMap, call: Call) => number): HelperImpl {
  return (call) => setReturnNumber(call, op(mapArg(call, 1), call));
}

/** Named: the JIT recognises the runtime's map_update_elem by name (src/vm/jit/wasm-helpers.ts). */
function mapUpdateElem(call: Call): void {
  setReturnNumber(call, mapArg(call, 1).updateElem(argPointer(call, 2), argPointer(call, 3), argNumber(call, 4), call.env.cpu));
}

function readString(call: Call, address: number, size: number, write: (text: string) => void): void {
  const fmt = readFormat(call, address, size);
  if (fmt === undefined) return fail(call, Errno.EINVAL);
  write(fmt);
}

/** The integer parser behind bpf_strtol/bpf_strtoul: base 0, 8, 10 or 16 in the low 5 bits of flags. */
function parseInteger(text: string, flags: number, signed: boolean): { consumed: number; value: bigint } | number {
  const base = flags & 0x1f;
  if ((flags & ~0x1f) !== 0 || (base !== 0 && base !== 8 && base !== 10 && base !== 16)) return -Errno.EINVAL;
  let i = 0;
  while (i < text.length && /\s/.test(text[i]!)) i++;
  let negative = false;
  if (text[i] === '-') {
    negative = true;
    i++;
  }
  let radix = base;
  const hexPrefix = text[i] === '0' && (text[i + 1] === 'x' || text[i + 1] === 'X');
  // Base 0 takes "0x" as hex only before a hex digit; base 16 skips "0x" whatever follows.
  if (radix === 0) radix = hexPrefix && /[0-9a-f]/i.test(text[i + 2] ?? '') ? 16 : text[i] === '0' ? 8 : 10;
  if (radix === 16 && hexPrefix) i += 2;
  const start = i;
  let value = 0n;
  for (; i < text.length; i++) {
    const digit = parseInt(text[i]!, radix);
    if (Number.isNaN(digit)) break;
    value = value * BigInt(radix) + BigInt(digit);
    if (value > 0xffffffffffffffffn) return -Errno.ERANGE;
  }
  if (i === start) return -Errno.EINVAL;
  // strtoul parses a negative number first (an overflow is still -ERANGE), then refuses it.
  if (!signed && negative) return -Errno.EINVAL;
  if (signed && value > (negative ? 0x8000000000000000n : 0x7fffffffffffffffn)) return -Errno.ERANGE;
  return { consumed: i, value: negative ? -value : value };
}

function strtoX(signed: boolean): HelperImpl {
  return (call) => {
    const buf = argPointer(call, 1);
    const size = argU32(call, 2);
    const res = argPointer(call, 4);
    checkMemory(call, buf, size, false);
    checkMemory(call, res, 8, true);
    const bytes = call.space.u8.subarray(buf, buf + size);
    const nul = bytes.indexOf(0);
    const text = String.fromCharCode(...bytes.subarray(0, nul < 0 ? size : nul));
    const parsed = parseInteger(text, argU32(call, 3), signed);
    if (typeof parsed === 'number') return setReturnNumber(call, parsed);
    call.space.view.setBigUint64(res, BigInt.asUintN(64, parsed.value), true);
    setReturnNumber(call, parsed.consumed);
  };
}

/** bpf_strncmp(s1, s1_sz, s2): the kernel's strncmp(s1, s2, s1_sz), which answers -1, 0 or 1. */
const strncmp: HelperImpl = (call) => {
  const s1 = argPointer(call, 1);
  const size = argU32(call, 2);
  const s2 = argPointer(call, 3);
  checkMemory(call, s1, size, false);
  const u8 = call.space.u8;
  for (let i = 0; i < size; i++) {
    checkMemory(call, s2 + i, 1, false);
    const a = u8[s1 + i]!, b = u8[s2 + i]!;
    if (a !== b) return setReturnNumber(call, a < b ? -1 : 1);
    if (a === 0) break;
  }
  setReturnNumber(call, 0);
};

/** The task's cgroup (`level` undefined) or its ancestor at `level`; 0 past the task's own level or with no cgroup given. */
export function taskCgroupId(call: Call, level?: number): number {
  const ids = call.env.services.task.cgroupIds ?? [];
  return (level === undefined ? ids[ids.length - 1] : ids[level]) ?? 0;
}

/** sizeof(struct bpf_pidns_info): pid, tgid. */
const PIDNS_INFO_SIZE = 8;

/** The task's pid and tgid in the pid namespace named by (dev, ino), or -EINVAL and a zeroed buffer. */
const getNsCurrentPidTgid: HelperImpl = (call) => {
  const buf = argPointer(call, 3);
  const size = argU32(call, 4);
  checkMemory(call, buf, size, true);
  const task = call.env.services.task;
  const ns = task.pidNamespace;
  if (size !== PIDNS_INFO_SIZE || ns === undefined || argBigInt(call, 1) !== BigInt(ns.dev) || argBigInt(call, 2) !== BigInt(ns.ino)) {
    call.space.u8.fill(0, buf, buf + size);
    return setReturnNumber(call, -Errno.EINVAL);
  }
  call.space.view.setUint32(buf, task.pid, true);
  call.space.view.setUint32(buf + 4, task.tgid, true);
  setReturnNumber(call, 0);
};

function probeRead(asString: boolean): HelperImpl {
  return (call) => {
    const dst = argPointer(call, 1);
    const size = argU32(call, 2);
    const src = argPointer(call, 3);
    checkMemory(call, dst, size, true);
    const space = call.space;
    const region = src >= 0 ? space.regionAt(src) : undefined;
    if (!region) {
      zeroBytes(space.view, space.u8, dst, size);
      return fail(call, Errno.EFAULT);
    }
    const available = Math.min(size, region.start + region.size - src);
    if (!asString) {
      if (available < size) {
        zeroBytes(space.view, space.u8, dst, size);
        return fail(call, Errno.EFAULT);
      }
      copyBytes(space.view, space.u8, dst, src, size);
      return setReturnNumber(call, 0);
    }
    if (size === 0) return setReturnNumber(call, 0);
    let n = 0;
    while (n < available && n < size - 1 && space.u8[src + n] !== 0) n++;
    space.u8.copyWithin(dst, src, src + n);
    space.u8[dst + n] = 0;
    setReturnNumber(call, n + 1);
  };
}

/** BPF_F_INDEX_MASK and BPF_F_CTXLEN_MASK of perf_event_output's flags. */
const PERF_INDEX_MASK = 0xffffffffn;
const PERF_CTXLEN_MASK = 0xfffffn << 32n;

/**
 * bpf_perf_event_output: `appended` bytes of the packet (what BPF_F_CTXLEN asks packet programs
 * for) go after the record's data, read through `appendPacket`. Perf buffers are always open in user
 * space, so every index below max_entries takes the record.
 */
export function perfEventOutput(call: Call, appended: number, appendPacket?: (to: number) => void): void {
  const map = mapArg(call, 2);
  if (!(map instanceof PerfEventArrayMap)) return fail(call, Errno.EINVAL);
  const flags = argBigInt(call, 3);
  const allowed = appendPacket ? PERF_INDEX_MASK | PERF_CTXLEN_MASK : PERF_INDEX_MASK;
  if (flags & ~allowed) return fail(call, Errno.EINVAL);
  const index = (flags & PERF_INDEX_MASK) === PERF_INDEX_MASK ? call.env.cpu : Number(flags & PERF_INDEX_MASK);
  const data = argPointer(call, 4);
  const size = argU32(call, 5);
  checkMemory(call, data, size, false);
  if (!appended || !appendPacket) return setReturnNumber(call, map.output(index, data, size));
  const record = call.space.allocate(size + appended, 'scratch', 'perf record');
  try {
    call.space.u8.copyWithin(record.start, data, data + size);
    appendPacket(record.start + size);
    setReturnNumber(call, map.output(index, record.start, size + appended));
  } finally {
    call.space.release(record);
  }
}

/** BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP: the only flags ringbuf_output takes. */
const RINGBUF_WAKEUP_FLAGS = 3;

/**
 * The kernel refuses a record that would make producer - consumer reach the ring size (it must stay
 * below it, so a full ring is never mistaken for an empty one).
 */
function ringHasRoom(map: RingBufMap, size: number): boolean {
  const length = (size + RINGBUF_HEADER + 7) & ~7;
  return map.producerPos + length - map.consumerPos < map.size;
}

/** bpf_loop's iteration cap (BPF_MAX_LOOPS). */
export const BPF_MAX_LOOPS = 1 << 23;

export const BASE_HELPERS: Partial<Record<HelperIdName, HelperImpl>> = {
  map_lookup_elem: (call) => setReturnNumber(call, mapArg(call, 1).lookupElem(argPointer(call, 2), call.env.cpu)),
  map_update_elem: mapUpdateElem,
  map_delete_elem: mapOp((map, call) => map.deleteElem(argPointer(call, 2))),
  map_push_elem: mapOp((map, call) => map.pushElem(argPointer(call, 2), argNumber(call, 3))),
  map_pop_elem: mapOp((map, call) => map.popElem(argPointer(call, 2))),
  map_peek_elem: mapOp((map, call) => map.peekElem(argPointer(call, 2))),
  map_lookup_percpu_elem: (call) => {
    const cpu = argU32(call, 3);
    const map = mapArg(call, 1);
    setReturnNumber(call, cpu < map.cpus ? map.lookupElem(argPointer(call, 2), cpu) : 0);
  },
  ktime_get_ns: (call) => setReturnNumber(call, Math.floor(call.env.services.monotonicNs())),
  ktime_get_boot_ns: (call) => setReturnNumber(call, Math.floor(call.env.services.bootNs())),
  ktime_get_coarse_ns: (call) => setReturnNumber(call, Math.floor(call.env.services.monotonicNs() / 4e6) * 4e6),
  ktime_get_tai_ns: (call) => setReturnNumber(call, Math.floor(call.env.services.taiNs())),
  // jiffies start 300 s before the 32-bit counter wraps (INITIAL_JIFFIES), so wrap bugs show early.
  jiffies64: (call) => {
    const hz = call.env.services.hz;
    setReturnNumber(call, 2 ** 32 - 300 * hz + Math.floor((call.env.services.bootNs() * hz) / 1e9));
  },
  get_prandom_u32: (call) => setReturn(call, call.env.services.randomU32(), 0),
  get_smp_processor_id: (call) => setReturnNumber(call, call.env.cpu),
  get_numa_node_id: (call) => setReturnNumber(call, call.env.services.numaNode),
  trace_printk: (call) => {
    readString(call, argPointer(call, 1), argU32(call, 2), (fmt) => {
      try {
        const text = formatBpf(fmt, [argBigInt(call, 3), argBigInt(call, 4), argBigInt(call, 5)], memoryReader(call));
        call.env.services.trace(text);
        setReturnNumber(call, text.length);
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
        fail(call, Errno.EINVAL);
      }
    });
  },
  trace_vprintk: (call) => {
    readString(call, argPointer(call, 1), argU32(call, 2), (fmt) => {
      try {
        const text = formatBpf(fmt, packedArgs(call, argPointer(call, 3), argU32(call, 4)), memoryReader(call));
        call.env.services.trace(text);
        setReturnNumber(call, text.length);
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
        fail(call, Errno.EINVAL);
      }
    });
  },
  snprintf: (call) => {
    const out = argPointer(call, 1);
    const size = argU32(call, 2);
    const fmtAddress = argPointer(call, 3);
    const region = call.space.regionAt(fmtAddress);
    if (!region) return fail(call, Errno.EINVAL);
    readString(call, fmtAddress, region.start + region.size - fmtAddress, (fmt) => {
      let text: string;
      try {
        text = formatBpf(fmt, packedArgs(call, argPointer(call, 4), argU32(call, 5)), memoryReader(call));
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
        return fail(call, Errno.EINVAL);
      }
      if (size > 0) {
        checkMemory(call, out, size, true);
        const n = Math.min(text.length, size - 1);
        for (let i = 0; i < n; i++) call.space.u8[out + i] = text.charCodeAt(i) & 0xff;
        call.space.u8[out + n] = 0;
      }
      setReturnNumber(call, text.length + 1);
    });
  },
  strtol: strtoX(true),
  strtoul: strtoX(false),
  strncmp,
  get_ns_current_pid_tgid: getNsCurrentPidTgid,
  get_current_cgroup_id: (call) => setReturnNumber(call, taskCgroupId(call)),
  get_current_ancestor_cgroup_id: (call) => setReturnNumber(call, taskCgroupId(call, argU32(call, 1))),
  get_attach_cookie: (call) => setReturnBigInt(call, call.env.attachCookie ?? 0n),
  get_current_pid_tgid: (call) => setReturn(call, call.env.services.task.pid, call.env.services.task.tgid),
  get_current_uid_gid: (call) => setReturn(call, call.env.services.task.uid, call.env.services.task.gid),
  get_current_comm: (call) => {
    const dst = argPointer(call, 1);
    const size = argU32(call, 2);
    checkMemory(call, dst, size, true);
    const comm = call.env.services.task.comm;
    call.space.u8.fill(0, dst, dst + size);
    for (let i = 0; i < Math.min(comm.length, size - 1); i++) call.space.u8[dst + i] = comm.charCodeAt(i) & 0xff;
    setReturnNumber(call, 0);
  },
  probe_read: probeRead(false),
  probe_read_kernel: probeRead(false),
  probe_read_user: probeRead(false),
  probe_read_str: probeRead(true),
  probe_read_kernel_str: probeRead(true),
  probe_read_user_str: probeRead(true),
  ringbuf_output: (call) => {
    const map = mapArg(call, 1);
    if (!(map instanceof RingBufMap)) return fail(call, Errno.EINVAL);
    const data = argPointer(call, 2);
    const size = argU32(call, 3);
    if (argNumber(call, 4) & ~RINGBUF_WAKEUP_FLAGS) return fail(call, Errno.EINVAL);
    checkMemory(call, data, size, false);
    if (!ringHasRoom(map, size)) return fail(call, Errno.EAGAIN);
    setReturnNumber(call, map.output(data, size));
  },
  ringbuf_reserve: (call) => {
    const map = mapArg(call, 1);
    if (!(map instanceof RingBufMap) || argNumber(call, 3) !== 0 || !ringHasRoom(map, argU32(call, 2))) return setReturnNumber(call, 0);
    setReturnNumber(call, map.reserve(argU32(call, 2)));
  },
  ringbuf_submit: (call) => commitRecord(call, false),
  ringbuf_discard: (call) => commitRecord(call, true),
  ringbuf_query: (call) => {
    const map = mapArg(call, 1);
    setReturnNumber(call, map instanceof RingBufMap ? map.query(argU32(call, 2)) : 0);
  },
  perf_event_output: (call) => perfEventOutput(call, 0),
  loop: (call) => {
    const count = argNumber(call, 1);
    const target = argU32(call, 2);
    const context = argNumber(call, 3);
    if (argNumber(call, 4) !== 0) return fail(call, Errno.EINVAL);
    // The verifier inlines bpf_loop when flags are 0; the inlined code sets -E2BIG as a 32-bit value.
    if (count > BPF_MAX_LOOPS || count < 0) return setReturn(call, -Errno.E2BIG >>> 0, 0);
    const invoke = call.invoke;
    if (!invoke) throw new ExecutionError('vm/no-callbacks', 'this engine cannot run bpf_loop callbacks', call.insn);
    const insn = call.insn;
    const args = [0, context];
    let i = 0;
    while (i < count) {
      args[0] = i;
      i++;
      if (invoke(target, args) === 1) break;
      call.insn = insn;
    }
    setReturnNumber(call, i);
  },
  for_each_map_elem: (call) => {
    const map = mapArg(call, 1);
    const target = argU32(call, 2);
    const context = argNumber(call, 3);
    if (argNumber(call, 4) !== 0) return fail(call, Errno.EINVAL);
    const invoke = call.invoke;
    if (!invoke) throw new ExecutionError('vm/no-callbacks', 'this engine cannot run for_each_map_elem callbacks', call.insn);
    const keyRegion = call.space.allocate(Math.max(map.spec.keySize, 1), 'scratch', `for_each key of ${map.name}`);
    let visited = 0;
    try {
      for (const key of [...map.keys()]) {
        call.space.u8.set(key, keyRegion.start);
        const value = map.lookupElem(keyRegion.start, call.env.cpu);
        if (value === 0) continue;
        visited++;
        if (invoke(target, [map.handle, keyRegion.start, value, context]) === 1) break;
      }
    } finally {
      call.space.release(keyRegion);
    }
    setReturnNumber(call, visited);
  },
  tail_call: (call) => {
    const map = mapArg(call, 2);
    const index = argU32(call, 3);
    const env = call.env;
    const target = map instanceof ObjectArrayMap ? map.get(index) : undefined;
    if (target === undefined || env.tailCalls >= MAX_TAIL_CALLS) return fail(call, Errno.ENOENT);
    env.tailCalls++;
    call.tailCallTarget = target;
    return HelperStatus.TAIL_CALL;
  },
  // One thread runs a program at a time here: a lock is never contended, but its word says whether it is held.
  spin_lock: (call) => setLockWord(call, 1),
  spin_unlock: (call) => setLockWord(call, 0),
};

/**
 * bpf_spin_lock / bpf_spin_unlock on the 4-byte lock word argument 1 points at: 1 while held. Taking
 * a held lock (it would spin for ever) or releasing a free one is a fault, which the verifier's
 * one-lock-at-a-time rule keeps verified programs from.
 */
function setLockWord(call: Call, held: 0 | 1): void {
  const lock = argPointer(call, 1);
  checkMemory(call, lock, 4, true);
  if (call.space.view.getUint32(lock, true) === held) {
    throw new ExecutionError('vm/spin-lock', `bpf_spin_${held ? 'lock of a lock already held' : 'unlock of a lock not held'} at ${lock}`, call.insn);
  }
  call.space.view.setUint32(lock, held, true);
  setReturnNumber(call, 0);
}

function commitRecord(call: Call, discard: boolean): void {
  const record = argPointer(call, 1);
  const ring = RingBufMap.owning(call.space, record);
  if (!ring || !ring.commit(record, discard)) {
    throw new ExecutionError('vm/bad-ringbuf-record', `ringbuf_${discard ? 'discard' : 'submit'} of ${record} which is not a reserved record`, call.insn);
  }
  setReturnNumber(call, 0);
}
