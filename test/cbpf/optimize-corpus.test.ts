/**
 * The optimiser against libpcap's own filter tests (libpcap-testrun, master @ f26ae497).
 *
 * Each accept test gives libpcap's unoptimised and optimised code. The unoptimised listing is lifted
 * back to libpcap's CFG, optimised here, laid out like libpcap, and compared instruction for
 * instruction with libpcap's optimised listing. Independently of the compiler, this measures the
 * optimiser alone. Every optimised program must also accept exactly the packets its unoptimised
 * program accepts, over all captures of the corpus.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Cfg } from '../../src/cbpf/filter/cfg.js';
import { optimize } from '../../src/cbpf/filter/optimize.js';
import { liftToCfg } from '../../src/cbpf/filter/optimize-lift.js';
import { linearizeLikeLibpcap } from '../../src/cbpf/filter/optimize-linearize.js';
import { runCbpf } from '../../src/cbpf/interpret.js';
import type { CbpfInstruction } from '../../src/cbpf/opcodes.js';
import { corpus, missingCorpus } from '../support/paths.js';
import { libpcapSkipsOptimizer, parseListing, readCapture, sameProgram } from './optimize-support.js';

/** Share of libpcap-optimised tests whose output matches libpcap's byte for byte (measured: all 756). */
const MATCH_FLOOR = 1;

interface AcceptBlock {
  name: string;
  DLT: string;
  aliases: string[];
  opt?: string;
  unopt?: string;
  optunopt?: string;
}

interface Case {
  name: string;
  expr: string;
  dlt: string;
  unopt: CbpfInstruction[];
  expected: CbpfInstruction[];
  /** libpcap turned its optimiser off for this filter (the compiler must set `noOptimize`). */
  libpcapSkipsOptimizer: boolean;
}

const dir = corpus('pcap-filter', 'libpcap-testrun');

function loadCases(path: string): Case[] {
  const blocks = JSON.parse(readFileSync(join(path, 'libpcap_filter_accept_blocks.json'), 'utf8')) as AcceptBlock[];
  const cases: Case[] = [];
  for (const b of blocks) {
    const unoptText = b.unopt ?? b.optunopt;
    const optText = b.opt ?? b.optunopt;
    // `bpf_image` lists every opcode once, in a program that is not a filter.
    if (!unoptText || !optText || b.name === 'bpf_image') continue;
    const unopt = parseListing(unoptText);
    cases.push({
      name: b.name, expr: b.aliases[0] ?? '', dlt: b.DLT, unopt, expected: parseListing(optText),
      libpcapSkipsOptimizer: !!b.optunopt && libpcapSkipsOptimizer(b.DLT, b.aliases[0] ?? '', unopt),
    });
  }
  return cases;
}

const optimizeProgram = (prog: CbpfInstruction[]): CbpfInstruction[] => linearizeLikeLibpcap(optimize(liftToCfg(prog)));
const cases = dir ? loadCases(dir) : [];
const optimisedByLibpcap = cases.filter((c) => !c.libpcapSkipsOptimizer);

test('optimised code equals libpcap optimised code byte for byte', (t) => {
  if (!dir) return t.skip(missingCorpus('pcap-filter/libpcap-testrun'));
  const misses: string[] = [];
  for (const c of optimisedByLibpcap) {
    if (!sameProgram(optimizeProgram(c.unopt), c.expected)) misses.push(`${c.name} (${c.expr})`);
  }
  const matched = optimisedByLibpcap.length - misses.length;
  t.diagnostic(`byte-identical: ${matched}/${optimisedByLibpcap.length}` +
    ` (${((100 * matched) / optimisedByLibpcap.length).toFixed(1)}%); differ: ${misses.join(', ')}`);
  assert.ok(optimisedByLibpcap.length > 700, `only ${optimisedByLibpcap.length} cases loaded`);
  assert.ok(matched / optimisedByLibpcap.length >= MATCH_FLOOR, `match rate fell below ${MATCH_FLOOR}: ${misses.join(', ')}`);
});

test('optimised instruction count is at most libpcap\'s', (t) => {
  if (!dir) return t.skip(missingCorpus('pcap-filter/libpcap-testrun'));
  let ours = 0;
  let theirs = 0;
  let unoptimised = 0;
  for (const c of optimisedByLibpcap) {
    ours += optimizeProgram(c.unopt).length;
    theirs += c.expected.length;
    unoptimised += c.unopt.length;
  }
  t.diagnostic(`instructions over ${optimisedByLibpcap.length} tests: ours ${ours}, libpcap optimised ${theirs}, unoptimised ${unoptimised}`);
  assert.ok(ours <= theirs, `ours ${ours} > libpcap ${theirs}`);
});

test('filters libpcap leaves unoptimised stay as they are when noOptimize is set', (t) => {
  if (!dir) return t.skip(missingCorpus('pcap-filter/libpcap-testrun'));
  const skipped = cases.filter((c) => c.libpcapSkipsOptimizer);
  t.diagnostic(`${skipped.length} tests where libpcap skips its optimiser`);
  for (const c of skipped) {
    const cfg: Cfg = { ...liftToCfg(c.unopt), noOptimize: true };
    assert.ok(sameProgram(linearizeLikeLibpcap(optimize(cfg)), c.expected), c.name);
  }
});

test('optimised and unoptimised programs accept the same packets', (t) => {
  const pcaps = dir ? join(dir, 'pcaps') : undefined;
  if (!dir || !pcaps) return t.skip(missingCorpus('pcap-filter/libpcap-testrun'));
  const packets = readdirSync(pcaps).sort().flatMap((f) => readCapture(join(pcaps, f)));
  // Also with a VLAN tag in the Linux ancillary data, so `vlan` tests take both paths.
  const vlan = { ancillary: { vlanTagPresent: 1, vlanTag: 0x0123, vlanTpid: 0x8100, protocol: 0x0800 } };
  let runs = 0;
  const disagreements: string[] = [];
  // Every test, including those libpcap would not optimise: the optimiser must be safe on them too.
  for (const c of cases) {
    if (c.unopt.some((i) => i.code === 0x05)) continue; // protochain's loop: never optimised
    const opt = optimizeProgram(c.unopt);
    const usesAncillary = c.unopt.some((i) => (i.code & 0xe7) === 0x20 && (i.k | 0) < 0);
    for (const pkt of packets) {
      for (const options of usesAncillary ? [{}, vlan] : [{}]) {
        runs++;
        const want = runCbpf(c.unopt, pkt, pkt.length, options);
        const got = runCbpf(opt, pkt, pkt.length, options);
        if (want !== got) disagreements.push(`${c.name}: ${want} vs ${got}`);
      }
    }
  }
  t.diagnostic(`${cases.length} filters x ${packets.length} packets: ${runs} runs, ${disagreements.length} disagreements`);
  assert.deepEqual(disagreements.slice(0, 20), []);
});
