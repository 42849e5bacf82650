/**
 * Text form of LD_IMM64 with a pseudo source (BPF_PSEUDO_*), shared by the assembler and the
 * disassembler: `map_fd[5]`, `map_value[5]+8`, `btf_id[42]`, `func[3]`, `map_idx[0]`,
 * `map_idx_value[0]+16`. The number in brackets is the first slot's imm, the addend the second's.
 */
import { fail, type SourceLine } from './asm-errors.js';
import { parseInteger } from './asm-operands.js';
import { PseudoLdImm64 } from './opcodes.js';

export const PSEUDO_IMM64_NAMES: Readonly<Record<number, string>> = {
  [PseudoLdImm64.MAP_FD]: 'map_fd',
  [PseudoLdImm64.MAP_VALUE]: 'map_value',
  [PseudoLdImm64.BTF_ID]: 'btf_id',
  [PseudoLdImm64.FUNC]: 'func',
  [PseudoLdImm64.MAP_IDX]: 'map_idx',
  [PseudoLdImm64.MAP_IDX_VALUE]: 'map_idx_value',
};

const PSEUDO_BY_NAME: ReadonlyMap<string, number> = new Map(
  Object.entries(PSEUDO_IMM64_NAMES).map(([src, name]) => [name, Number(src)]),
);

const PSEUDO_RE = /^([a-z_]+)\s*\[\s*([^\]]+?)\s*\]\s*(?:\+\s*(\S+))?$/i;

/** The pseudo form's source and 64-bit value, or undefined when `token` is not a pseudo form. */
export function parsePseudoImm64(src: SourceLine, token: string): { src: number; value: bigint } | undefined {
  const m = PSEUDO_RE.exec(token.trim());
  if (!m) return undefined;
  const pseudo = PSEUDO_BY_NAME.get(m[1]!.toLowerCase());
  if (pseudo === undefined) return fail(src, 'bad-operand', `unknown pseudo value '${m[1]}'`, m[1]);
  const part = (text: string): bigint => {
    const { value } = parseInteger(src, text);
    if (value < -(2n ** 31n) || value > 2n ** 32n - 1n) fail(src, 'imm-range', `${text} does not fit in 32 bits`, text);
    return BigInt.asUintN(32, value);
  };
  const lo = part(m[2]!);
  const hi = m[3] === undefined ? 0n : part(m[3]);
  return { src: pseudo, value: (hi << 32n) | lo };
}

/** `map_value[5]+8` for a pseudo LD_IMM64 (the halves as unsigned decimals). */
export function formatPseudoImm64(pseudo: number, lo: number, hi: number): string {
  const name = PSEUDO_IMM64_NAMES[pseudo] ?? `pseudo${pseudo}`;
  return `${name}[${lo >>> 0}]` + (hi !== 0 ? `+${hi >>> 0}` : '');
}
