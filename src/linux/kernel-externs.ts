import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';
import type { Btf } from '../btf/index.js';
import { TsbpfError } from '../errors.js';
import type { Instruction } from '../isa/instruction.js';
import { PseudoCall, PseudoLdImm64 } from '../isa/opcodes.js';
import { kernelVersionCode, parseKernelConfig, type KernelDescription } from '../object/kconfig.js';
import type { BpfObject, ObjectProgram } from '../object/types.js';
import { vmlinuxBtf } from './vmlinux.js';

/**
 * Externs against the running kernel, as libbpf resolves them: `.kconfig` from uname and the
 * kernel config (/proc/config.gz, else /boot/config-RELEASE); typed `__ksym` variables and kfuncs
 * by their vmlinux BTF id; typeless `__ksym` variables by their /proc/kallsyms address. Weak
 * externs the kernel lacks read as 0, and calls to a missing weak kfunc are poisoned as libbpf does.
 */

let hostDescription: KernelDescription | undefined;

/** This machine's kernel as `.kconfig` externs see it (read once per process). */
export function hostKernel(): KernelDescription {
  if (hostDescription) return hostDescription;
  const version = kernelVersionCode(release());
  hostDescription = {
    version,
    config: parseKernelConfig(readKernelConfig()),
    // bpf_get_attach_cookie came in 5.15.
    hasBpfCookie: version >= kernelVersionCode('5.15.0'),
    hasSyscallWrapper: [...kallsyms().keys()].some((name) => /^__[a-z0-9]+_sys_bpf$/.test(name)),
  };
  return hostDescription;
}

function readKernelConfig(): string {
  if (existsSync('/proc/config.gz')) return gunzipSync(readFileSync('/proc/config.gz')).toString('latin1');
  const boot = `/boot/config-${release()}`;
  return existsSync(boot) ? readFileSync(boot, 'latin1') : '';
}

let symbols: Map<string, bigint> | undefined;

/** /proc/kallsyms by name (the first address of each; all zero when kptr_restrict hides them). */
function kallsyms(): Map<string, bigint> {
  if (symbols) return symbols;
  symbols = new Map();
  let text = '';
  try {
    text = readFileSync('/proc/kallsyms', 'latin1');
  } catch {
    return symbols;
  }
  for (const line of text.split('\n')) {
    const [address, , name] = line.split(/\s+/);
    if (address && name && !symbols.has(name)) symbols.set(name, BigInt(`0x${address}`));
  }
  return symbols;
}

/** libbpf's poisoned call to a weak kfunc the kernel lacks: the verifier refuses it only if reachable. */
const POISONED_KFUNC_BASE = 2002000000;

/** Binds a program's `__ksym` and kfunc references in `insns` (a copy of its linked code). */
export function bindKernelExterns(object: BpfObject, program: ObjectProgram, insns: Instruction[], vmlinux: () => Btf = vmlinuxBtf): void {
  const externs = object.externs ?? [];
  for (const ref of program.externRefs ?? []) {
    const index = externs.findIndex((e) => e.name === ref.extern);
    const ext = externs[index];
    const fail = (why: string): never => {
      throw new TsbpfError('linux/unresolved-extern', `program ${program.name}: extern ${ref.extern}: ${why}`, { insn: ref.insn });
    };
    if (!ext || ext.kind === 'kconfig') return fail('the object does not declare it as __ksym');
    const insn = insns[ref.insn]!;
    const second = insns[ref.insn + 1];
    if (ext.kind === 'ksym' && !ext.typed) {
      const address = kallsyms().get(ext.name);
      if (address === undefined && !ext.weak) fail('not found in /proc/kallsyms');
      const value = address ?? 0n;
      insn.src = 0;
      insn.imm = Number(BigInt.asIntN(32, value));
      second!.imm = Number(BigInt.asIntN(32, value >> 32n));
      continue;
    }
    const id = vmlinux().idsByName(ext.name).find((i) => vmlinux().type(i).kind === (ext.kind === 'kfunc' ? 'FUNC' : 'VAR'));
    if (id === undefined) {
      if (!ext.weak) fail(`not found in the kernel's BTF (${ext.kind === 'kfunc' ? 'FUNC' : 'VAR'})`);
      if (ref.kind === 'call') {
        insn.src = 0;
        insn.imm = POISONED_KFUNC_BASE + index;
      } else {
        insn.src = 0;
        insn.imm = 0;
        second!.imm = 0;
      }
      continue;
    }
    // The kernel locates a typed variable through kallsyms, which holds data symbols only with
    // CONFIG_KALLSYMS_ALL: without it the load fails with a bare ENOENT, so say why here.
    if (ext.kind === 'ksym' && !kallsyms().has(ext.name)) {
      if (!ext.weak) fail('the kernel has its type (BTF) but not its address: it is not in /proc/kallsyms (CONFIG_KALLSYMS_ALL off?)');
      insn.src = 0;
      insn.imm = 0;
      second!.imm = 0;
      continue;
    }
    if (ref.kind === 'call') {
      insn.src = PseudoCall.KFUNC;
      insn.imm = id;
      insn.off = 0; // vmlinux, not a module's BTF
    } else {
      insn.src = PseudoLdImm64.BTF_ID;
      insn.imm = id;
      second!.imm = 0;
    }
  }
}
