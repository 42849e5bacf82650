import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { TsbpfError } from '../errors.js';
import { AttachError } from './attach-error.js';
import type { Btf } from '../btf/index.js';
import type { Instruction } from '../isa/index.js';
import { LinkCreateAttr, RawTracepointAttr } from './attr.js';
import { AttachType, ProgType, type AttachTypeName, type ProgTypeName } from './constants.js';
import { asm } from './asm.js';
import { BpfSyscallError } from './errors.js';
import { BpfLink } from './link.js';
import { BpfProgram, type ProgramLoadOptions } from './program.js';
import { bpf } from './syscall.js';
import { vmlinuxBtf } from './vmlinux.js';

/**
 * BTF-typed tracing programs (fentry, fexit, fmod_ret, tp_btf, lsm), as libbpf attaches them from a
 * section like `fentry/do_sys_openat2`: the program is loaded against the kernel BTF type of its
 * target (attach_btf_id) and attached with BPF_LINK_CREATE (RAW_TRACEPOINT_OPEN on older kernels).
 */

export type TracingKind = 'fentry' | 'fexit' | 'fmod_ret' | 'tp_btf' | 'lsm';

interface TracingKindDef {
  progType: ProgTypeName;
  attachType: AttachTypeName;
  /** The vmlinux BTF type that names the target: a FUNC, or the tp_btf TYPEDEF `btf_trace_EVENT`. */
  btfName: (target: string) => string;
  btfKind: 'FUNC' | 'TYPEDEF';
  /** A target every kernel with this feature has, for probing. */
  probeTarget: string;
}

export const TRACING_KINDS: Readonly<Record<TracingKind, TracingKindDef>> = {
  fentry: { progType: 'TRACING', attachType: 'TRACE_FENTRY', btfName: (t) => t, btfKind: 'FUNC', probeTarget: 'bpf_fentry_test1' },
  fexit: { progType: 'TRACING', attachType: 'TRACE_FEXIT', btfName: (t) => t, btfKind: 'FUNC', probeTarget: 'bpf_fentry_test1' },
  fmod_ret: { progType: 'TRACING', attachType: 'MODIFY_RETURN', btfName: (t) => t, btfKind: 'FUNC', probeTarget: 'bpf_modify_return_test' },
  tp_btf: { progType: 'TRACING', attachType: 'TRACE_RAW_TP', btfName: (t) => `btf_trace_${t}`, btfKind: 'TYPEDEF', probeTarget: 'sys_enter' },
  lsm: { progType: 'LSM', attachType: 'LSM_MAC', btfName: (t) => `bpf_lsm_${t}`, btfKind: 'FUNC', probeTarget: 'file_open' },
};

/** Section families (`fentry.s` is sleepable fentry) -> kind. */
const KIND_OF_FAMILY: Readonly<Record<string, TracingKind>> = {
  fentry: 'fentry', 'fentry.s': 'fentry', fexit: 'fexit', 'fexit.s': 'fexit', fmod_ret: 'fmod_ret', 'fmod_ret.s': 'fmod_ret',
  tp_btf: 'tp_btf', lsm: 'lsm', 'lsm.s': 'lsm',
};

/** The tracing kind of a section family (the part of the section before `/`), or undefined. */
export function tracingKindOfFamily(family: string): TracingKind | undefined {
  return KIND_OF_FAMILY[family.toLowerCase()];
}

/** The attach_btf_id of `target` for `kind` in the kernel's BTF (vmlinux only; module BTF is not searched). */
export function tracingAttachBtfId(kind: TracingKind, target: string, btf: Btf = vmlinuxBtf()): number {
  const def = TRACING_KINDS[kind];
  const name = def.btfName(target);
  const type = btf.findByName(name, def.btfKind);
  if (!type) {
    throw new AttachError('no-btf-target', `${kind}/${target}: no ${def.btfKind} ${name} in the kernel BTF (misspelt, inlined, or in a module)`);
  }
  return type.id;
}

/**
 * What BPF_PROG_LOAD needs for a `kind/target` program. The object loader calls this for sections
 * of these families (it is the hook kernel-object.ts lacks: see `attachBtfIdForSection`).
 */
export function tracingLoadOptions(kind: TracingKind, target: string): Pick<ProgramLoadOptions, 'type' | 'expectedAttachType' | 'attachBtfId'> {
  const def = TRACING_KINDS[kind];
  return { type: def.progType, expectedAttachType: def.attachType, attachBtfId: tracingAttachBtfId(kind, target) };
}

