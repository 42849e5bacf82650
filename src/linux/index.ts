/**
 * The Linux backend: bpf() from TypeScript through koffi. Maps, programs and links own their file
 * descriptors (close() / `using`); failures throw BpfSyscallError with the command, errno and a hint.
 */
export * from './constants.js';
export { BpfSyscallError, BpfVerifierError, ClosedObjectError } from './errors.js';
export { errnoName, Errno } from './errno.js';
export { bpf, bpfTry, bpfRaw } from './syscall.js';
export * as attr from './attr.js';
export { FdObject } from './fd.js';
export { BpfMap, type MapCreateOptions, type MapInfo, type MapSpec, type BatchResult, splitPerCpu, joinPerCpu } from './map.js';
export { BpfProgram, type InfoRecords, type ProgramLoadOptions, type ProgramInfo, type TestRunOptions, type TestRunResult } from './program.js';
export {
  BpfLink, type LinkInfo, attachXdp, attachTcx, attachLink, attachRawTracepoint, attachTracepoint, attachPerfEvent,
  attachSocketFilter, SocketFilterAttachment, progAttach, progDetach,
} from './link.js';
export { ensureBpffs, ensureTracefs, pinFd, openPinned, BPFFS_ROOT } from './bpffs.js';
export { possibleCpuCount, parseCpuList, perCpuSlotSize } from './cpus.js';
export { objectIds, fdFromId, type ObjectKind } from './objects.js';
export { tracepointId, perfEventOpen, dynamicPmuType } from './perf.js';
export { asm, Helper, XdpAction, counterProgram } from './asm.js';
export { probeFeatures, probeProgramType, probeMapType, probeHelpers, probeAttachPoints, helperNames, type FeatureReport, type ProbeResult } from './probe.js';
export { RingBuffer } from './ringbuf.js';
export { BpfBtf, BtfLoadError } from './btf-object.js';
export { minimalBtf } from './btf-blob.js';
export { attachUprobe, symbolFileOffset, type UprobeOptions } from './uprobe.js';
export { PerfBuffer, type PerfBufferOptions, type SampleHandler, type LostHandler } from './perf-buffer.js';
