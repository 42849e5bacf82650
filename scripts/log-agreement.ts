/**
 * How closely tsbpf's verifier log is the running kernel's, line for line (issue 4). A sample of the
 * verifier corpora (test_verifier and test_loader raw, maps by fd_array index; ebpf-samples through
 * their objects) is loaded in the kernel at log level 1 and 2 and verified by tsbpf at the same level.
 * What must differ is normalised (map addresses vs `map[id:N]`, the statistics lines the kernel adds).
 * Prints the share of programs whose logs are identical, of lines identical (by position: over all
 * lines, and per program on average, as one huge log weighs on the first), and the
 * commonest kinds of first difference with one example each. Needs root and bpf().
 *
 *   npx tsx scripts/log-agreement.ts [test_verifier|test_loader|ebpf-samples ...] [--sample N] [--level 1|2] [--show N]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Instruction } from '../src/isa/instruction.js';
import { BpfMap, BpfProgram, BpfSyscallError, BpfVerifierError } from '../src/linux/index.js';
import { verifyInKernel } from '../src/linux/verify.js';
import type { MapSpec } from '../src/maps/spec.js';
import { openObject } from '../src/object/index.js';
import { AttachType, ProgType } from '../src/uapi/index.js';
import { verify } from '../src/verifier/index.js';
import { ebpfSampleCases, testLoaderCases, testVerifierCases, type Case } from '../test/verifier/corpora.js';
import { kernelUnavailableReason } from '../test/verifier/fuzz/kernel.js';
import { prepareAsOracle } from '../test/support/ebpf-samples.js';
import { corpus } from '../test/support/paths.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const stride = option('--sample', 3);
const levels = args.includes('--level') ? [option('--level', 1) as 1 | 2] : [1, 2] as const;
const show = option('--show', 12);
const wanted = args.filter((a, i) => !a.startsWith('-') && !args[i - 1]?.startsWith('--'));
/** Programs longer than this are left out: their level-2 logs run to megabytes. */
const MAX_INSNS = 400;

const BPF_F_STRICT_ALIGNMENT = 1, BPF_F_SLEEPABLE = 16;

/** Kernel maps for each corpus map spec, created once (specs the kernel cannot build without BTF are undefined). */
const kernelMaps = new Map<MapSpec, BpfMap | undefined>();
function kernelMap(spec: MapSpec): BpfMap | undefined {
  if (kernelMaps.has(spec)) return kernelMaps.get(spec);
  let made: BpfMap | undefined;
  try {
    if (spec.valueFields?.length) throw new Error('needs BTF');
    const inner = spec.innerMap ? kernelMap(spec.innerMap) : undefined;
    if (spec.innerMap && !inner) throw new Error('inner map');
    made = BpfMap.create({
      type: spec.type, keySize: spec.keySize, valueSize: spec.valueSize, maxEntries: spec.maxEntries || 1,
      flags: spec.flags ?? 0, name: spec.name.slice(0, 15).replace(/[^A-Za-z0-9_.]/g, '_'), ...(inner ? { innerMap: inner } : {}),
    });
  } catch {
    made = undefined;
  }
  kernelMaps.set(spec, made);
  return made;
}

/** LD_IMM64 map references by index (tsbpf's src 1/2) as the kernel's fd_array forms (src 5/6). */
const byIndex = (insns: readonly Instruction[]): Instruction[] =>
  insns.map((insn) => (insn.code === 0x18 && (insn.src === 1 || insn.src === 2) ? { ...insn, src: insn.src === 1 ? 5 : 6 } : insn));

/** The kernel's log for a raw corpus program, or why it has none. */
function kernelLogRaw(c: Case, level: 1 | 2): string | { skip: string } {
  const program = c.program!;
  const fds: number[] = [];
  for (const spec of program.maps ?? []) {
    const m = kernelMap(spec);
    if (!m) return { skip: `map ${spec.name} not creatable without BTF` };
    fds.push(m.fd);
  }
  const attach = typeof program.attachType === 'string' && program.attachType in AttachType ? AttachType[program.attachType as keyof typeof AttachType] : undefined;
  try {
    const prog = BpfProgram.load({
      type: program.type as number, insns: byIndex(program.insns), fdArray: fds, name: 'logcmp', logLevel: level,
      flags: (c.strictAlignment ? BPF_F_STRICT_ALIGNMENT : 0) | (c.sleepable ? BPF_F_SLEEPABLE : 0),
      ...(attach !== undefined ? { expectedAttachType: attach } : {}),
    });
    const log = prog.verifierLog;
    prog.close();
    return log;
  } catch (e) {
    if (e instanceof BpfVerifierError) return e.log;
    if (e instanceof BpfSyscallError) return { skip: `kernel load failed before the verifier (${e.errnoName})` };
    throw e;
  }
}

