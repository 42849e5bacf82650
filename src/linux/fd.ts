import { ClosedObjectError } from './errors.js';
import { closeFd } from './libc.js';

/**
 * An object that owns one kernel file descriptor. `close()` (or `using`) releases it exactly once;
 * calling it again does nothing; using the object afterwards throws ClosedObjectError.
 */
export abstract class FdObject implements Disposable {
  #fd: number;
  /** What to call the object in messages ("map counts", "program xdp_drop"). */
  protected abstract describe(): string;

  constructor(fd: number) {
    this.#fd = fd;
  }

  /** The descriptor, for passing to the kernel. Throws once closed. */
  get fd(): number {
    if (this.#fd < 0) throw new ClosedObjectError(this.describe());
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    closeFd(fd);
    this.onClose();
  }

  /** Runs after the fd is closed: for owners of extra resources (a link's perf event, a ring buffer's mapping). */
  protected onClose(): void {}

  [Symbol.dispose](): void {
    this.close();
  }
}
