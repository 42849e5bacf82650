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
export { RingBuffer, ReadableWaiter } from './ringbuf.js';
export { GlobalsView, objectGlobals, type GlobalValue, type GlobalVariable } from './globals.js';
export { MappedArray, mmapableArraysSupported } from './mmap-map.js';
export { BpfBtf, BtfLoadError } from './btf-object.js';
export { minimalBtf } from './btf-blob.js';
export { attachUprobe, symbolFileOffset, type UprobeOptions } from './uprobe.js';
export {
  attachUsdt, readUsdtProbes, parseUsdtArguments, encodeUsdtSpec, raiseUsdtSemaphore, UsdtAttachment, USDT_SPECS_MAP,
  type UsdtProbe, type UsdtArgument, type UsdtLocation, type UsdtAttachOptions,
} from './usdt.js';
export { NetlinkSocket, NetlinkError } from './netlink.js';
export { attachXdpNetlink, queryXdp, XdpAttachment, type XdpQuery, type XdpAttachedMode } from './xdp-netlink.js';
export { attachTcNetlink, listTcFilters, TcAttachment, type TcDirection, type TcFilterInfo, type TcFilterOptions } from './tc-netlink.js';
export { PerfBuffer, type PerfBufferOptions, type PerfSample, type SampleHandler, type LostHandler } from './perf-buffer.js';
export { AttachError } from './attach-error.js';
export {
  attachTracing, loadTracingProgram, tracingAttachBtfId, tracingLoadOptions, attachBtfIdForSection, tracingUnavailableReason,
  TRACING_KINDS, type TracingKind,
} from './attach-tracing.js';
export {
  attachPerfEventProgram, openSamplingEvent, onlineCpus, PerfEventLinks, SoftwareEvent, HardwareEvent,
  type PerfEventAttachOptions, type PerfEventName,
} from './perf-event.js';
export { attachCgroup, attachCgroupLegacy, CgroupAttachment, CgroupAttachFlag, cgroup2Root, cgroupAttachType, openCgroup } from './attach-cgroup.js';
export { attachSockmap, SockmapAttachment, SockmapHook, sockmapAttachType, type SockmapHookName } from './attach-sockmap.js';