function kernelLogSample(c: Case, level: 1 | 2): string | { skip: string } {
  const [objPath] = c.name.split(':');
  const dir = corpus('verifier', 'ebpf-samples')!;
  const object = prepareAsOracle(objPath!, openObject(readFileSync(join(dir, objPath!)), { fileName: objPath! }));
  // As the corpus loader finds it: by section and name, else by either.
  const rest = c.name.slice(objPath!.length + 1);
  const section = rest.slice(0, rest.lastIndexOf('/')), fn = rest.slice(rest.lastIndexOf('/') + 1);
  const prog = object.programs.find((p) => p.section === section && p.name === fn)
    ?? object.programs.find((p) => p.name === fn) ?? object.programs.find((p) => p.section === section);
  if (!prog) return { skip: 'program not found' };
  const type = Object.entries(ProgType).find(([, n]) => n === c.program!.type)?.[0];
  try {
    return verifyInKernel(object, prog.name, { logLevel: level, ...(type ? { type } : {}) }).log;
  } catch (e) {
    return { skip: `kernel load failed: ${(e as Error).message.slice(0, 60)}` };
  }
}

/** What must differ: map addresses, and the lines only the kernel's statistics flag adds. */
function normalise(log: string): string[] {
  return log.split('\n')
    .filter((l) => l !== '' && !/^(verification time \d+ usec|stack depth [\d+]+)$/.test(l))
    .map((l) => {
      const mapped = l.replace(/= 0xffff[0-9a-f]{12}\b/, '= MAP').replace(/= map\[id:\d+\](\[0\]\+\d+)?/, '= MAP');
      return mapped === l ? l : mapped.replace(/ +;/, ' ;');
    });
}

/** The first token where two lines part, digits blanked: the kind of difference. */
function kindOf(k: string | undefined, t: string | undefined): string {
  if (k === undefined) return `tsbpf has extra lines: ${t!.replace(/\d+/g, 'N').slice(0, 60)}`;
  if (t === undefined) return `kernel has extra lines: ${k.replace(/\d+/g, 'N').slice(0, 60)}`;
  const kt = k.split(/(?<=[ ;])/), tt = t.split(/(?<=[ ;])/);
  let i = 0;
  while (i < kt.length && kt[i] === tt[i]) i++;
  const blank = (s: string | undefined): string => (s ?? '(end)').replace(/\d+/g, 'N').slice(0, 50);
  return `kernel «${blank(kt[i])}» tsbpf «${blank(tt[i])}»`;
}

interface Tally { programs: number; identical: number; lines: number; sameLines: number; shareSum: number; skipped: number; kinds: Map<string, { n: number; example: string }> }

function compare(c: Case, level: 1 | 2, tally: Tally): void {
  const kernel = c.corpus === 'ebpf-samples' ? kernelLogSample(c, level) : kernelLogRaw(c, level);
  if (typeof kernel !== 'string') { tally.skipped++; return; }
  const ours = verify(c.program!, { logLevel: level, strictAlignment: c.strictAlignment ?? false, sleepable: c.sleepable ?? false }).log;
  const k = normalise(kernel), t = normalise(ours);
  tally.programs++;
  const n = Math.max(k.length, t.length);
  let same = 0, first = -1;
  for (let i = 0; i < n; i++) {
    if (k[i] === t[i]) same++;
    else if (first < 0) first = i;
  }
  tally.lines += n;
  tally.sameLines += same;
  tally.shareSum += same / Math.max(n, 1);
  if (first < 0) { tally.identical++; return; }
  const kind = kindOf(k[first], t[first]);
  const entry = tally.kinds.get(kind) ?? { n: 0, example: `${c.name} line ${first + 1}\n        kernel: ${k[first] ?? '(end)'}\n        tsbpf:  ${t[first] ?? '(end)'}` };
  entry.n++;
  tally.kinds.set(kind, entry);
}

const unavailable = kernelUnavailableReason();
if (unavailable) {
  console.log(`log-agreement: the kernel cannot be asked here: ${unavailable}`);
  process.exit(0);
}

const sources: [string, () => Case[]][] = [['test_verifier', testVerifierCases], ['test_loader', testLoaderCases], ['ebpf-samples', ebpfSampleCases]];
for (const [name, load] of sources) {
  if (wanted.length && !wanted.includes(name)) continue;
  const cases = load().filter((c) => c.program && !c.skip && c.kernel && c.program.insns.length <= MAX_INSNS).filter((_, i) => i % stride === 0);
  for (const level of levels) {
    const tally: Tally = { programs: 0, identical: 0, lines: 0, sameLines: 0, shareSum: 0, skipped: 0, kinds: new Map() };
    for (const c of cases) compare(c, level, tally);
    const pct = (a: number, b: number): string => `${(100 * a / Math.max(b, 1)).toFixed(1)}%`;
    console.log(`\n== ${name} level ${level}: ${tally.programs} programs (1 in ${stride} of those up to ${MAX_INSNS} insns; ${tally.skipped} the kernel could not load)`);
    console.log(`identical logs ${tally.identical}/${tally.programs} = ${pct(tally.identical, tally.programs)}; identical lines ${tally.sameLines}/${tally.lines} = ${pct(tally.sameLines, tally.lines)}, per program ${pct(tally.shareSum, tally.programs)} on average`);
    for (const [kind, { n, example }] of [...tally.kinds].sort((a, b) => b[1].n - a[1].n).slice(0, show)) {
      console.log(`  ${String(n).padStart(4)}  ${kind}\n      ${example}`);
    }
  }
}
for (const m of kernelMaps.values()) m?.close();
