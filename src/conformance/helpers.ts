import { HelperStatus, argNumber, argPointer, argU32, setReturn, setReturnNumber, type Helper, type HelperCall } from '../vm/abi.js';
import { MemoryAccessError } from '../vm/memory.js';

/**
 * The helpers the conformance suites call, with the behaviour of uBPF's test runner:
 * 0 gather_bytes, 1 memfrob, 2 no_op (uBPF's trash_registers), 3 sqrti, 4 strcmp_ext, 5 unwind.
 * bpf_conformance only calls 5.
 */

/** Bytes `[ptr, ptr + n)` checked against the address space's regions (helpers must not corrupt it). */
function bytesAt(call: HelperCall, n: number, pointerArg: number, write: boolean): Uint8Array {
  const address = argPointer(call, pointerArg);
  const space = call.space;
  if (address < 0) throw new MemoryAccessError(`helper argument r${pointerArg} is not a pointer`, 0, n, write, call.insn);
  if (n > 0) space.check(address, 0, n, write, call.insn);
  return space.u8.subarray(address, address + n);
}

/** A NUL-terminated string starting at the pointer in r`n`, checked against its region. */
function cString(call: HelperCall, pointerArg: number): Uint8Array {
  const address = argPointer(call, pointerArg);
  const region = address < 0 ? undefined : call.space.regionAt(address);
  if (region === undefined) throw new MemoryAccessError(`helper argument r${pointerArg} is not a pointer to a string`, address, 1, false, call.insn);
  const end = region.start + region.size;
  const u8 = call.space.u8;
  let i = address;
  while (i < end && u8[i] !== 0) i++;
  if (i === end) throw new MemoryAccessError(`string at r${pointerArg} runs past the end of ${region.name}`, address, end - address, false, call.insn);
  return u8.subarray(address, i);
}

const gatherBytes: Helper = (call) => {
  const byte = (n: number): number => argU32(call, n) & 0xff;
  // a << 32 | b << 24 | c << 16 | d << 8 | e, each argument truncated to 8 bits.
  setReturn(call, ((byte(2) << 24) | (byte(3) << 16) | (byte(4) << 8) | byte(5)) >>> 0, byte(1));
};

const memfrob: Helper = (call) => {
  const n = argNumber(call, 2);
  const bytes = bytesAt(call, n, 1, true);
  for (let i = 0; i < bytes.length; i++) bytes[i] = bytes[i]! ^ 42;
  // Returns its first argument, like memfrob(3).
  setReturn(call, argU32(call, 1), 0);
};

const noOp: Helper = (call) => {
  setReturn(call, 0, 0);
};

const sqrti: Helper = (call) => {
  setReturn(call, Math.floor(Math.sqrt(argU32(call, 1))), 0);
};

const strcmpExt: Helper = (call) => {
  const a = cString(call, 1);
  const b = cString(call, 2);
  let result = 0;
  for (let i = 0; ; i++) {
    const x = i < a.length ? a[i]! : 0;
    const y = i < b.length ? b[i]! : 0;
    if (x !== y || x === 0) { result = x - y; break; }
  }
  setReturnNumber(call, result);
};

/** Returns its argument; an argument of 0 stops the program with r0 = 0. */
const unwind: Helper = (call) => {
  const lo = call.space.view.getUint32(call.regfile + 8, true);
  const hi = call.space.view.getUint32(call.regfile + 12, true);
  setReturn(call, lo, hi);
  return lo === 0 && hi === 0 ? HelperStatus.STOP : HelperStatus.CONTINUE;
};

export const CONFORMANCE_HELPERS: readonly Helper[] = [gatherBytes, memfrob, noOp, sqrti, strcmpExt, unwind];
