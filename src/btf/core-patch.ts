/**
 * Writing a CO-RE result into the instruction at `relo.insnOff` (bytes into the section), as libbpf does:
 * ALU/ALU64 with an immediate -> imm; LDX/ST/STX -> off (and the access size when the field's size changed
 * in a way that is safe); LD_IMM64 -> the 64-bit immediate. When `validate` is set the instruction must hold
 * the locally computed value first.
 *
 * Poisoning: the instruction becomes `call 0xbad2310` (code 0x85, registers and offset 0, imm 195896080);
 * for LD_IMM64 the second slot is poisoned too. The verifier rejects it only if it is reachable
 * ("invalid func unknown#195896080"), so guarded dead code still loads.
 */
import { BtfError } from './errors.js';
import type { CoreRelocationResult } from './core.js';

export const CORE_POISON_HELPER = 0xbad2310;

const BPF_LD = 0x00;
const BPF_LDX = 0x01;
const BPF_ST = 0x02;
const BPF_STX = 0x03;
const BPF_ALU = 0x04;
const BPF_JMP = 0x05;
const BPF_ALU64 = 0x07;
const BPF_CALL = 0x80;
const BPF_K = 0x00;
const BPF_X = 0x08;
const BPF_IMM = 0x00;
const BPF_DW_SIZE = 0x18;
const LD_IMM64 = BPF_LD | BPF_IMM | BPF_DW_SIZE;

/** BPF size field (bits 3-4) to bytes and back. */
const SIZE_BYTES: Record<number, number> = { 0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8 };
const BYTES_SIZE: Record<number, number> = { 4: 0x00, 2: 0x08, 1: 0x10, 8: 0x18 };

const S16_MAX = 0x7fff;

function fail(result: CoreRelocationResult, message: string): never {
  throw new BtfError('core/bad-insn', `CO-RE relocation at insn offset ${result.relo.insnOff}: ${message}`, {
    insn: result.relo.insnOff / 8,
  });
}

function poison(view: DataView, at: number, le: boolean): void {
  view.setUint8(at, BPF_JMP | BPF_CALL);
  view.setUint8(at + 1, 0);
  view.setInt16(at + 2, 0, le);
  view.setInt32(at + 4, CORE_POISON_HELPER, le);
}

/** Registers byte: dst in the low nibble (little-endian objects) or the high nibble (big-endian). */
function srcReg(regs: number, le: boolean): number {
  return le ? regs >> 4 : regs & 0xf;
}

export interface PatchOutcome {
  /** 'patched', or 'poisoned' when the instruction became `call 0xbad2310`. */
  action: 'patched' | 'poisoned';
  /** The value the instruction held before (imm, off or 64-bit immediate). */
  previous: bigint;
}

/** Patch one relocated instruction in place in `code` (the program section's bytes). */
export function applyCoreRelocation(code: Uint8Array, result: CoreRelocationResult, littleEndian = true): PatchOutcome {
  const at = result.relo.insnOff;
  const le = littleEndian;
  if (at % 8 !== 0 || at + 8 > code.length) fail(result, `offset is outside the section (${code.length} bytes)`);
  const view = new DataView(code.buffer, code.byteOffset, code.byteLength);
  const opcode = view.getUint8(at);
  const cls = opcode & 0x07;
  const isLdImm64 = opcode === LD_IMM64;
  if (isLdImm64 && at + 16 > code.length) fail(result, 'LD_IMM64 is missing its second slot');

  const doPoison = (): PatchOutcome => {
    const previous = BigInt(view.getInt32(at + 4, le));
    if (isLdImm64) poison(view, at + 8, le);
    poison(view, at, le);
    return { action: 'poisoned', previous };
  };
  if (result.poison) return doPoison();

  const { origValue, newValue } = result;
  switch (cls) {
    case BPF_ALU:
    case BPF_ALU64: {
      if ((opcode & BPF_X) !== BPF_K) fail(result, 'ALU instruction takes a register, not an immediate');
      const imm = view.getInt32(at + 4, le);
      if (result.validate && BigInt.asUintN(64, BigInt(imm)) !== origValue) {
        fail(result, `ALU immediate is ${imm}, expected ${origValue} (-> ${newValue})`);
      }
      view.setInt32(at + 4, Number(BigInt.asIntN(32, newValue)), le);
      return { action: 'patched', previous: BigInt(imm) };
    }
    case BPF_LDX:
    case BPF_ST:
    case BPF_STX: {
      const off = view.getInt16(at + 2, le);
      if (result.validate && BigInt.asUintN(64, BigInt(off)) !== origValue) {
        fail(result, `memory offset is ${off}, expected ${origValue} (-> ${newValue})`);
      }
      if (newValue > BigInt(S16_MAX)) fail(result, `new offset ${newValue} does not fit the 16-bit offset field`);
      // A size change that would read the wrong value (signed or non-int fields) poisons, like libbpf.
      if (result.failMemSizeAdjust) return doPoison();
      view.setInt16(at + 2, Number(newValue), le);
      if (result.newSize !== result.origSize) {
        const bytes = SIZE_BYTES[opcode & 0x18]!;
        if (bytes !== result.origSize) fail(result, `access size is ${bytes} bytes, expected ${result.origSize}`);
        const size = BYTES_SIZE[result.newSize];
        if (size === undefined) fail(result, `new access size ${result.newSize} is not 1, 2, 4 or 8 bytes`);
        view.setUint8(at, (opcode & ~0x18) | size);
      }
      return { action: 'patched', previous: BigInt(off) };
    }
    case BPF_LD: {
      if (!isLdImm64 || srcReg(view.getUint8(at + 1), le) !== 0 || view.getInt16(at + 2, le) !== 0) {
        fail(result, 'LD instruction is not a plain LD_IMM64');
      }
      if (view.getUint8(at + 8) !== 0 || view.getUint8(at + 9) !== 0 || view.getInt16(at + 10, le) !== 0) {
        fail(result, 'LD_IMM64 second slot is malformed');
      }
      const lo = BigInt(view.getUint32(at + 4, le));
      const hi = BigInt(view.getUint32(at + 12, le));
      const imm = (hi << 32n) | lo;
      if (result.validate && imm !== origValue) fail(result, `LD_IMM64 value is ${imm}, expected ${origValue} (-> ${newValue})`);
      const v = BigInt.asUintN(64, newValue);
      view.setUint32(at + 4, Number(v & 0xffffffffn), le);
      view.setUint32(at + 12, Number(v >> 32n), le);
      return { action: 'patched', previous: imm };
    }
    default:
      fail(result, `cannot relocate instruction with opcode 0x${opcode.toString(16)}`);
  }
}
