import { encode, type Instruction } from '../isa/index.js';
import { TsbpfError } from '../errors.js';
import { ProgLoadAttr, TestRunAttr } from './attr.js';
import { openPinned, pinFd } from './bpffs.js';
import { AttachType, ProgType, nameOf, type AttachTypeName, type ProgTypeName } from './constants.js';
import { BpfSyscallError, BpfVerifierError } from './errors.js';
import { Errno } from './errno.js';
import { FdObject } from './fd.js';
import { encodeLayout, readBigInt, readBytes, readNumber, readString } from './layout.js';
import { ProgInfoLayout } from './info.js';
import { closeFd } from './libc.js';
import { fdFromId, objectIds, objectInfo } from './objects.js';
import { bpfRaw, bpfTry } from './syscall.js';

export interface ProgramLoadOptions {
  type: ProgTypeName | number;
  /** Instruction slots, or bytecode already encoded. Map fds go into LD_IMM64 (src=1) beforehand. */
  insns: readonly Instruction[] | Uint8Array;
  license?: string;
  /** Up to 15 characters. */
  name?: string;
  expectedAttachType?: AttachTypeName | number;
  /** BPF_F_* program flags. */
  flags?: number;
  kernVersion?: number;
  ifindex?: number;
  /** BTF type id of the attach target (tracing, LSM, struct_ops). */
  attachBtfId?: number;
  /** Program fd (ext/freplace) or BTF object fd (module targets) for `attachBtfId`. */
  attachFd?: number;
  /** BTF fd for func/line info. */
  btfFd?: number;
  /** `bpf_func_info` records (from .BTF.ext), insn offsets already in instruction slots. */
  funcInfo?: InfoRecords;
  /** `bpf_line_info` records. */
  lineInfo?: InfoRecords;
  /** `bpf_core_relo` records for the kernel to apply (rarely used: loaders relocate in userspace). */
  coreRelos?: InfoRecords;
  /** Fds referenced by index from LD_IMM64 with src=BPF_PSEUDO_MAP_IDX. */
  fdArray?: readonly number[];
  /**
   * 0 (default): no log unless loading fails, then reload at level 1 to capture it. 1, 2 (and | 4 for
   * statistics): always log; the log is kept on the program.
   */
  logLevel?: number;
  /** Initial log buffer size in bytes (grown on ENOSPC up to `maxLogSize`). */
  logSize?: number;
  maxLogSize?: number;
}

/** Fixed-size records the kernel reads as an array: `count = records.byteLength / recordSize`. */
export interface InfoRecords {
  recordSize: number;
  records: Uint8Array;
}

function recordFields(info: InfoRecords | undefined, what: string): { size: number; ptr: Uint8Array | null; count: number } {
  if (!info || info.records.byteLength === 0) return { size: 0, ptr: null, count: 0 };
  if (info.recordSize <= 0 || info.records.byteLength % info.recordSize !== 0) {
    throw new TsbpfError('linux/bad-records', `${what}: ${info.records.byteLength} bytes is not a whole number of ${info.recordSize}-byte records`);
  }
  return { size: info.recordSize, ptr: info.records, count: info.records.byteLength / info.recordSize };
}

export interface TestRunOptions {
  data?: Uint8Array;
  /** Room for the output packet; defaults to the input size + 512 (XDP and tc may grow packets). */
  dataOutSize?: number;
  ctx?: Uint8Array;
  ctxOutSize?: number;
  repeat?: number;
  /** TestRunFlag bits. */
  flags?: number;
  cpu?: number;
  batchSize?: number;
}

export interface TestRunResult {
  retval: number;
  dataOut: Uint8Array;
  ctxOut: Uint8Array;
  /** Average run time per repetition, as the kernel measured it. */
  durationNs: number;
}

export interface ProgramInfo {
  id: number;
  type: number;
  typeName: string;
  name: string;
  /** The kernel's tag (SHA-1 prefix of the instructions), 16 hex digits like bpftool prints. */
  tag: string;
  jitedSize: number;
  xlatedSize: number;
  /** Nanoseconds since boot at load. */
  loadTime: bigint;
  createdByUid: number;
  mapIds: number[];
  gplCompatible: boolean;
  btfId: number;
  verifiedInsns: number;
  runTimeNs: number;
  runCount: number;
}

const DEFAULT_LOG_SIZE = 64 * 1024;
const MAX_LOG_SIZE = 64 * 1024 * 1024;
const cString = (text: string): Uint8Array => new TextEncoder().encode(text + '\0');

export class BpfProgram extends FdObject {
  readonly type: number;
  readonly name: string;
  /** The verifier log when loading asked for one (logLevel > 0), else ''. */
  readonly verifierLog: string;
  #id: number | undefined;

