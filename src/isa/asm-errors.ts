import { TsbpfError, type ErrorLocation } from '../errors.js';

/** Stable codes of assembler errors (the part after `asm/`). */
export type AsmErrorKind =
  | 'syntax'
  | 'unknown-mnemonic'
  | 'bad-register'
  | 'operand-count'
  | 'bad-operand'
  | 'imm-range'
  | 'offset-range'
  | 'unknown-label'
  | 'duplicate-label';

/** Bad assembly text: carries the 1-based line and column of the offending token. */
export class AsmError extends TsbpfError {
  override name = 'AsmError';
  readonly kind: AsmErrorKind;
  constructor(kind: AsmErrorKind, message: string, location: ErrorLocation) {
    super(`asm/${kind}`, message, location);
    this.kind = kind;
  }
}

/** Where a statement sits in the source, used to point errors at a column inside it. */
export interface SourceLine {
  file?: string;
  /** 1-based line number. */
  line: number;
  /** The full original line, to find columns of tokens in it. */
  text: string;
  /** 0-based column where the statement text (after stripped prefixes) starts. */
  start: number;
}

/** Throw an AsmError located at `token` inside the statement (or at its start when not found). */
export function fail(src: SourceLine, kind: AsmErrorKind, message: string, token?: string): never {
  let column = src.start;
  if (token !== undefined && token !== '') {
    let at = src.text.indexOf(token, src.start);
    // Signed offsets are rebuilt from `r1 + 8`: fall back to the digits alone.
    if (at < 0 && /^[+-]/.test(token)) at = src.text.indexOf(token.slice(1), src.start);
    if (at >= 0) column = at;
  }
  const location: ErrorLocation = { line: src.line, column: column + 1 };
  if (src.file !== undefined) location.file = src.file;
  throw new AsmError(kind, message, location);
}
