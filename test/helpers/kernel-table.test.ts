import { execFileSync } from 'node:child_process';
import { extname } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { HELPER_PROTOS, helperAllowed, type HelperProto } from '../../src/helpers/prototypes.js';
import type { HelperIdName } from '../../src/uapi/helper-ids.js';
import { skipReason } from '../linux/support.js';
import { AUDITED_TYPES, kernelHelperProbe } from './kernel-helper-audit.js';

/**
 * The helper table against the running kernel: for every helper with a prototype and every program
 * type a plain BPF_PROG_LOAD can ask about, one load says whether the type may call it (about 4,600
 * loads, well under a second). tracing, lsm, ext, struct_ops and lirc_mode2 cannot be asked here (see
 * AUDITED_TYPES) and follow the kernel's sources.
 */

/** Helpers a kernel withholds from every type for its configuration, not by program type. */
const MACHINE_DEPENDENT: Partial<Record<HelperIdName, string>> = {
  probe_write_user: 'absent while the kernel is locked down (integrity or confidentiality)',
  override_return: 'needs CONFIG_BPF_KPROBE_OVERRIDE',
};

test('the prototype table allows each helper exactly where the kernel does', { skip: skipReason }, async (t) => {
  const kernelAllows = await kernelHelperProbe();
  const differences: string[] = [];
  const withheld = new Set<string>();
  const compare = (proto: HelperProto): void => {
    for (const type of AUDITED_TYPES) {
      const kernel = kernelAllows(type, proto.id);
      const table = helperAllowed(proto, type);
      if (kernel === table) continue;
      if (table && MACHINE_DEPENDENT[proto.name] !== undefined) withheld.add(proto.name);
      else differences.push(`${type} ${proto.name}: kernel ${kernel ? 'allows' : 'refuses'}, table ${table ? 'allows' : 'refuses'}`);
    }
  };
  for (const proto of HELPER_PROTOS) compare(proto);
  for (const name of withheld) t.diagnostic(`this kernel withholds bpf_${name} where the table allows it: ${MACHINE_DEPENDENT[name as HelperIdName]}`);
  assert.deepEqual(differences, []);
});

/** capsh, to run the child with CAP_BPF but neither CAP_PERFMON nor CAP_SYS_ADMIN. */
const capshSkip: string | undefined = skipReason ?? (() => {
  try {
    execFileSync('capsh', ['--help'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'capsh (libcap2-bin) not found';
  }
})();

test('helpers a loader without CAP_PERFMON may not call are marked privileged', { skip: capshSkip }, () => {
  const child = fileURLToPath(new URL(`./kernel-helper-audit-child${extname(fileURLToPath(import.meta.url))}`, import.meta.url));
  const command = [process.execPath, ...process.execArgv, child].map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(' ');
  const output = execFileSync('capsh', ['--drop=cap_sys_admin,cap_perfmon', '--', '-c', command], { encoding: 'utf8' });
  const allowed = new Set(JSON.parse(output) as string[]);
  const unmarked = HELPER_PROTOS.filter((p) => helperAllowed(p, 'socket_filter') && !allowed.has(p.name) && !p.privileged).map((p) => p.name);
  assert.deepEqual(unmarked, []);
});
