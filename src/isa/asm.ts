/**
 * The assembler: LLVM/kernel syntax and uBPF/bpf_conformance syntax, mixed freely line by line, with
 * labels, comments and pasted `llvm-objdump -d` or verifier-log listings (their index, raw-byte and
 * opcode columns are skipped). Label references are resolved once the whole text is read.
 */
import type { Instruction } from './instruction.js';
import { fail, type SourceLine } from './asm-errors.js';
import { assembleLlvm, isLlvmStatement } from './asm-llvm.js';
import { isLabelName, type PendingSlot } from './asm-operands.js';
import { assembleUbpf } from './asm-ubpf.js';

export { AsmError, type AsmErrorKind } from './asm-errors.js';

export interface AssembleOptions {
  /** File name for error locations. */
  file?: string;
}

/** `  12:\t07 01 00 00 02 00 00 00\t` (objdump) with the raw bytes optional. */
const OBJDUMP_PREFIX_RE = /^\s*\d+:\s*(?:(?:[0-9a-f]{2} ){7}[0-9a-f]{2}(?: (?:[0-9a-f]{2} ){7}[0-9a-f]{2})?(?=\s))?\s*/i;
/** `5: (bf) ` (verifier log): the opcode tells a 64-bit load from a move. */
const VERIFIER_PREFIX_RE = /^\s*\d+:\s*\(([0-9a-f]{2})\)\s*/i;
/** `0000000000000000 <func>:` (objdump function header) names a label. */
const OBJDUMP_SYMBOL_RE = /^[0-9a-f]+\s+<([^>]+)>:\s*$/i;
const IGNORED_LINE_RE = /^(Disassembly of section .*:|.*:\s+file format .*|\s*[0-9a-f]+:\s+R_BPF_\w+.*)$/i;
const EXIT_CODE = 0x95;
const LABEL_RE = /^([A-Za-z_.$][\w.$]*)\s*:(?!=)\s*/;

/** Remove `#`, `;` and `//` comments; `#` only counts at the start or after blank (so `helper#1` stays). */
function stripComment(text: string): string {
  let cut = text.length;
  const candidates = [text.search(/(^|\s)#/), text.indexOf(';'), text.indexOf('//')];
  for (const c of candidates) if (c >= 0 && c < cut) cut = c;
  return text.slice(0, cut);
}

export function assemble(text: string, options: AssembleOptions = {}): Instruction[] {
  const slots: PendingSlot[] = [];
  const labels = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  // bpf_conformance convention: `exit` names the first exit instruction unless defined as a label.
  let firstExit: number | undefined;

  const defineLabel = (src: SourceLine, name: string): void => {
    if (labels.has(name)) fail(src, 'duplicate-label', `label '${name}' is defined twice`, name);
    labels.set(name, slots.length);
  };

  lines.forEach((raw, i) => {
    const src: SourceLine = { line: i + 1, text: raw, start: 0 };
    if (options.file !== undefined) src.file = options.file;
    if (IGNORED_LINE_RE.test(raw)) return;
    const header = OBJDUMP_SYMBOL_RE.exec(raw.trim());
    if (header) {
      defineLabel(src, header[1]!);
      return;
    }
    let body = stripComment(raw);
    let ldImm64Hint = false;
    const verifier = VERIFIER_PREFIX_RE.exec(body);
    if (verifier) {
      ldImm64Hint = verifier[1]!.toLowerCase() === '18';
      body = body.slice(verifier[0].length);
    } else {
      const objdump = OBJDUMP_PREFIX_RE.exec(body);
      if (objdump) body = body.slice(objdump[0].length);
    }
    src.start = raw.length - body.length + (body.length - body.trimStart().length);
    body = body.trim();
    // objdump appends the target symbol to branches: `goto +3 <func+0x40>`.
    body = body.replace(/(\S)\s*<[^<>]*>$/, '$1');
    for (;;) {
      const label = LABEL_RE.exec(body);
      if (!label || !isLabelName(label[1]!)) break;
      defineLabel(src, label[1]!);
      body = body.slice(label[0].length);
      src.start = raw.indexOf(body, src.start);
    }
    if (body === '' || body.startsWith('.')) return;
    const produced = isLlvmStatement(body) ? assembleLlvm(src, body, ldImm64Hint) : assembleUbpf(src, body);
    if (produced === undefined) {
      const mnemonic = body.split(/\s/)[0]!;
      fail(src, 'unknown-mnemonic', `unknown instruction '${mnemonic}'`, mnemonic);
    }
    if (firstExit === undefined && produced[0]!.insn.code === EXIT_CODE) firstExit = slots.length;
    slots.push(...produced);
  });

  return slots.map((slot, index) => {
    const { fixup } = slot;
    if (fixup === undefined) return slot.insn;
    const target = labels.get(fixup.label) ?? (fixup.label === 'exit' ? firstExit : undefined);
    if (target === undefined) return fail(slot.src, 'unknown-label', `unknown label '${fixup.label}'`, fixup.label);
    const delta = target - (index + 1);
    if (fixup.field === 'off' && (delta < -32768 || delta > 32767)) {
      fail(slot.src, 'offset-range', `label '${fixup.label}' is ${delta} instructions away: too far for a 16-bit offset`, fixup.label);
    }
    return { ...slot.insn, [fixup.field]: delta };
  });
}