  /** Takes ownership of `fd`. */
  constructor(fd: number, type: number, name: string, verifierLog = '') {
    super(fd);
    this.type = type;
    this.name = name;
    this.verifierLog = verifierLog;
  }

  static load(options: ProgramLoadOptions): BpfProgram {
    const type = typeof options.type === 'number' ? options.type : ProgType[options.type];
    if (type === undefined) throw new TsbpfError('linux/unknown-prog-type', `unknown program type ${String(options.type)}`);
    const attachType = options.expectedAttachType === undefined ? 0
      : typeof options.expectedAttachType === 'number' ? options.expectedAttachType : AttachType[options.expectedAttachType];
    const bytecode = options.insns instanceof Uint8Array ? options.insns : encode(options.insns);
    if (bytecode.byteLength === 0 || bytecode.byteLength % 8 !== 0) {
      throw new TsbpfError('linux/bad-program', `program bytecode must be a non-empty multiple of 8 bytes (got ${bytecode.byteLength})`);
    }
    const name = (options.name ?? '').slice(0, 15);
    const fdArray = options.fdArray?.length ? new Uint8Array(new Int32Array(options.fdArray).buffer) : null;
    const funcInfo = recordFields(options.funcInfo, 'func_info');
    const lineInfo = recordFields(options.lineInfo, 'line_info');
    const coreRelos = recordFields(options.coreRelos, 'core_relos');
    const base = {
      prog_type: type, insn_cnt: bytecode.byteLength / 8, insns: bytecode,
      license: cString(options.license ?? 'GPL'), kern_version: options.kernVersion ?? 0,
      prog_flags: options.flags ?? 0, prog_name: name, prog_ifindex: options.ifindex ?? 0,
      expected_attach_type: attachType, prog_btf_fd: options.btfFd ?? 0,
      attach_btf_id: options.attachBtfId ?? 0, attach_prog_fd: options.attachFd ?? 0, fd_array: fdArray,
      func_info_rec_size: funcInfo.size, func_info: funcInfo.ptr, func_info_cnt: funcInfo.count,
      line_info_rec_size: lineInfo.size, line_info: lineInfo.ptr, line_info_cnt: lineInfo.count,
      core_relo_rec_size: coreRelos.size, core_relos: coreRelos.ptr, core_relo_cnt: coreRelos.count,
    };
    const maxLog = options.maxLogSize ?? MAX_LOG_SIZE;
    let logLevel = options.logLevel ?? 0;
    let logSize = options.logSize ?? DEFAULT_LOG_SIZE;
    for (;;) {
      const logBuf = logLevel > 0 ? new Uint8Array(logSize) : null;
      const attr = encodeLayout(ProgLoadAttr, { ...base, log_level: logLevel, log_size: logBuf ? logSize : 0, log_buf: logBuf });
      const ret = bpfRaw('PROG_LOAD', attr);
      const log = logBuf ? decodeLog(logBuf) : '';
      if (ret >= 0) return new BpfProgram(ret, type, name, log);
      const errno = -ret;
      if (errno === Errno.ENOSPC && logBuf && logSize < maxLog) {
        // The log did not fit: the kernel reports the size it needed (6.4+); otherwise double.
        const needed = readNumber(attr, 'log_true_size');
        logSize = Math.min(maxLog, Math.max(needed + 1, logSize * 2));
        continue;
      }
      if (!logBuf && (errno === Errno.EACCES || errno === Errno.EINVAL || errno === Errno.E2BIG || errno === Errno.EPERM)) {
        // Reload with a log so the error says why; EPERM too, since the verifier reports some refusals that way.
        logLevel = 1;
        continue;
      }
      if (log || errno === Errno.EACCES) throw new BpfVerifierError(errno, log, name);
      throw new BpfSyscallError('BPF_PROG_LOAD', errno, `program ${name || '(unnamed)'} of type ${nameOf(ProgType, type)}`);
    }
  }

  static fromFd(fd: number): BpfProgram {
    try {
      const info = readProgramInfo(fd, false);
      const prog = new BpfProgram(fd, info.type, info.name);
      prog.#id = info.id;
      return prog;
    } catch (err) {
      closeFd(fd);
      throw err;
    }
  }

  static fromPin(path: string): BpfProgram {
    return BpfProgram.fromFd(openPinned(path));
  }

  static fromId(id: number): BpfProgram | undefined {
    const fd = fdFromId('prog', id);
    return fd === undefined ? undefined : BpfProgram.fromFd(fd);
  }

  static ids(): Generator<number> {
    return objectIds('prog');
  }

