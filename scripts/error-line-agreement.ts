/**
 * How often tsbpf's error line is the kernel's, word for word, on the corpora where both reject
 * (issue 4). The kernel's line is the one its failing check printed (from the whole log in the 6.18
 * verdict files, state dumps after it compared separately). Lists the differences grouped by class
 * (numbers blanked), biggest first.
 *
 *   npx tsx scripts/error-line-agreement.ts [corpus ...]   SHOW=N lists N cases per class (default 1).
 */
import { CORPORA, errorLineAgreement, type ErrorLineDiff } from '../test/verifier/error-lines.js';

const classOf = (d: ErrorLineDiff): string => `kernel: ${d.kernel.error}\n    tsbpf:  ${d.tsbpf.error}`.replace(/\d+/g, 'N');
const show = Number(process.env.SHOW ?? 1);
const wanted = process.argv.slice(2);

for (const name of CORPORA.filter((c) => !wanted.length || wanted.includes(c))) {
  const a = errorLineAgreement(name);
  console.log(`${name}: both reject ${a.bothReject}, same error line ${a.sameLine}; kernel dumps after it ${a.withDump}, same dump ${a.sameDump}`);
  const classes = new Map<string, ErrorLineDiff[]>();
  for (const d of a.diffs) classes.set(classOf(d), [...(classes.get(classOf(d)) ?? []), d]);
  for (const [cls, list] of [...classes].sort((x, y) => y[1].length - x[1].length)) {
    console.log(`  ${list.length}x ${cls}`);
    for (const d of list.slice(0, show)) {
      console.log(`      ${d.name}: ${d.kernel.error} | ${d.tsbpf.error}`);
      if (d.kernel.after.length || d.tsbpf.after.length) console.log(`        kernel after: ${d.kernel.after.join(' / ')}\n        tsbpf after:  ${d.tsbpf.after.join(' / ')}`);
    }
  }
}
