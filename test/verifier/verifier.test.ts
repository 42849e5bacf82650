import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { command } from '../../src/cli/commands/verify.js';
import type { CliIO } from '../../src/cli/command.js';
import { encode, type Instruction } from '../../src/isa/instruction.js';
import { MapType } from '../../src/uapi/index.js';
import { verify, type VerifierProgram } from '../../src/verifier/index.js';
import { ebpfSampleCases, testLoaderCases, testVerifierCases, type Case } from './corpora.js';
import { missingCorpus } from '../support/paths.js';

const I = (code: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({ code, dst, src, off, imm });
const EXIT = I(0x95);
const MOV0 = I(0xb7, 0, 0, 0, 0);
const hash8 = { name: 'h', type: MapType.hash, keySize: 8, valueSize: 8, maxEntries: 1 };

const run = (insns: Instruction[], type: string | number = 'socket_filter', extra: Partial<VerifierProgram> = {}) => verify({ insns, type, ...extra });

test('accepts the smallest program and prints the kernel summary line', () => {
  const r = run([MOV0, EXIT]);
  assert.equal(r.verdict, 'accept');
  assert.equal(r.stats.processedInsns, 2);
  assert.equal(run([MOV0, EXIT], 'socket_filter', {}).log, '');
  assert.match(verify({ insns: [MOV0, EXIT], type: 1 }, { logLevel: 2 }).log, /processed 2 insns \(limit 1000000\)/);
});

test('rejects with the kernel lines', () => {
  assert.equal(run([EXIT]).error?.message, 'R0 !read_ok');
  assert.equal(run([I(0x79, 0, 10, -520), EXIT]).error?.message, 'invalid read from stack R10 off=-520 size=8');
  assert.equal(run([MOV0, I(0x05, 0, 0, 5), EXIT]).error?.message, 'jump out of range from insn 1 to 7');
  assert.equal(run([MOV0, EXIT, MOV0, EXIT]).error?.message, 'unreachable insn 2');
  assert.equal(run([MOV0, I(0x79, 0, 0), EXIT]).error?.message, "R0 invalid mem access 'scalar'");
  assert.equal(run([I(0x61, 0, 1, 200), EXIT]).error?.message, 'invalid bpf_context access off=200 size=4');
  assert.equal(run([I(0xb7, 0, 0, 0, 7), EXIT], 'cgroup_skb').error?.message, 'At program exit the register R0 has smin=7 smax=7 should have been in [0, 1]');
  assert.equal(run([MOV0, I(0x85, 0, 0, 0, 100000), EXIT]).error?.message, 'invalid func unknown#100000');
});

/** r2 = fp-8 with a zero key; r1 = map; lookup. */
const LOOKUP = [
  I(0x7a, 10, 0, -8, 0), I(0xbf, 2, 10), I(0x07, 2, 0, 0, -8), I(0x18, 1, 1, 0, 0), I(0, 0, 0, 0, 0), I(0x85, 0, 0, 0, 1),
];

test('map values must be null-checked, then bounds-checked', () => {
  const maps = [hash8];
  const unchecked = run([...LOOKUP, I(0x79, 0, 0), EXIT], 'socket_filter', { maps });
  assert.equal(unchecked.error?.message, "R0 invalid mem access 'map_value_or_null'");
  const checked = run([...LOOKUP, I(0x15, 0, 0, 1, 0), I(0x79, 0, 0), MOV0, EXIT], 'socket_filter', { maps });
  assert.equal(checked.verdict, 'accept', checked.error?.message);
  const outOfBounds = run([...LOOKUP, I(0x15, 0, 0, 1, 0), I(0x79, 0, 0, 4), MOV0, EXIT], 'socket_filter', { maps });
  assert.equal(outOfBounds.error?.message, 'R0 min value is outside of the allowed memory range');
  assert.match(outOfBounds.log, /invalid access to map value, value_size=8 off=4 size=8\nR0 min value is outside/);
  assert.match(outOfBounds.error!.explanation, /Path: insn 6/);
});

test('packet access needs a range proven against data_end', () => {
  const prologue = [I(0x61, 2, 1, 0), I(0x61, 3, 1, 4), I(0xbf, 4, 2), I(0x07, 4, 0, 0, 14)];
  const ok = run([...prologue, I(0x2d, 4, 3, 1), I(0x71, 0, 2, 13), MOV0, EXIT], 'xdp');
  assert.equal(ok.verdict, 'accept', ok.error?.message);
  const bad = run([...prologue, I(0x2d, 4, 3, 1), I(0x71, 0, 2, 14), MOV0, EXIT], 'xdp');
  assert.equal(bad.verdict, 'reject');
  // The kernel's last line, after the detail it logs first (kept in the log and the explanation).
  assert.equal(bad.error!.message, 'R2 offset is outside of the packet');
  assert.match(bad.log, /invalid access to packet, off=14 size=1, R2\(id=0,off=0,r=14\)\nR2 offset is outside of the packet\n/);
  assert.match(bad.error!.explanation, /invalid access to packet, off=14 size=1/);
});

test('bounded loops are explored; unprivileged back-edges are not allowed', () => {
  const loop = [I(0xb7, 1, 0, 0, 0), I(0x07, 1, 0, 0, 1), I(0xa5, 1, 0, -2, 10), MOV0, EXIT];
  assert.equal(run(loop).verdict, 'accept');
  assert.equal(verify({ insns: loop, type: 'socket_filter' }, { mode: 'unpriv' }).error?.message, 'back-edge from insn 2 to 1');
  const forever = [I(0xb7, 1, 0, 0, 0), I(0x05, 0, 0, -1), MOV0, EXIT];
  assert.equal(run(forever).verdict, 'reject');
});

test('ring buffer records must be submitted', () => {
  const ringbuf = { name: 'rb', type: MapType.ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096 };
  const reserve = [I(0x18, 1, 1, 0, 0), I(0, 0, 0, 0, 0), I(0xb7, 2, 0, 0, 8), I(0xb7, 3, 0, 0, 0), I(0x85, 0, 0, 0, 131)];
  const leak = run([...reserve, I(0x15, 0, 0, 0, 0), MOV0, EXIT], 'socket_filter', { maps: [ringbuf] });
  assert.equal(leak.error?.message, 'BPF_EXIT instruction in main prog would lead to reference leak');
  assert.match(leak.log, /Unreleased reference id=1 alloc_insn=4\nBPF_EXIT instruction in main prog would lead to reference leak\n/);
  const submit = run([...reserve, I(0x15, 0, 0, 3, 0), I(0xbf, 1, 0), I(0xb7, 2, 0, 0, 0), I(0x85, 0, 0, 0, 132), MOV0, EXIT], 'socket_filter', { maps: [ringbuf] });
  assert.equal(submit.verdict, 'accept', submit.error?.message);
});

interface Tally { ran: number; agree: number; unsafe: number }
function tally(cases: Case[], every = 1, insnLimit?: number): Tally {
  const t: Tally = { ran: 0, agree: 0, unsafe: 0 };
  cases.forEach((c, i) => {
    if (i % every !== 0 || !c.program || !c.kernel) return;
    const v = verify(c.program, { strictAlignment: c.strictAlignment ?? false, sleepable: c.sleepable ?? false, ...(insnLimit ? { insnLimit } : {}) }).verdict;
    t.ran++;
    if (v === c.kernel) t.agree++;
    else if (c.kernel === 'reject') t.unsafe++;
  });
  return t;
}

/** `r7` is -8 on one side of a branch and -520 on the other; after the join it becomes a stack offset. */
function offsetAfterJoin(spill: boolean): Instruction[] {
  const pad = Array.from({ length: 8 }, () => MOV0);
  return [
    ...pad, I(0x61, 6, 1, 0), I(0x25, 6, 0, 2, 10), I(0xb7, 7, 0, 0, -8), I(0x05, 0, 0, 1), I(0xb7, 7, 0, 0, -520),
    ...(spill ? [I(0x7b, 10, 7, -16)] : []), MOV0, MOV0, ...(spill ? [I(0x79, 7, 10, -16)] : []),
    I(0xbf, 2, 10), I(0x0f, 2, 7), I(0x7a, 2, 0, 0, 0), MOV0, EXIT,
  ];
}

test('ctx may be offset by a variable; only its dereference is refused (privileged)', () => {
  // r6 = ctx + (random & 8); probe_read_kernel(fp-8, 8, r6) reads through a plain value: accepted.
  const offset = [I(0xbf, 6, 1), I(0x85, 0, 0, 0, 7), I(0x57, 0, 0, 0, 8), I(0x0f, 6, 0)];
  const read = [I(0xbf, 1, 10), I(0x07, 1, 0, 0, -8), I(0xb7, 2, 0, 0, 8), I(0xbf, 3, 6), I(0x85, 0, 0, 0, 113), MOV0, EXIT];
  assert.equal(run([...offset, ...read], 'kprobe').error?.message, undefined);
  assert.equal(run([...offset, I(0x79, 0, 6, 0), MOV0, EXIT], 'kprobe').error?.message, 'variable ctx access var_off=(0x0; 0x8) disallowed');
  assert.equal(verify({ insns: [...offset, MOV0, EXIT], type: 'socket_filter' }, { mode: 'unpriv' }).error?.message, 'R6 variable ctx access var_off disallowed');
});

test('precision: scalars that decide nothing do not split states', () => {
  // 14 diamonds each adding 1 or 2 to r7, which only ends up in R0: 2^14 paths without pruning.
  const insns: Instruction[] = [...Array.from({ length: 8 }, () => MOV0), I(0x61, 6, 1, 0), I(0xb7, 7, 0, 0, 0)];
  for (let i = 0; i < 14; i++) insns.push(I(0x25, 6, 0, 2, i), I(0x07, 7, 0, 0, 1), I(0x05, 0, 0, 1), I(0x07, 7, 0, 0, 2), MOV0);
  const r = run([...insns, I(0xbf, 0, 7), EXIT]);
  assert.equal(r.verdict, 'accept');
  assert.ok(r.stats.processedInsns < 1000, `processed ${r.stats.processedInsns}`);
});

test('precision: a scalar used as a pointer offset is precise back through the join and a spill', () => {
  // The first path reaches the join with r7 = -8 and is proven safe; the second (r7 = -520) must not
  // be pruned by it, as it would if r7 stayed imprecise.
  for (const spill of [false, true]) {
    const r = run(offsetAfterJoin(spill));
    assert.equal(r.error?.message, 'invalid write to stack R2 off=-520 size=8', `spill ${spill}`);
  }
});

test('precision: a narrow spill replaces the slot, so what the slot held before is not precise', () => {
  // fp-8 = 1 or 2 on two paths joining at 7; then *(u32 *)(fp-8) = 5 and the fill decides a branch.
  // The fill's value comes from the spill alone: the join's fp-8 stays imprecise and the second path is pruned.
  const insns = [
    I(0x85, 0, 0, 0, 7), I(0xbf, 6, 0), I(0xb7, 1, 0, 0, 1), I(0x7b, 10, 1, -8), I(0x15, 6, 0, 2, 0),
    I(0xb7, 1, 0, 0, 2), I(0x7b, 10, 1, -8),
    I(0xb4, 2, 0, 0, 5), I(0x63, 10, 2, -8), I(0x61, 3, 10, -8), I(0x55, 3, 0, 1, 5), MOV0, EXIT,
  ];
  // Level 2: level 1 keeps no trace of a program that passes.
  const r = verify({ insns, type: 'socket_filter' }, { logLevel: 2 });
  assert.equal(r.verdict, 'accept', r.error?.message);
  assert.match(r.log, /^from 4 to 7: safe$/m);
});

test('precision: a narrow spill beside known zero bytes does not hide them', () => {
  // fp-4 holds zeros on the first path and an unknown value on the second when they join after the
  // ja; a u32 spill at fp-8 keeps fp-4, whose read then offsets a stack pointer: the second path fails.
  const pad = Array.from({ length: 8 }, () => MOV0);
  const insns = [
    ...pad, I(0x85, 0, 0, 0, 7), I(0xbf, 6, 0), I(0x85, 0, 0, 0, 7), I(0x63, 10, 0, -4), ...pad,
    I(0x15, 6, 0, 1, 0), I(0x62, 10, 0, -4, 0), I(0x05, 0, 0, 0),
    I(0xb4, 1, 0, 0, 7), I(0x63, 10, 1, -8), I(0x61, 3, 10, -4),
    I(0xbf, 2, 10), I(0x07, 2, 0, 0, -16), I(0x0f, 2, 3), I(0x7a, 2, 0, 0, 0), MOV0, EXIT,
  ];
  const r = verify({ insns, type: 'socket_filter' }, { logLevel: 1 });
  assert.equal(r.verdict, 'reject');
  // Level 1 shows the failing path's state after the branch that led there.
  assert.match(r.log, /^20: \(15\) if r6 == 0x0 goto pc\+1 22: /m);
});

test('precision: cilium programs verify near the kernel\'s processed count', (t) => {
  const names = ['cilium/bpf_lxc.o:2/7/2/7', 'cilium-core/bpf_host.o:tc/tail/tail_nodeport_nat_ingress_ipv6'];
  const cases = ebpfSampleCases().filter((k) => names.includes(k.name));
  if (cases.length !== names.length) return t.skip(missingCorpus('verifier/ebpf-samples'));
  for (const c of cases) {
    const r = verify(c.program!);
    assert.equal(r.verdict, 'accept', c.name);
    assert.ok(r.stats.processedInsns < 2 * c.kernelStats!.processedInsns, `${c.name}: processed ${r.stats.processedInsns}, kernel ${c.kernelStats!.processedInsns}`);
  }
});

// Floors measured with scripts/verifier-corpus.ts; raise them as the verifier improves.
test('test_verifier corpus: agreement with Linux 6.18', (t) => {
  const cases = testVerifierCases();
  if (!cases.length) return t.skip(missingCorpus('verifier/kernel-selftests'));
  const r = tally(cases);
  assert.ok(r.agree / r.ran >= 0.988, `agreement ${r.agree}/${r.ran}`);
  assert.equal(r.unsafe, 0, `unsafe accepts ${r.unsafe}`);
});

test('test_loader corpus: agreement with Linux 6.18', (t) => {
  const cases = testLoaderCases();
  if (!cases.length) return t.skip(missingCorpus('verifier/kernel-selftests'));
  const r = tally(cases);
  assert.ok(r.agree / r.ran >= 0.985, `agreement ${r.agree}/${r.ran}`);
  assert.equal(r.unsafe, 0, `unsafe accepts ${r.unsafe}`);
});

test('ebpf-samples: a sample (every 12th program, the kernel\'s 1M budget) and invalid/', (t) => {
  const cases = ebpfSampleCases();
  if (!cases.length) return t.skip(missingCorpus('verifier/ebpf-samples'));
  const r = tally(cases.filter((c) => !c.invalid), 12);
  console.log(`ebpf-samples sample: ${r.agree}/${r.ran} agree, ${r.unsafe} unsafe`);
  assert.ok(r.agree / r.ran >= 0.95, `agreement ${r.agree}/${r.ran}`);
  assert.equal(r.unsafe, 0);
  const invalid = cases.filter((c) => c.invalid && c.program && c.kernel === 'reject');
  const rejected = invalid.filter((c) => verify(c.program!).verdict === 'reject').length;
  assert.ok(rejected >= invalid.length - 1, `invalid rejected ${rejected}/${invalid.length}`);
});

test('tsbpf verify --bundle: JSON output and exit codes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-verify-'));
  const hex = (insns: Instruction[]): string[] => [...encode(insns)].reduce<string[]>((acc, b, i) => {
    if (i % 8 === 0) acc.push('');
    acc[acc.length - 1] += b.toString(16).padStart(2, '0');
    return acc;
  }, []);
  const good = join(dir, 'good.json');
  writeFileSync(good, JSON.stringify({ prog_type: 'socket_filter', insns: hex([MOV0, EXIT]) }));
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ prog_type: 1, insns: hex([...LOOKUP, I(0x79, 0, 0), EXIT]), maps: [{ name: 'h', type: 1, key_size: 8, value_size: 8, max_entries: 1 }], map_relocs: [{ insn: 3, map: 0 }] }));
  let out = '';
  const io: CliIO = { stdout: (s) => { out += s; }, stderr: () => {}, readStdin: async () => Buffer.alloc(0), isTTY: false };
  assert.equal(await command.run(['--bundle', good, '--json'], io), 0);
  assert.equal((JSON.parse(out) as { programs: { verdict: string }[] }).programs[0]!.verdict, 'accept');
  out = '';
  assert.equal(await command.run(['--bundle', bad, '--json'], io), 1);
  const parsed = JSON.parse(out) as { programs: { verdict: string; error: { message: string } }[] };
  assert.equal(parsed.programs[0]!.error.message, "R0 invalid mem access 'map_value_or_null'");
});

test('probe_read_kernel/user are base helpers for a privileged loader, in any program type', () => {
  // probe_read_kernel(fp - 8, 8, 0) from a socket filter.
  const insns = [I(0xbf, 1, 10), I(0x07, 1, 0, 0, -8), I(0xb7, 2, 0, 0, 8), I(0xb7, 3), I(0x85, 0, 0, 0, 113), MOV0, EXIT];
  assert.equal(run(insns).error?.message, undefined);
  assert.equal(verify({ insns, type: 'socket_filter' }, { mode: 'unpriv' }).error?.message, 'program of this type cannot use helper bpf_probe_read_kernel#113');
});

test('an accepted program lists the helper calls the verifier reached, not those in dead code', () => {
  // r0 = 0; if r0 == 0 goto +1; call 9999 (no such helper); call ktime_get_ns; r0 = 0; exit
  const insns = [MOV0, I(0x15, 0, 0, 1, 0), I(0x85, 0, 0, 0, 9999), I(0x85, 0, 0, 0, 5), MOV0, EXIT];
  const result = run(insns);
  assert.equal(result.verdict, 'accept');
  assert.deepEqual(result.reachedHelperCalls, [3]);
});
