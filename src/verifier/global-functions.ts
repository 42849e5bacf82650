import { BTF_FUNC_GLOBAL, type Btf } from '../btf/index.js';
import type { FunctionInfo, GlobalArg, GlobalFunction, VerifierProgram } from './verify.js';

/**
 * Which linked subprograms are global functions and what their arguments are, from BTF: the kernel
 * verifies each global function once on its own with arguments it derives from the BTF prototype
 * (a scalar for integers, the context for a pointer to a context struct, memory-or-NULL of the
 * pointee's size for other pointers).
 */

/** Context structs a global function may take a pointer to (program contexts as seen from C). */
const CONTEXT_STRUCTS = new Set([
  '__sk_buff', 'xdp_md', 'bpf_sock_addr', 'bpf_sock_ops', 'sk_msg_md', 'bpf_sock', 'bpf_sysctl', 'bpf_sockopt',
  'sk_reuseport_md', 'bpf_sk_lookup', 'bpf_perf_event_data', 'pt_regs', 'bpf_raw_tracepoint_args', 'bpf_cgroup_dev_ctx',
  'bpf_flow_keys', 'bpf_nf_ctx', 'user_pt_regs', 'bpf_user_pt_regs_t',
]);

function argOf(btf: Btf, typeId: number): GlobalArg | undefined {
  const t = btf.type(btf.skipModifiers(typeId, true));
  if (t.kind === 'INT' || t.kind === 'ENUM' || t.kind === 'ENUM64') return { kind: 'scalar' };
  if (t.kind !== 'PTR') return undefined;
  const targetId = btf.skipModifiers(t.type, false);
  const target = btf.type(targetId);
  if (target.kind === 'TYPEDEF' && CONTEXT_STRUCTS.has(target.name)) return { kind: 'ctx' };
  const pointee = btf.type(btf.skipModifiers(targetId, true));
  if ((pointee.kind === 'STRUCT' || pointee.kind === 'UNION') && CONTEXT_STRUCTS.has(pointee.name)) return { kind: 'ctx' };
  if (pointee.kind === 'INT' || pointee.kind === 'ENUM' || pointee.kind === 'STRUCT' || pointee.kind === 'UNION' || pointee.kind === 'ARRAY') {
    try {
      return { kind: 'mem_or_null', size: btf.resolveSize(pointee.id) };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Global functions among `functions` (the linked program's layout; the entry at 0 is skipped). A
 * function whose prototype has an argument of a kind not modelled here is left out (checked only
 * through its calls, as before).
 */
export function globalFunctionsFromBtf(btf: Btf, functions: readonly { name: string; start: number }[]): GlobalFunction[] {
  const out: GlobalFunction[] = [];
  for (const fn of functions) {
    if (fn.start === 0) continue;
    const func = btf.findByName(fn.name, 'FUNC');
    if (!func || func.kind !== 'FUNC' || func.linkage !== BTF_FUNC_GLOBAL) continue;
    const proto = btf.type(func.type);
    if (proto.kind !== 'FUNC_PROTO') continue;
    const args = proto.params.map((p) => argOf(btf, p.type));
    if (args.some((a) => a === undefined)) continue;
    out.push({ insn: fn.start, name: fn.name, args: args as GlobalArg[], returnsValue: proto.returnType !== 0 });
  }
  return out;
}

/**
 * The func_info a loader sends with the program (libbpf, tsbpf's Linux backend): every function's start
 * and whether its BTF prototype returns an int or enum of at most 8 bytes. Undefined when a function has
 * no FUNC type, as the program is then loaded without func_info.
 */
export function funcInfoFromBtf(btf: Btf, functions: readonly { name: string; start: number }[]): FunctionInfo[] | undefined {
  const out: FunctionInfo[] = [];
  for (const fn of functions) {
    const func = btf.findByName(fn.name, 'FUNC');
    if (!func || func.kind !== 'FUNC') return undefined;
    const proto = btf.type(func.type);
    if (proto.kind !== 'FUNC_PROTO') return undefined;
    const ret = proto.returnType === 0 ? undefined : btf.type(btf.skipModifiers(proto.returnType, true));
    const scalarReturn = ret !== undefined && (ret.kind === 'ENUM' || ret.kind === 'ENUM64' || (ret.kind === 'INT' && ret.size <= 8));
    out.push({ insn: fn.start, scalarReturn });
  }
  return out;
}

/**
 * What an object's BTF tells the verifier about one linked program, as a loader with BTF (libbpf,
 * tsbpf's runtime and Linux backend) presents it: its global functions (hidden ones are static to the
 * kernel, as libbpf makes them) and its func_info. Nothing without BTF.
 */
export function programBtfFacts(
  btf: Btf | undefined, functions: readonly { name: string; start: number; hidden?: boolean }[],
): Pick<VerifierProgram, 'globalFunctions' | 'funcInfo'> {
  if (!btf) return {};
  const funcInfo = funcInfoFromBtf(btf, functions);
  return { globalFunctions: globalFunctionsFromBtf(btf, functions.filter((f) => !f.hidden)), ...(funcInfo ? { funcInfo } : {}) };
}
