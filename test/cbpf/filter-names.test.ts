import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { corpus, missingCorpus } from '../support/paths.js';
import { compileFilter, type NameTables } from '../../src/cbpf/filter/index.js';
import { formatImage } from '../../src/cbpf/image.js';

/**
 * The accept rows that need libpcap's test /etc/hosts, /etc/ethers and /etc/networks entries, run
 * with those entries supplied through `names` (values read off libpcap's expected listings).
 */
const dir = corpus('pcap-filter', 'libpcap-testrun');

const V6A = 'fd00:a1b2:c3d4:0:1020:3040:5060:7080';
const V6X2 = ['fd00:a1b2:c3d4:0:a0b0:c0d0:e0f0:1278', 'fd00:a1b2:c3d4:0:a0b0:c0d0:e0f0:3456'];
const V4X4 = ['192.168.241.3', '192.168.242.4', '192.168.243.1', '192.168.244.2'];
const MAC123 = 'aa:00:04:00:14:0e';
const MAC357 = 'aa:00:04:00:01:08';
const NAMES: NameTables = {
  hosts: {
    'noeth-ipv4-noipv6.host123.libpcap.test': ['10.20.30.40'],
    'noeth-noipv4-ipv6.host123.libpcap.test': [V6A],
    'noeth-ipv4-ipv6.host123.libpcap.test': ['10.20.30.40', V6A],
    'eth-ipv4-noipv6.host123.libpcap.test': ['10.20.30.40'],
    'eth-ipv4-ipv6.host123.libpcap.test': ['10.20.30.40', V6A],
    'eth-ipv4x4-noipv6.host357.libpcap.test': V4X4,
    'eth-noipv4-ipv6x2.host357.libpcap.test': V6X2,
    'eth-ipv4x4-ipv6x2.host357.libpcap.test': [...V4X4, ...V6X2],
  },
  ethers: {
    'eth-noipv4-noipv6.host123.libpcap.test': MAC123,
    'eth-ipv4-noipv6.host123.libpcap.test': MAC123,
    'eth-ipv4-ipv6.host123.libpcap.test': MAC123,
    'eth-ipv4x4-noipv6.host357.libpcap.test': MAC357,
    'eth-noipv4-ipv6x2.host357.libpcap.test': MAC357,
    'eth-ipv4x4-ipv6x2.host357.libpcap.test': MAC357,
  },
  networks: {
    'net-10-0-0-0.libpcap.test': '10.0.0.0', 'net-10-20-0-0.libpcap.test': '10.20.0.0',
    'net-10-20-30-0.libpcap.test': '10.20.30.0',
  },
};

interface Row { name: string; DLT: string; expr: string; optimize: boolean; skip: string | null; snaplen?: number | null; expected?: string }
const NAME_SKIPS = new Set(['configure the hosts file', 'configure the ethers file', 'musl libc']);

test('name-dependent accept rows with the test name tables', (t) => {
  if (!dir) return t.skip(missingCorpus('pcap-filter/libpcap-testrun'));
  const rows = readFileSync(join(dir, 'libpcap_accept_tests_flat.jsonl'), 'utf8').trim().split('\n')
    .map((l) => JSON.parse(l) as Row).filter((r) => !r.optimize && r.skip && NAME_SKIPS.has(r.skip) && r.expected);
  let pass = 0;
  const failures: string[] = [];
  for (const r of rows) {
    let got: string;
    try {
      got = formatImage(compileFilter(r.expr, { linkType: r.DLT, optimize: false, snaplen: r.snaplen ?? undefined, names: NAMES })).trim();
    } catch (e) { got = `error: ${(e as Error).message}`; }
    if (got === r.expected!.trim()) pass++;
    else failures.push(`${r.name} [${r.DLT}] ${JSON.stringify(r.expr)}: ${got.split('\n')[0]}`);
  }
  t.diagnostic(`name-dependent rows (unoptimised): ${pass}/${rows.length} byte-identical`);
  if (failures.length) t.diagnostic(failures.slice(0, 10).join('\n'));
  assert.ok(rows.length > 0);
  assert.ok(pass / rows.length >= 0.9, `${pass}/${rows.length}`);
});
