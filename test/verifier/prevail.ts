import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { assemble } from '../../src/isa/asm.js';
import type { Instruction } from '../../src/isa/instruction.js';
import type { InitialRegister } from '../../src/verifier/index.js';
import { corpus } from '../support/paths.js';

/**
 * PREVAIL's YAML tests (code fragments with pre/post conditions in PREVAIL's domain). Only the
 * verdict is compared: PREVAIL expects a rejection when the case lists `messages`. Register types
 * and value ranges of `pre` seed the initial state; stack contents are not modelled.
 */
export interface PrevailCase {
  name: string;
  insns?: Instruction[];
  skip?: string;
  initial: Map<number, InitialRegister>;
  expected: 'accept' | 'reject';
}

/** The few YAML forms the test files use: scalars, flow lists, block lists, `key: |` blocks. */
function parseDoc(doc: string): Record<string, string | string[] | Record<string, string>> {
  const out: Record<string, string | string[] | Record<string, string>> = {};
  const lines = doc.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const m = /^([\w-]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const [, key, rest] = m as unknown as [string, string, string];
    if (key === 'code') {
      const blocks: Record<string, string> = {};
      let label = '';
      for (i++; i < lines.length && (lines[i]!.startsWith(' ') || lines[i]!.trim() === ''); i++) {
        const l = lines[i]!;
        const lm = /^ {2}(<[^>]+>):\s*\|?\s*$/.exec(l);
        if (lm) { label = lm[1]!; blocks[label] = ''; continue; }
        if (label) blocks[label] += l.trim() + '\n';
      }
      i--;
      out[key] = blocks;
    } else if (rest.startsWith('[')) {
      let text = rest;
      while (!text.trimEnd().endsWith(']') && i + 1 < lines.length) text += ' ' + lines[++i]!.trim();
      out[key] = [...text.matchAll(/"([^"]*)"/g)].map((x) => x[1]!);
    } else if (rest === '' || rest === '|') {
      const items: string[] = [];
      for (i++; i < lines.length && (/^\s+- /.test(lines[i]!) || lines[i]!.trim() === ''); i++) {
        const item = /^\s+- (.*)$/.exec(lines[i]!);
        if (item) items.push(item[1]!.replace(/^"|"$/g, ''));
      }
      i--;
      out[key] = items;
    } else {
      out[key] = rest.trim();
    }
  }
  return out;
}

function initialRegisters(pre: readonly string[]): Map<number, InitialRegister> {
  const regs = new Map<number, InitialRegister>();
  const facts = new Map<string, string>();
  for (const p of pre) {
    const m = /^r(\d+)\.(\w+)=(.*)$/.exec(p.trim());
    if (m) facts.set(`${m[1]}.${m[2]}`, m[3]!);
  }
  for (let r = 0; r <= 9; r++) {
    const type = facts.get(`${r}.type`);
    if (!type) continue;
    const num = (v: string | undefined): [bigint, bigint] | undefined => {
      if (!v) return undefined;
      const range = /^\[\s*(-?\d+)\s*,\s*(-?\d+)\s*\]$/.exec(v);
      if (range) return [BigInt(range[1]!), BigInt(range[2]!)];
      return /^-?\d+$/.test(v) ? [BigInt(v), BigInt(v)] : undefined;
    };
    if (type === 'number') {
      const range = num(facts.get(`${r}.svalue`));
      regs.set(r, range ? { type: 'scalar', range } : { type: 'scalar' });
    } else if (type === 'ctx') regs.set(r, { type: 'ctx', offset: Number(facts.get(`${r}.ctx_offset`) ?? 0) || 0 });
    else if (type === 'stack') regs.set(r, { type: 'fp', offset: (Number(facts.get(`${r}.stack_offset`) ?? 512) || 512) - 512 });
    else if (type === 'packet') regs.set(r, { type: 'pkt', offset: Number(facts.get(`${r}.packet_offset`) ?? 0) || 0 });
    else regs.set(r, { type: 'scalar' });
  }
  return regs;
}

export function prevailCases(): PrevailCase[] {
  const dir = corpus('verifier', 'prevail-yaml');
  if (!dir) return [];
  const out: PrevailCase[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'test-schema.yaml').sort()) {
    const docs = readFileSync(join(dir, file), 'utf8').split(/^---\s*$/m);
    for (const doc of docs) {
      const d = parseDoc(doc);
      const name = d['test-case'];
      if (typeof name !== 'string') continue;
      const messages = d['messages'];
      const expected = Array.isArray(messages) && messages.length > 0 ? 'reject' : 'accept';
      const initial = initialRegisters(Array.isArray(d['pre']) ? d['pre'] : []);
      const code = d['code'];
      const base = { name: `${file}: ${name}`, initial, expected } as const;
      if (!code || typeof code !== 'object' || Array.isArray(code)) { out.push({ ...base, skip: 'no code' }); continue; }
      const labels = Object.keys(code);
      let text = '';
      for (const label of labels) text += `${label.slice(1, -1)}:\n${code[label]!.replace(/<([^>]+)>/g, '$1')}`;
      // A fragment that falls off its end stops there: give it an exit (R0 set, as PREVAIL does not check it).
      const lastLine = text.trim().split('\n').pop()!.replace(/;.*$/, '').trim();
      if (lastLine !== 'exit') text += '\n__end:\nr0 = 0\nexit\n';
      try {
        out.push({ ...base, insns: assemble(text) });
      } catch (e) {
        out.push({ ...base, skip: `does not assemble: ${(e as Error).message.slice(0, 60)}` });
      }
    }
  }
  return out;
}
