import { TsbpfError } from '../errors.js';
import { BtfLoadAttr } from './attr.js';
import { BpfSyscallError } from './errors.js';
import { Errno } from './errno.js';
import { FdObject } from './fd.js';
import { encodeLayout, readNumber, type Encoded } from './layout.js';
import { fdFromId, objectIds } from './objects.js';
import { bpfRaw } from './syscall.js';

/** BPF_BTF_LOAD refused the blob: carries the kernel's BTF log. */
export class BtfLoadError extends BpfSyscallError {
  override name = 'BtfLoadError';
  readonly log: string;
  constructor(errno: number, log: string) {
    super('BPF_BTF_LOAD', errno, log.trimEnd().split('\n').slice(-2).join(' | '));
    this.log = log;
  }
}

/** A BTF blob loaded into the kernel (for maps' key/value types and programs' func/line info). */
export class BpfBtf extends FdObject {
  /** Takes ownership of `fd`. */
  constructor(fd: number) {
    super(fd);
  }

  /** Loads raw BTF (header + types + strings); on rejection reloads with a log to say why. */
  static load(blob: Uint8Array, options: { logSize?: number } = {}): BpfBtf {
    if (blob.byteLength < 24) throw new TsbpfError('linux/bad-btf', `BTF blob is ${blob.byteLength} bytes, shorter than its header`);
    let log: Uint8Array | null = null;
    for (;;) {
      const logBuf: Uint8Array | null = log;
      const attr: Encoded<typeof BtfLoadAttr> = encodeLayout(BtfLoadAttr, {
        btf: blob, btf_size: blob.byteLength,
        btf_log_buf: logBuf, btf_log_size: logBuf?.byteLength ?? 0, btf_log_level: logBuf ? 1 : 0,
      });
      const ret = bpfRaw('BTF_LOAD', attr);
      if (ret >= 0) return new BpfBtf(ret);
      if (log === null && ret !== -Errno.EPERM) {
        log = new Uint8Array(options.logSize ?? 64 * 1024);
        continue;
      }
      if (ret === -Errno.ENOSPC && log && log.byteLength < 16 << 20) {
        log = new Uint8Array(Math.max(log.byteLength * 2, readNumber(attr, 'btf_log_true_size') + 1));
        continue;
      }
      const text = log ? new TextDecoder().decode(log.subarray(0, Math.max(0, log.indexOf(0)))) : '';
      throw new BtfLoadError(-ret, text);
    }
  }

  static fromId(id: number): BpfBtf | undefined {
    const fd = fdFromId('btf', id);
    return fd === undefined ? undefined : new BpfBtf(fd);
  }

  static ids(): Generator<number> {
    return objectIds('btf');
  }

  protected describe(): string {
    return 'BTF object';
  }
}
