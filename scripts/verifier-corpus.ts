/**
 * Agreement of tsbpf's verifier with Linux 6.18 over the verifier corpora. Prints, per corpus: cases
 * run, agreement with the kernel's verdict, unsafe accepts (kernel rejects, tsbpf accepts), and the
 * largest mismatch classes. Usage: npx tsx scripts/verifier-corpus.ts [test_verifier|test_loader|ebpf-samples|prevail] [-v] [--sample N] [--insn-limit N]
 */
import { ebpfSampleCases, testLoaderCases, testVerifierCases, type Case } from '../test/verifier/corpora.js';
import { verify } from '../src/verifier/index.js';
import { prevailCases, verifyPrevailCase } from '../test/verifier/prevail.js';

const args = process.argv.slice(2);
const verbose = args.includes('-v');
const sampleAt = args.indexOf('--sample');
const sample = sampleAt >= 0 ? Number(args[sampleAt + 1]) : 0;
const limitAt = args.indexOf('--insn-limit');
// A lower budget than the kernel's 1M (tests may want a quick sweep).
const insnLimit = limitAt >= 0 ? Number(args[limitAt + 1]) : undefined;
const only = args.filter((a) => !a.startsWith('-') && !/^\d+$/.test(a));

const normalise = (s: string): string => s.replace(/-?\d+/g, 'N');

function run(label: string, cases: Case[], limit = insnLimit): void {
  let ran = 0, agree = 0, unsafe = 0, strict = 0, skipped = 0, noKernel = 0, invalidRejected = 0, invalidTotal = 0;
  const classes = new Map<string, string[]>();
  const started = performance.now();
  const pick = sample ? cases.filter((_, i) => i % sample === 0) : cases;
  for (const c of pick) {
    if (c.skip || !c.program) { skipped++; continue; }
    if (!c.kernel) { noKernel++; continue; }
    let verdict: 'accept' | 'reject';
    let message = '';
    try {
      const r = verify(c.program, { strictAlignment: c.strictAlignment ?? false, sleepable: c.sleepable ?? false, ...(limit ? { insnLimit: limit } : {}) });
      verdict = r.verdict;
      message = r.error?.message ?? '';
    } catch (e) {
      verdict = 'reject';
      message = `crash: ${(e as Error).message}`;
    }
    ran++;
    if (c.invalid) {
      invalidTotal++;
      if (verdict === 'reject') invalidRejected++;
    }
    if (verdict === c.kernel) {
      agree++;
      continue;
    }
    if (c.kernel === 'reject') unsafe++;
    else strict++;
    const key = c.kernel === 'reject'
      ? `tsbpf accepts; kernel: ${normalise(c.kernelError ?? '?')}`
      : `tsbpf rejects: ${normalise(message)}`;
    const list = classes.get(key) ?? [];
    list.push(`${c.name}${c.kernel === 'accept' ? '' : ''}`);
    classes.set(key, list);
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`\n== ${label}: ${ran} run, ${skipped} skipped, ${noKernel} without a kernel verdict, ${seconds.toFixed(1)} s`);
  console.log(`agreement ${agree}/${ran} = ${(100 * agree / Math.max(ran, 1)).toFixed(1)}%; tsbpf accepts what the kernel rejects: ${unsafe}; rejects what it accepts: ${strict}`);
  if (invalidTotal) console.log(`invalid/: ${invalidRejected}/${invalidTotal} rejected`);
  const sorted = [...classes.entries()].sort((a, b) => b[1].length - a[1].length);
  for (const [key, names] of sorted.slice(0, verbose ? 200 : 25)) {
    console.log(`  ${String(names.length).padStart(4)}  ${key}${verbose ? `\n          ${names.slice(0, 6).join('\n          ')}` : ''}`);
  }
}

const want = (name: string): boolean => only.length === 0 || only.includes(name);
if (want('test_verifier')) run('test_verifier (6.12 old format)', testVerifierCases());
if (want('test_loader')) run('test_loader (verifier_*.c)', testLoaderCases());
if (want('ebpf-samples')) run(`ebpf-samples (insn budget ${insnLimit ?? 1_000_000})`, ebpfSampleCases());

if (want('prevail')) {
  // PREVAIL's own expectations (not the kernel's): verdicts only (docs/prevail.md says how cases translate).
  let ran = 0, agree = 0, skipped = 0, weAccept = 0, weReject = 0;
  const classes = new Map<string, number>();
  for (const c of prevailCases()) {
    if (!c.insns) { skipped++; continue; }
    const r = verifyPrevailCase(c);
    ran++;
    if (r.verdict === c.expected) agree++;
    else {
      if (r.verdict === 'accept') weAccept++; else weReject++;
      const key = r.verdict === 'accept' ? 'tsbpf accepts, PREVAIL rejects' : `tsbpf rejects: ${normalise(r.error!.message)}`;
      classes.set(key, (classes.get(key) ?? 0) + 1);
    }
  }
  console.log(`\n== prevail-yaml: ${ran} run, ${skipped} skipped (pre not expressible, or harness fixtures)`);
  console.log(`agreement with PREVAIL's expectation ${agree}/${ran} = ${(100 * agree / Math.max(ran, 1)).toFixed(1)}%; tsbpf accepts what PREVAIL rejects: ${weAccept}; rejects what it accepts: ${weReject}`);
  for (const [k, n] of [...classes].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${String(n).padStart(4)}  ${k}`);
}
