/**
 * Every error tsbpf throws on bad input is a TsbpfError: a stable `code` to switch on, a message that
 * says what and where, and the location fields that apply (file, section, instruction index,
 * line/column, packet index). Callers (the CLI above all) print `message` and exit 2 without a stack.
 */
export interface ErrorLocation {
  file?: string;
  section?: string;
  /** Instruction index (8-byte slot) inside a program. */
  insn?: number;
  line?: number;
  column?: number;
  /** Byte offset inside a file or buffer. */
  offset?: number;
  /** Packet index inside a capture. */
  packet?: number;
}

export class TsbpfError extends Error {
  override name = 'TsbpfError';
  readonly code: string;
  readonly location: ErrorLocation;

  constructor(code: string, message: string, location: ErrorLocation = {}, options?: { cause?: unknown }) {
    super(formatLocation(location) + message, options);
    this.code = code;
    this.location = location;
  }
}

/** `file:line:column: `, `file: section .text: insn 12: ` ... whichever parts are known. */
export function formatLocation(loc: ErrorLocation): string {
  const parts: string[] = [];
  if (loc.file !== undefined) {
    let p = loc.file;
    if (loc.line !== undefined) p += `:${loc.line}` + (loc.column !== undefined ? `:${loc.column}` : '');
    parts.push(p);
  } else if (loc.line !== undefined) {
    parts.push(`line ${loc.line}` + (loc.column !== undefined ? `, column ${loc.column}` : ''));
  }
  if (loc.section !== undefined) parts.push(`section ${loc.section}`);
  if (loc.insn !== undefined) parts.push(`insn ${loc.insn}`);
  if (loc.packet !== undefined) parts.push(`packet ${loc.packet}`);
  if (loc.offset !== undefined) parts.push(`offset ${loc.offset}`);
  return parts.length ? parts.join(': ') + ': ' : '';
}
