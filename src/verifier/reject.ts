import { TsbpfError } from '../errors.js';

/**
 * Thrown inside the verifier when a program is rejected: `message` is the kernel's line, `insn` where
 * it happened, `detail` the line the kernel logs just before it when it has one, `after` the lines it
 * logs after it (state dumps). Caught by `verify`, which turns it into a verdict; never escapes the module.
 */
export class Reject extends TsbpfError {
  override name = 'Reject';
  readonly line: string;
  readonly at: number;
  readonly detail: string | undefined;
  readonly after: readonly string[];
  constructor(line: string, insn: number, detail?: string, after: readonly string[] = []) {
    // A verdict, never shown with a stack: capturing one costs more than checking a small program.
    const stackLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super('verifier/reject', line, { insn });
    Error.stackTraceLimit = stackLimit;
    this.line = line;
    this.at = insn;
    this.detail = detail;
    this.after = after;
  }
}

/**
 * A path that ends (exit, LD_ABS) holding references: the kernel lists each one, then names the
 * instruction (check_resource_leak's prefix).
 */
export function referenceLeak(refs: readonly { id: number; insn: number }[], at: number, prefix: string): Reject {
  const unreleased = refs.map((r) => `Unreleased reference id=${r.id} alloc_insn=${r.insn}`).join('\n');
  return new Reject(`${prefix} would lead to reference leak`, at, unreleased);
}
