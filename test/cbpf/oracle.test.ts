import { test } from 'node:test';
import assert from 'node:assert/strict';
import { corporaDir, corpus, missingCorpus } from '../support/paths.js';
import { filterCompiler } from '../../src/cbpf/filter-loader.js';
import { CaptureCache, classifyDisagreement, loadOracle, ORACLE_DISAGREEMENT_CLASSES, replayOracleRow } from '../../src/cbpf/oracle.js';

/**
 * Agreement with libpcap 1.10.3 (tcpdump -r on Debian) on a fixed sample of the oracle (every 10th
 * row: 11,547 of 115,464); `npx tsx scripts/cbpf-oracle.ts` replays all of them. Every row must
 * agree or disagree for a named reason: a libpcap 1.10.3 bug fixed in master, or a master feature
 * (tsbpf follows libpcap master). Rows per class over the whole oracle, as the script printed them:
 */
const CLASSES_FULL_RUN: Record<string, number> = {
  'master:dsa-tag-dsa': 874,
  'master:ppi-80211': 538,
  'master:vxlan': 448,
  'bug:jset-all-ones': 201,
  'master:ether-proto-names': 128,
  'master:80211-subtype-ba-bar': 64,
  'bug:byte-and-no-load': 51,
  'bug:mtp3-field-ne': 11,
  'bug:arcnet-dollar-address': 2,
  'master:ip-multicast-class-d': 2,
  'master:arcnet-rfc1051-types': 1,
  'master:null-both-byte-orders': 6,
};
const STRIDE = 10;

test('the table of disagreement classes is the classifier\'s', () => {
  assert.deepEqual(Object.keys(CLASSES_FULL_RUN).sort(), ORACLE_DISAGREEMENT_CLASSES.map((c) => c.name).sort());
});

test(`libpcap 1.10.3 oracle: every ${STRIDE}th row agrees or disagrees for a documented reason`, (t) => {
  if (!corporaDir || !corpus('pcap-filter', 'libpcap-1.10.3-oracle')) return t.skip(missingCorpus('pcap-filter/libpcap-1.10.3-oracle'));
  const oracle = loadOracle(corporaDir);
  const captures = new CaptureCache();
  const compile = filterCompiler();
  const unexplained: string[] = [];
  const byClass = new Map<string, number>();
  let replayed = 0;
  let agreed = 0;
  for (let i = 0; i < oracle.rows.length; i += STRIDE) {
    const row = oracle.rows[i]!;
    const path = oracle.capturePath(row.file);
    if (!path) continue;
    const capture = captures.get(path);
    const outcome = replayOracleRow(row, capture, compile);
    replayed++;
    if (outcome.agree) { agreed++; continue; }
    const cls = classifyDisagreement(row, outcome, capture, compile);
    if (!cls) unexplained.push(`${row.file} ${row.linkTypeName} #${row.exprIndex} '${row.expr}': ${outcome.reason}`);
    else byClass.set(cls.name, (byClass.get(cls.name) ?? 0) + 1);
  }
  const classes = [...byClass].map(([name, n]) => `${name} ${n}`).join(', ');
  t.diagnostic(`${agreed}/${replayed} rows agree; disagreements by class: ${classes}`);
  assert.ok(replayed > 11000, `only ${replayed} rows replayed`);
  assert.ok(agreed / replayed > 0.97, `agreement fell to ${agreed}/${replayed}`);
  assert.deepEqual(unexplained.slice(0, 40), []);
});
