import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Instruction } from '../../src/isa/instruction.js';
import { verify } from '../../src/verifier/index.js';
import { KernelOracle, kernelUnavailableReason } from './fuzz/kernel.js';
import { MAPS, type FuzzProgType } from './fuzz/targets.js';

/**
 * Programs Linux 6.18 accepts that tsbpf once refused (issue 4, precision), and their neighbours the
 * kernel refuses, with the kernel's verdict and line. As root the kernel is asked too (fuzz oracle,
 * maps by fd_array index as in the fuzz), so the recorded verdicts stay the kernel's.
 */

const I = (code: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({ code, dst, src, off, imm });
const EXIT = I(0x95);
const R0_0 = I(0xb7, 0, 0, 0, 0);
/** Dead code: r0 = 0; if r0 == 0 goto +1 (always taken) skips the next instruction. */
const SKIP_NEXT = [R0_0, I(0x15, 0, 0, 1, 0)];
/** r2 = fp-4 with fp-8 holding an 8-byte zero spill; r1 = array map (fd_array index 0); lookup. */
const ARRAY_LOOKUP_FP4 = [I(0x7a, 10, 0, -8, 0), I(0x18, 1, 5, 0, 0), I(0), I(0xbf, 2, 10), I(0x07, 2, 0, 0, -4), I(0x85, 0, 0, 0, 1)];

interface Case {
  name: string;
  type: FuzzProgType;
  insns: Instruction[];
  /** The kernel's verdict; for a reject, its last log line and the instruction. */
  kernel: 'accept' | { error: string; insn: number };
}

const CASES: Case[] = [
  // Reserved fields are checked when do_check reaches the instruction; dead code is removed unchecked.
  { name: 'reserved jump field in dead code', type: 'socket_filter', insns: [...SKIP_NEXT, I(0x15, 0, 3, 0, 0), EXIT], kernel: 'accept' },
  { name: 'reserved jump field reached', type: 'socket_filter', insns: [R0_0, I(0x15, 0, 3, 0, 0), EXIT], kernel: { error: 'BPF_JMP/JMP32 uses reserved fields', insn: 1 } },
  { name: 'reserved ALU field in dead code', type: 'socket_filter', insns: [...SKIP_NEXT, I(0xbf, 3, 10, 0, -8), EXIT], kernel: 'accept' },
  { name: 'reserved mov field reached', type: 'socket_filter', insns: [I(0xb4, 0, 0, 1, 0), EXIT], kernel: { error: 'BPF_MOV uses reserved fields', insn: 0 } },
  { name: 'reserved neg field reached', type: 'socket_filter', insns: [R0_0, I(0x87, 0, 0, 0, 1), EXIT], kernel: { error: 'BPF_NEG uses reserved fields', insn: 1 } },
  { name: 'reserved STX field in dead code', type: 'tracepoint', insns: [...SKIP_NEXT, I(0x7b, 10, 7, -16, 4096), EXIT], kernel: 'accept' },
  { name: 'reserved ST field reached', type: 'socket_filter', insns: [I(0x7a, 10, 1, -8, 0), R0_0, EXIT], kernel: { error: 'BPF_ST uses reserved fields', insn: 0 } },
  { name: 'reserved call field reached', type: 'socket_filter', insns: [I(0x85, 0, 0, 1, 7), EXIT], kernel: { error: 'BPF_CALL uses reserved fields', insn: 0 } },
  { name: 'reserved LD_IMM64 offset reached', type: 'socket_filter', insns: [I(0x18, 0, 0, 1, 0), I(0), EXIT], kernel: { error: 'BPF_LD_IMM64 uses reserved fields', insn: 0 } },
  { name: 'the kernel never checks an exit\'s offset', type: 'socket_filter', insns: [R0_0, I(0x95, 0, 0, 3, 0)], kernel: 'accept' },
  // LD_ABS: program type first, then its reserved fields; main program with subprograms is fine.
  { name: 'LD_ABS reserved field after the program-type check', type: 'xdp', insns: [I(0xbf, 6, 1), I(0x20, 0, 0, 1, 0), EXIT], kernel: { error: 'BPF_LD_[ABS|IND] instructions not allowed for this program type', insn: 1 } },
  { name: 'LD_ABS reserved field reached', type: 'socket_filter', insns: [I(0xbf, 6, 1), I(0x20, 0, 0, 1, 0), EXIT], kernel: { error: 'BPF_LD_[ABS|IND] uses reserved fields', insn: 1 } },
  { name: 'LD_ABS in the main program beside a subprogram call', type: 'socket_filter', insns: [I(0xbf, 6, 1), I(0x85, 0, 1, 0, 2), I(0x20, 0, 0, 0, 0), EXIT, R0_0, EXIT], kernel: 'accept' },
  { name: 'LD_ABS in a subprogram without BTF', type: 'socket_filter', insns: [I(0xbf, 6, 1), I(0x85, 0, 1, 0, 1), EXIT, I(0x20, 0, 0, 0, 0), EXIT], kernel: { error: 'LD_ABS is not allowed in subprogs without BTF', insn: 3 } },
  { name: 'tail call in a subprogram without BTF', type: 'socket_filter', insns: [I(0x85, 0, 1, 0, 2), R0_0, EXIT, R0_0, I(0x85, 0, 0, 0, 12), EXIT], kernel: { error: 'tail_call is not allowed in subprogs without BTF', insn: 3 } },
  {
    name: 'LD_ABS while holding a ring buffer reservation', type: 'socket_filter',
    insns: [I(0xbf, 6, 1), I(0x18, 1, 5, 0, 4), I(0), I(0xb7, 2, 0, 0, 8), I(0xb7, 3, 0, 0, 0), I(0x85, 0, 0, 0, 131), I(0xbf, 7, 0),
      I(0x30, 0, 0, 0, 0), I(0x15, 7, 0, 3, 0), I(0xbf, 1, 7), I(0xb7, 2, 0, 0, 0), I(0x85, 0, 0, 0, 133), R0_0, EXIT],
    kernel: { error: 'BPF_LD_[ABS|IND] would lead to reference leak', insn: 7 },
  },
  { name: 'LD_IND takes a pointer as its offset (privileged)', type: 'socket_filter', insns: [I(0xbf, 6, 1), I(0xbf, 8, 10), I(0x50, 0, 8, 0, 0), EXIT], kernel: 'accept' },
  // BPF_ST into the context is a store like STX since Linux 6.3.
  { name: 'BPF_ST into a writable context field', type: 'sched_cls', insns: [I(0x62, 1, 0, 8, 5), R0_0, EXIT], kernel: 'accept' },
  { name: 'BPF_ST into a read-only context field', type: 'socket_filter', insns: [I(0x62, 1, 0, 8, 5), R0_0, EXIT], kernel: { error: 'invalid bpf_context access off=8 size=4', insn: 0 } },
  // An array lookup with a constant in-range key cannot fail, here the upper half of an 8-byte zero spill.
  { name: 'array lookup keyed by part of a constant spill is not null', type: 'socket_filter', insns: [...ARRAY_LOOKUP_FP4, I(0x71, 0, 0, 0, 0), EXIT], kernel: 'accept' },
  // A fetching atomic writes its load register before either access: through it as the address, the
  // accesses see an unknown scalar (a fuzz find: tsbpf accepted this).
  {
    name: 'cmpxchg addressed through R0', type: 'socket_filter',
    insns: [I(0xbf, 0, 10), I(0x7b, 10, 0, -8, 0), I(0xdb, 0, 1, -8, 0xf1), EXIT],
    kernel: { error: 'misaligned access off (0x0; 0xffffffffffffffff)+0+-8 size 8', insn: 2 },
  },
  {
    name: 'fetch_add addressed through its own source register', type: 'socket_filter',
    insns: [I(0x7a, 10, 0, -8, 0), I(0xbf, 1, 10), I(0xdb, 1, 1, -8, 0x01), R0_0, EXIT],
    kernel: { error: 'misaligned access off (0x0; 0xffffffffffffffff)+0+-8 size 8', insn: 2 },
  },
  { name: 'cmpxchg through another register keeps the spilled pointer', type: 'socket_filter', insns: [I(0xbf, 2, 10), I(0x7b, 10, 2, -8, 0), R0_0, I(0xdb, 2, 1, -8, 0xf1), R0_0, EXIT], kernel: 'accept' },
  // A context field that loads as a pointer has no sign-extending load (PREVAIL's ctx.yaml found it).
  { name: 'sign-extending load of xdp_md data_meta', type: 'xdp', insns: [I(0x81, 2, 1, 8), R0_0, EXIT], kernel: { error: 'invalid bpf_context access off=8 size=4', insn: 0 } },
  { name: 'sign-extending load of __sk_buff data', type: 'sched_cls', insns: [I(0x81, 2, 1, 76), R0_0, EXIT], kernel: { error: 'invalid bpf_context access off=76 size=4', insn: 0 } },
  { name: 'sign-extending load of a scalar context field', type: 'xdp', insns: [I(0x81, 2, 1, 12), R0_0, EXIT], kernel: 'accept' },
  // Privileged sign-extending moves of pointers give unknown scalars.
  { name: 'sign-extension mov of a pointer (privileged)', type: 'socket_filter', insns: [I(0xbf, 0, 1, 8, 0), EXIT], kernel: 'accept' },
  { name: '32-bit sign-extension mov of a pointer is a scalar', type: 'socket_filter', insns: [I(0xbc, 2, 1, 8, 0), I(0x61, 0, 2, 0, 0), EXIT], kernel: { error: "R2 invalid mem access 'scalar'", insn: 1 } },
  { name: 'neg of a pointer is an unknown scalar (privileged)', type: 'socket_filter', insns: [I(0xbf, 8, 10), I(0x87, 8, 0, 0, 0), R0_0, EXIT], kernel: 'accept' },
  { name: 'byte swap of a pointer is an unknown scalar', type: 'socket_filter', insns: [I(0xbf, 8, 1), I(0xdc, 8, 0, 0, 64), I(0x61, 0, 8, 0, 0), EXIT], kernel: { error: "R8 invalid mem access 'scalar'", insn: 2 } },
  { name: 'addr_space_cast with bad address spaces in dead code', type: 'xdp', insns: [...SKIP_NEXT, I(0xbf, 7, 7, 1, 0), EXIT], kernel: 'accept' },
  { name: 'addr_space_cast with bad address spaces reached', type: 'socket_filter', insns: [I(0xbf, 1, 1, 1, 0), R0_0, EXIT], kernel: { error: 'addr_space_cast insn can only convert between address space 1 and 0', insn: 0 } },
  // A kfunc call with imm and off 0 is a placeholder refused only when reached.
  { name: 'kfunc placeholder in dead code', type: 'tracepoint', insns: [...SKIP_NEXT, I(0x85, 0, 2, 0, 0), EXIT], kernel: 'accept' },
  { name: 'kfunc placeholder reached', type: 'tracepoint', insns: [R0_0, I(0x85, 0, 2, 0, 0), EXIT], kernel: { error: 'invalid kernel function call not eliminated in verifier pass', insn: 1 } },
  // A map pointer takes the addition of a known zero, nothing else.
  { name: 'map pointer plus a known zero', type: 'socket_filter', insns: [R0_0, I(0x18, 1, 5, 0, 0), I(0), I(0x0f, 1, 0), EXIT], kernel: 'accept' },
  { name: 'map pointer minus a known zero', type: 'socket_filter', insns: [R0_0, I(0x18, 1, 5, 0, 0), I(0), I(0x1f, 1, 0), EXIT], kernel: { error: 'R1 pointer arithmetic on map_ptr prohibited', insn: 3 } },
];

function mapRefs(insns: readonly Instruction[]): { insn: number; map: number }[] {
  return insns.flatMap((insn, i) => (insn.code === 0x18 && insn.src === 5 ? [{ insn: i, map: insn.imm }] : []));
}

test('kernel precision cases: tsbpf gives the kernel\'s verdict, line and instruction', () => {
  for (const c of CASES) {
    const result = verify({ insns: c.insns, type: c.type, maps: MAPS, mapRefs: mapRefs(c.insns) });
    if (c.kernel === 'accept') {
      assert.equal(result.verdict, 'accept', `${c.name}: ${result.error?.message}`);
    } else {
      assert.equal(result.error?.message, c.kernel.error, c.name);
      assert.equal(result.error?.insn, c.kernel.insn, c.name);
    }
  }
});

test('kernel precision cases: the running kernel gives the recorded verdicts', (t) => {
  const unavailable = kernelUnavailableReason();
  if (unavailable) return t.skip(unavailable);
  using kernel = new KernelOracle();
  for (const c of CASES) {
    const verdict = kernel.verify(c.insns, c.type);
    if (c.kernel === 'accept') assert.equal(verdict.verdict, 'accept', `${c.name}: ${verdict.error}`);
    else assert.equal(verdict.error, c.kernel.error, c.name);
  }
});
