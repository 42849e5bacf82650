import type { Instruction } from '../isa/instruction.js';
import { kernelVersionCode, type KernelDescription } from '../object/kconfig.js';
import type { BpfObject, ObjectProgram } from '../object/types.js';
import { TsbpfError } from '../errors.js';

/**
 * Externs in the userspace runtime. `.kconfig` values come from a kernel description (defaults
 * below, each overridable); there are no kernel symbols, so `__ksym` variables and kfuncs resolve
 * only when weak (to 0, as libbpf does when the kernel lacks them).
 */

/**
 * The kernel the runtime describes unless told otherwise: Linux 6.18.0 with BPF cookies, syscall
 * wrappers, and a config holding only what BPF programs commonly test (BPF, its syscall, JIT and
 * events, BTF, HZ=250, the rate the runtime's jiffies run at).
 */
export const DEFAULT_KERNEL: KernelDescription = {
  version: kernelVersionCode('6.18.0'),
  config: {
    CONFIG_BPF: 'y',
    CONFIG_BPF_SYSCALL: 'y',
    CONFIG_BPF_JIT: 'y',
    CONFIG_BPF_EVENTS: 'y',
    CONFIG_DEBUG_INFO_BTF: 'y',
    CONFIG_HZ: '250',
  },
  hasBpfCookie: true,
  hasSyscallWrapper: true,
};

/** A description over the defaults; a `config` given replaces the default config whole. */
export function describeKernel(overrides: Partial<KernelDescription> = {}): KernelDescription {
  return { ...DEFAULT_KERNEL, ...overrides };
}

/** libbpf's call to a weak kfunc the kernel lacks: helper id 2002000000 + extern index, which only dead code may hold. */
export const POISONED_KFUNC_BASE = 2002000000;

export class ExternError extends TsbpfError {
  override name = 'ExternError';
  constructor(program: string, message: string, insn: number) {
    super('load/extern', `program ${program}: ${message}`, { insn });
  }
}

/** Binds a program's `__ksym` and kfunc references in `insns` (a copy of its linked code). */
export function bindRuntimeExterns(object: BpfObject, program: ObjectProgram, insns: Instruction[]): void {
  const externs = object.externs ?? [];
  for (const ref of program.externRefs ?? []) {
    const index = externs.findIndex((e) => e.name === ref.extern);
    const ext = externs[index];
    if (!ext || ext.kind === 'kconfig') throw new ExternError(program.name, `references extern ${ref.extern}, which the object does not declare`, ref.insn);
    const insn = insns[ref.insn]!;
    if (!ext.weak) {
      throw new ExternError(program.name, ext.kind === 'kfunc'
        ? `uses kfunc ${ext.name}, which the userspace runtime does not implement`
        : `needs kernel symbol ${ext.name} (${ext.typed ? 'typed' : 'typeless'} __ksym), which does not exist in the userspace runtime`, ref.insn);
    }
    if (ref.kind === 'call') {
      insn.src = 0;
      insn.imm = POISONED_KFUNC_BASE + index;
      continue;
    }
    insn.src = 0;
    insn.imm = 0;
    insns[ref.insn + 1]!.imm = 0;
  }
}
