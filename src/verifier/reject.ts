import { TsbpfError } from '../errors.js';

/**
 * Thrown inside the verifier when a program is rejected: `message` is the kernel's line, `insn` where
 * it happened. Caught by `verify`, which turns it into a verdict; never escapes the module.
 */
export class Reject extends TsbpfError {
  override name = 'Reject';
  readonly line: string;
  readonly at: number;
  constructor(line: string, insn: number, code = 'verifier/reject') {
    super(code, line, { insn });
    this.line = line;
    this.at = insn;
  }
}
