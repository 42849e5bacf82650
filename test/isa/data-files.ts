/** Test support: read bpf_conformance / uBPF `.data` test files (sections introduced by `-- name`). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DataFile {
  name: string;
  path: string;
  /** Section name (`asm`, `raw`, `result`, `error` ...) to its text. `asm @ file` sections are skipped. */
  sections: Map<string, string>;
}

export function readDataFile(path: string): DataFile {
  const sections = new Map<string, string>();
  let current: string | undefined;
  let body: string[] = [];
  const flush = (): void => {
    if (current !== undefined && !sections.has(current)) sections.set(current, body.join('\n'));
  };
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const header = /^-- (.*)$/.exec(line);
    if (header) {
      flush();
      current = header[1]!.trim();
      body = [];
    } else if (current !== undefined) body.push(line);
  }
  flush();
  return { name: path.split('/').pop()!, path, sections };
}

export function readDataDir(dir: string): DataFile[] {
  return readdirSync(dir).filter((f) => f.endsWith('.data')).sort().map((f) => readDataFile(join(dir, f)));
}

/**
 * The `-- raw` section as bytes. uBPF writes one 64-bit word per line (`0x...95`, the value of the
 * little-endian word); bpf_conformance's negative tests write the 8 bytes (`95 00 00 00 ...`).
 */
export function rawBytes(text: string): Uint8Array {
  const lines = text.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter((l) => l !== '');
  const out = new Uint8Array(lines.length * 8);
  const view = new DataView(out.buffer);
  lines.forEach((line, i) => {
    const pairs = line.split(/\s+/);
    if (pairs.length === 8) pairs.forEach((p, j) => { out[i * 8 + j] = parseInt(p, 16); });
    else view.setBigUint64(i * 8, BigInt(line.startsWith('0x') ? line : `0x${line}`), true);
  });
  return out;
}
