import { TsbpfError } from '../errors.js';

/**
 * Thrown inside the verifier when a program is rejected: `message` is the kernel's line, `insn` where
 * it happened, `detail` the line the kernel logs just before it when it has one. Caught by `verify`,
 * which turns it into a verdict; never escapes the module.
 */
export class Reject extends TsbpfError {
  override name = 'Reject';
  readonly line: string;
  readonly at: number;
  readonly detail: string | undefined;
  constructor(line: string, insn: number, detail?: string) {
    super('verifier/reject', line, { insn });
    this.line = line;
    this.at = insn;
    this.detail = detail;
  }
}
