import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { corpus, missingCorpus } from '../support/paths.js';
import { filterCompiler } from '../../src/cbpf/filter-loader.js';
import { packetFilter } from '../../src/cbpf/apply.js';
import { runCbpf } from '../../src/cbpf/interpret.js';
import { dltFromLinkType, readCapture, parseIPv4 } from '../../src/net/index.js';

/**
 * libpcap's TESTrun "apply" tests: compile an expression for a capture's link type and snaplen,
 * run it over every packet, and compare each return value with libpcap's.
 */
const dir = corpus('pcap-filter', 'libpcap-testrun');

interface ApplyBlock { name: string; expr: string; savefile: string; results: number[]; skip?: string; netmask?: string }

function netmaskNumber(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const b = parseIPv4(text);
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

for (const optimize of [true, false]) {
  test(`libpcap apply blocks give libpcap's per-packet results (${optimize ? 'optimised' : 'unoptimised'})`, (t) => {
    if (!dir) return t.skip(missingCorpus('pcap-filter/libpcap-testrun'));
    const blocks = JSON.parse(readFileSync(join(dir, 'libpcap_filter_apply_blocks.json'), 'utf8')) as ApplyBlock[];
    const compile = filterCompiler();
    const failures: string[] = [];
    let ran = 0;
    for (const block of blocks) {
      if (block.skip !== undefined && block.skip !== '') continue; // needs /etc/hosts or /etc/ethers entries
      const capture = readCapture(join(dir, 'pcaps', block.savefile));
      let results: number[];
      try {
        const prog = compile(block.expr, { linkType: dltFromLinkType(capture.info.linkType), snaplen: capture.info.snaplen, optimize, netmask: netmaskNumber(block.netmask) });
        const filter = packetFilter(prog, 'js');
        results = capture.packets.map((p) => filter(p.data, p.wireLength));
        const interpreted = capture.packets.map((p) => runCbpf(prog, p.data, p.wireLength));
        assert.deepEqual(interpreted, results, `${block.name}: interpreter and compile-js disagree`);
      } catch (err) {
        failures.push(`${block.name} '${block.expr}': ${(err as Error).message}`);
        continue;
      }
      ran++;
      if (JSON.stringify(results) !== JSON.stringify(block.results)) {
        failures.push(`${block.name} '${block.expr}' on ${block.savefile}: got [${results.join(',')}], libpcap [${block.results.join(',')}]`);
      }
    }
    t.diagnostic(`${ran} blocks ran, ${failures.length} failed`);
    assert.ok(ran >= 180, `only ${ran} blocks ran`);
    assert.deepEqual(failures, []);
  });
}
