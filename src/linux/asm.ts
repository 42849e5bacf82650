import { AluOp, AtomicOp, InsnClass, JmpOp, Mode, PseudoLdImm64, Size, Source, type Instruction } from '../isa/index.js';

/**
 * The handful of instruction constructors the backend needs for its own small programs (feature
 * probes, self-tests, examples), so it does not depend on the assembler. Sizes are Size.* codes.
 */
const insn = (code: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({ code, dst, src, off, imm });

export const asm = {
  mov64Imm: (dst: number, imm: number): Instruction => insn(InsnClass.ALU64 | AluOp.MOV | Source.K, dst, 0, 0, imm),
  mov64Reg: (dst: number, src: number): Instruction => insn(InsnClass.ALU64 | AluOp.MOV | Source.X, dst, src),
  alu64Imm: (op: number, dst: number, imm: number): Instruction => insn(InsnClass.ALU64 | op | Source.K, dst, 0, 0, imm),
  alu64Reg: (op: number, dst: number, src: number): Instruction => insn(InsnClass.ALU64 | op | Source.X, dst, src),
  /** dst = *(size *)(src + off) */
  ldx: (size: number, dst: number, src: number, off: number): Instruction => insn(InsnClass.LDX | Mode.MEM | size, dst, src, off),
  /** *(size *)(dst + off) = src */
  stx: (size: number, dst: number, off: number, src: number): Instruction => insn(InsnClass.STX | Mode.MEM | size, dst, src, off),
  /** *(size *)(dst + off) = imm */
  st: (size: number, dst: number, off: number, imm: number): Instruction => insn(InsnClass.ST | Mode.MEM | size, dst, 0, off, imm),
  /** lock *(u64 *)(dst + off) += src */
  atomicAdd64: (dst: number, off: number, src: number): Instruction => insn(InsnClass.STX | Mode.ATOMIC | Size.DW, dst, src, off, AtomicOp.ADD),
  jmpImm: (op: number, dst: number, imm: number, off: number): Instruction => insn(InsnClass.JMP | op | Source.K, dst, 0, off, imm),
  jmpReg: (op: number, dst: number, src: number, off: number): Instruction => insn(InsnClass.JMP | op | Source.X, dst, src, off),
  ja: (off: number): Instruction => insn(InsnClass.JMP | JmpOp.JA, 0, 0, off),
  call: (helper: number): Instruction => insn(InsnClass.JMP | JmpOp.CALL, 0, 0, 0, helper),
  exit: (): Instruction => insn(InsnClass.JMP | JmpOp.EXIT),
  /** dst = map (by fd): LD_IMM64 with src = BPF_PSEUDO_MAP_FD, two slots. */
  ldMapFd: (dst: number, fd: number): Instruction[] => [
    insn(InsnClass.LD | Mode.IMM | Size.DW, dst, PseudoLdImm64.MAP_FD, 0, fd),
    insn(0, 0, 0, 0, 0),
  ],
  /** dst = 64-bit immediate, two slots. */
  ldImm64: (dst: number, lo: number, hi = 0): Instruction[] => [
    insn(InsnClass.LD | Mode.IMM | Size.DW, dst, 0, 0, lo | 0),
    insn(0, 0, 0, 0, hi | 0),
  ],
} as const;

/** Helper ids used by the backend's own programs. */
export const Helper = {
  map_lookup_elem: 1, map_update_elem: 2, get_current_pid_tgid: 14, get_smp_processor_id: 8,
  ringbuf_output: 130,
} as const;

/** Return codes of XDP programs. */
export const XdpAction = { ABORTED: 0, DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 } as const;

/**
 * A counting program: `counts[slot] += 1` in an ARRAY map with u32 keys and u64 values, then return
 * `ret`. When `tgid` is given, counts only events of that process (bpf_get_current_pid_tgid >> 32).
 */
export function counterProgram(mapFd: number, ret: number, options: { slot?: number; tgid?: number } = {}): Instruction[] {
  const out: Instruction[] = [];
  if (options.tgid !== undefined) {
    out.push(
      asm.call(Helper.get_current_pid_tgid),
      asm.alu64Imm(AluOp.RSH, 0, 32),
      // Not ours: skip the 9 counting slots below and return.
      asm.jmpImm(JmpOp.JNE, 0, options.tgid, 9),
    );
  }
  out.push(
    asm.st(Size.W, 10, -4, options.slot ?? 0),
    asm.mov64Reg(2, 10),
    asm.alu64Imm(AluOp.ADD, 2, -4),
    ...asm.ldMapFd(1, mapFd),
    asm.call(Helper.map_lookup_elem),
    asm.jmpImm(JmpOp.JEQ, 0, 0, 2),
    asm.mov64Imm(1, 1),
    asm.atomicAdd64(0, 0, 1),
    asm.mov64Imm(0, ret),
    asm.exit(),
  );
  return out;
}