  protected describe(): string {
    return `program ${this.name || '(unnamed)'}`;
  }

  get typeName(): string {
    return nameOf(ProgType, this.type);
  }

  get id(): number {
    this.#id ??= this.info().id;
    return this.#id;
  }

  info(): ProgramInfo {
    return readProgramInfo(this.fd, true);
  }

  /** The instructions as the kernel rewrote them (what `bpftool prog dump xlated` shows). */
  xlatedBytecode(): Uint8Array {
    const size = this.info().xlatedSize;
    const out = new Uint8Array(size);
    objectInfo(this.fd, ProgInfoLayout, { xlated_prog_len: size, xlated_prog_insns: out });
    return out;
  }

  pin(path: string): void {
    pinFd(this.fd, path);
  }

  /** BPF_PROG_TEST_RUN: runs the program in the kernel over `data`/`ctx`. */
  testRun(options: TestRunOptions = {}): TestRunResult {
    const data = options.data;
    let dataOutSize = options.dataOutSize ?? (data ? data.byteLength + 512 : 0);
    let ctxOutSize = options.ctxOutSize ?? (options.ctx ? options.ctx.byteLength : 0);
    for (let attempt = 0; ; attempt++) {
      const dataOut = new Uint8Array(dataOutSize);
      const ctxOut = new Uint8Array(ctxOutSize);
      const { ret, attr } = bpfTry('PROG_TEST_RUN', TestRunAttr, {
        prog_fd: this.fd,
        data_size_in: data?.byteLength ?? 0, data_in: data && data.byteLength ? data : null,
        data_size_out: dataOutSize, data_out: dataOutSize ? dataOut : null,
        ctx_size_in: options.ctx?.byteLength ?? 0, ctx_in: options.ctx && options.ctx.byteLength ? options.ctx : null,
        ctx_size_out: ctxOutSize, ctx_out: ctxOutSize ? ctxOut : null,
        repeat: options.repeat ?? 0, flags: options.flags ?? 0, cpu: options.cpu ?? 0, batch_size: options.batchSize ?? 0,
      });
      const gotData = readNumber(attr, 'data_size_out');
      const gotCtx = readNumber(attr, 'ctx_size_out');
      if (ret === -Errno.ENOSPC && attempt < 3 && (gotData > dataOutSize || gotCtx > ctxOutSize)) {
        dataOutSize = Math.max(dataOutSize, gotData);
        ctxOutSize = Math.max(ctxOutSize, gotCtx);
        continue;
      }
      if (ret < 0) throw new BpfSyscallError('BPF_PROG_TEST_RUN', -ret, `${this.describe()} (${this.typeName})`);
      return {
        retval: readNumber(attr, 'retval'),
        dataOut: dataOut.subarray(0, Math.min(gotData, dataOutSize)),
        ctxOut: ctxOut.subarray(0, Math.min(gotCtx, ctxOutSize)),
        durationNs: readNumber(attr, 'duration'),
      };
    }
  }
}

function decodeLog(buf: Uint8Array): string {
  const end = buf.indexOf(0);
  return new TextDecoder().decode(end < 0 ? buf : buf.subarray(0, end));
}

function readProgramInfo(fd: number, withMaps: boolean): ProgramInfo {
  let info = objectInfo(fd, ProgInfoLayout);
  const mapCount = readNumber(info, 'nr_map_ids');
  let mapIds: number[] = [];
  if (withMaps && mapCount > 0) {
    const ids = new Uint8Array(mapCount * 4);
    info = objectInfo(fd, ProgInfoLayout, { nr_map_ids: mapCount, map_ids: ids });
    mapIds = Array.from(new Uint32Array(ids.buffer, 0, Math.min(mapCount, readNumber(info, 'nr_map_ids'))));
  }
  const type = readNumber(info, 'type');
  return {
    id: readNumber(info, 'id'),
    type,
    typeName: nameOf(ProgType, type),
    name: readString(info, 'name'),
    tag: Array.from(readBytes(info, 'tag'), (b) => b.toString(16).padStart(2, '0')).join(''),
    jitedSize: readNumber(info, 'jited_prog_len'),
    xlatedSize: readNumber(info, 'xlated_prog_len'),
    loadTime: readBigInt(info, 'load_time'),
    createdByUid: readNumber(info, 'created_by_uid'),
    mapIds,
    gplCompatible: (readNumber(info, 'gpl_compatible') & 1) === 1,
    btfId: readNumber(info, 'btf_id'),
    verifiedInsns: readNumber(info, 'verified_insns'),
    runTimeNs: readNumber(info, 'run_time_ns'),
    runCount: readNumber(info, 'run_cnt'),
  };
}
