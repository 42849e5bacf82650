import { TsbpfError, type ErrorLocation } from '../errors.js';

/** Codes: elf/truncated, elf/bad-magic, elf/bad-class, elf/bad-byte-order, elf/bad-version,
 *  elf/wrong-machine, elf/out-of-range, elf/bad-section, elf/bad-string, elf/bad-symbol. */
export class ElfError extends TsbpfError {
  override name = 'ElfError';
  constructor(code: string, message: string, location: ErrorLocation = {}) {
    super(code, message, location);
  }
}