/** attach_btf_id for a program from its section (`fentry/FUNC`, `tp_btf/EVENT`, `lsm/HOOK`), or undefined for other sections. */
export function attachBtfIdForSection(section: string): number | undefined {
  const slash = section.indexOf('/');
  if (slash < 0) return undefined;
  const kind = tracingKindOfFamily(section.slice(0, slash));
  return kind ? tracingAttachBtfId(kind, section.slice(slash + 1)) : undefined;
}

const unavailable = new Map<TracingKind, string | undefined>();

/**
 * Why `kind` programs cannot load on this kernel, or undefined when they can. Probes once per process
 * by loading `return 0` against a target every such kernel has.
 */
export function tracingUnavailableReason(kind: TracingKind): string | undefined {
  if (unavailable.has(kind)) return unavailable.get(kind);
  let reason: string | undefined;
  try {
    const program = loadTracingProgram(kind, TRACING_KINDS[kind].probeTarget, [asm.mov64Imm(0, 0), asm.exit()]);
    program.close();
  } catch (err) {
    if (!(err instanceof TsbpfError)) throw err;
    reason = err.message;
  }
  unavailable.set(kind, reason);
  return reason;
}

let kernelConfig: string | undefined;

/** `y`, `m`, a value, or undefined (option not set, or no /proc/config.gz to read). */
function kernelConfigOption(name: string): string | undefined {
  try {
    kernelConfig ??= gunzipSync(readFileSync('/proc/config.gz')).toString('utf8');
  } catch {
    return undefined;
  }
  return new RegExp(`^${name}=(.*)$`, 'm').exec(kernelConfig)?.[1];
}

/** BPF trampolines (fentry, fexit, fmod_ret, lsm) ride on ftrace direct calls. */
const TRAMPOLINE_OPTION = 'CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS';

function refusalReason(kind: TracingKind, err: BpfSyscallError): string {
  if (err.errnoName === 'EPERM') {
    const trampolines = kind === 'tp_btf' ? undefined : kernelConfigOption(TRAMPOLINE_OPTION);
    return `this kernel refuses ${kind} programs: BPF_PROG_LOAD fails with EPERM even as root and before verification `
      + `(a security policy, lockdown or an LSM, forbids them here${trampolines === 'y' ? `; the kernel itself has BPF trampolines, ${TRAMPOLINE_OPTION}=y` : ''})`;
  }
  if (err.errnoName === 'ENOTSUPP' || err.errnoName === 'EOPNOTSUPP') {
    const missing = kernelConfigOption(TRAMPOLINE_OPTION) === undefined ? `${TRAMPOLINE_OPTION} is not set` : 'no BPF trampoline for this architecture';
    return `this kernel cannot run ${kind} programs (${err.errnoName}: ${missing}${kind === 'lsm' ? ', or bpf is not in the LSM list' : ''})`;
  }
  return `${kind} programs fail to load here: ${err.message}`;
}

/** Loads `insns` as a `kind/target` program; a kernel refusal becomes `linux/attach-no-<kind>` with the reason. */
export function loadTracingProgram(kind: TracingKind, target: string, insns: readonly Instruction[] | Uint8Array,
  options: Omit<ProgramLoadOptions, 'type' | 'insns' | 'expectedAttachType' | 'attachBtfId'> = {}): BpfProgram {
  const loadOptions = tracingLoadOptions(kind, target);
  try {
    return BpfProgram.load({ ...options, ...loadOptions, insns });
  } catch (err) {
    if (err instanceof BpfSyscallError) throw new AttachError(`no-${kind.replace('_', '-')}`, refusalReason(kind, err));
    throw err;
  }
}

/**
 * Attaches a loaded `kind` program (its target was fixed at load) as a link: LINK_CREATE with the
 * program's attach type, or RAW_TRACEPOINT_OPEN with no name where LINK_CREATE does not know it (pre-5.x).
 */
export function attachTracing(program: BpfProgram, kind: TracingKind, description = `${kind} link`): BpfLink {
  const attachType = AttachType[TRACING_KINDS[kind].attachType];
  if (program.type !== ProgType[TRACING_KINDS[kind].progType]) {
    throw new AttachError('wrong-program-type', `${kind} needs a ${TRACING_KINDS[kind].progType} program, not ${program.typeName}`);
  }
  try {
    const { ret } = bpf('LINK_CREATE', LinkCreateAttr, { prog_fd: program.fd, target_fd: 0, attach_type: attachType });
    return new BpfLink(ret, description);
  } catch (err) {
    if (!(err instanceof BpfSyscallError) || err.errnoName !== 'EINVAL') throw err;
  }
  const { ret } = bpf('RAW_TRACEPOINT_OPEN', RawTracepointAttr, { name: null, prog_fd: program.fd });
  return new BpfLink(ret, description);
}
