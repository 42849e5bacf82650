import { TsbpfError } from '../errors.js';

/** Every attach failure that is not a raw system call error: code `linux/attach-<what>`. */
export class AttachError extends TsbpfError {
  override name = 'AttachError';
  constructor(code: string, message: string) {
    super(`linux/attach-${code}`, message);
  }
}
