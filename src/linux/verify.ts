import type { BpfObject } from '../object/types.js';
import { BpfSyscallError, BpfVerifierError } from './errors.js';
import { loadObjectIntoKernel, type KernelObject } from './kernel-object.js';
import { summarizeVerifierLog } from './verifier-log.js';

export interface KernelVerifyOptions {
  /** 1 (default): the verifier's trace; 2: every instruction's state. Statistics (4) are always on. */
  logLevel?: number;
  /** Program type for sections that name none (kernel type name: 'xdp', 'socket_filter' ...). */
  type?: string;
}

export interface KernelVerdict {
  verdict: 'accept' | 'reject';
  /** Why the kernel refused: the log's last non-statistic line, or the errno text. Undefined on accept. */
  error?: string;
  /** errno name of a refusal (EACCES from the verifier, EINVAL, EPERM ...). */
  errno?: string;
  /** The whole verifier log. */
  log: string;
  /** From the log's closing lines (absent when the verifier did not get that far). */
  processedInsns?: number;
  timeUs?: number;
}

const BPF_LOG_STATS = 4;

/**
 * Loads one program of an opened object into the running kernel (its maps created alongside, then
 * everything closed again) and reports the verifier's verdict. Failures before the verifier runs
 * (a map the kernel cannot create, no bpf()) are thrown, not reported as verdicts.
 */
export function verifyInKernel(object: BpfObject, programName: string, options: KernelVerifyOptions = {}): KernelVerdict {
  using kernel = loadObjectIntoKernel(object, { programs: [], ignorePinning: true });
  return verifyLoadedObject(kernel, programName, options);
}

/** The same against an object whose maps are already in the kernel (to verify many of its programs). */
export function verifyLoadedObject(kernel: KernelObject, programName: string, options: KernelVerifyOptions = {}): KernelVerdict {
  const logLevel = (options.logLevel ?? 1) | BPF_LOG_STATS;
  let program;
  try {
    program = kernel.loadProgram(programName, { logLevel, keep: false, ...(options.type ? { type: options.type } : {}) });
  } catch (e) {
    if (e instanceof BpfVerifierError) {
      const summary = summarizeVerifierLog(e.log);
      return {
        verdict: 'reject', error: summary.lastLine || e.message, errno: e.errnoName, log: e.log,
        ...(summary.processedInsns !== undefined ? { processedInsns: summary.processedInsns } : {}),
        ...(summary.timeUs !== undefined ? { timeUs: summary.timeUs } : {}),
      };
    }
    if (e instanceof BpfSyscallError && e.command === 'BPF_PROG_LOAD') return { verdict: 'reject', error: e.message, errno: e.errnoName, log: '' };
    throw e;
  }
  try {
    const summary = summarizeVerifierLog(program.verifierLog);
    return {
      verdict: 'accept', log: program.verifierLog,
      ...(summary.processedInsns !== undefined ? { processedInsns: summary.processedInsns } : {}),
      ...(summary.timeUs !== undefined ? { timeUs: summary.timeUs } : {}),
    };
  } finally {
    program.close();
  }
}
