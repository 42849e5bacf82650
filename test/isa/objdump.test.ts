/**
 * The LLVM syntax against llvm-objdump itself: (1) a sweep of encodings of every opcode, (2) every
 * executable section of every ebpf-samples object, line for line. Skips when the LLVM tools are missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseElf, SHF_EXECINSTR, type ElfFile } from '../../src/elf/index.js';
import { disassembleElf } from '../../src/cli/commands/disasm.js';
import { assemble } from '../../src/isa/asm.js';
import { disassemble, formatInstruction, tryClassify } from '../../src/isa/disasm.js';
import { decode, encode, s16, type Instruction } from '../../src/isa/instruction.js';
import { corpus, missingCorpus } from '../support/paths.js';
import { llvmMc, llvmObjdump16, objdumpInstructions } from './llvm-tools.js';

/** Encodings with a representative spread of fields, valid ones only. */
function sampleEncodings(): Instruction[][] {
  const out: Instruction[][] = [];
  const offs = [0, -8, 1, 8, 16, 32, 32767, -32768];
  const imms = [0, 1, -1, 16, 32, 64, 0x7fffffff, -0x80000000, 0x10000];
  // Atomic operations live in imm: sweep all of them for the atomic opcodes only.
  const atomicImms = [0, 1, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1, 0x100, 0x110];
  for (let code = 0; code < 256; code++) {
    const atomic = (code & 0xe7) === 0xc3;
    for (const dst of [0, 1, 10]) for (const src of [0, 2, 10]) for (const off of atomic ? [0, -8, 32767] : offs) for (const imm of atomic ? atomicImms : imms) {
      const program: Instruction[] = [{ code, dst, src, off, imm }];
      if (code === 0x18) program.push({ code: 0, dst: 0, src: 0, off: 0, imm: imm === 1 ? 0 : 7 });
      if (tryClassify(program, 0) !== undefined) out.push(program);
    }
  }
  return out;
}

/**
 * Encodings llvm-objdump-16 decodes differently from the kernel (it predates cpu v4 and ignores some
 * fields): we print them as newer LLVM does. Returns the reason, or undefined for ordinary encodings.
 */
function llvm16Divergence(insn: Instruction): string | undefined {
  const { code, imm } = insn;
  const off = s16(insn.off);
  if ((code & 0x07) === 0x04 || (code & 0x07) === 0x07) {
    const op = code & 0xf0;
    if ((op === 0x30 || op === 0x90) && off === 1) return 'sdiv/smod printed as div/mod';
    if (op === 0xb0 && off !== 0) return 'movsx / addr_space_cast printed as mov';
  }
  if (code === 0x8d) return 'callx: llvm-16 reads the register from imm';
  if (code === 0xc3 && (imm & 1) === 1) return '32-bit fetch atomic printed without fetch';
  if ((code & 0xe7) === 0xc3 && (imm === 0x100 || imm === 0x110)) return 'load-acquire/store-release printed as lock add';
  return undefined;
}

/** What kind of instruction llvm-16 could not decode, for the diagnostic. */
function unknownCategory(text: string): string {
  if (text.startsWith('if ')) return 'jset';
  if (text.startsWith('*(')) return 'store immediate';
  if (text.startsWith('lock ')) return '32-bit atomic or/and/xor';
  const m = /^(gotol|may_goto|callx|store_release)|= \*\((s)|= (bswap)|= (atomic_fetch|xchg32|cmpxchg32|load_acquire)/.exec(text);
  return m ? (m[1] ?? (m[2] ? 'sign-extending load' : undefined) ?? m[3] ?? m[4]!) : text;
}

const tools = llvmMc !== undefined && llvmObjdump16 !== undefined;

for (const hex of [false, true]) {
  test(`every opcode: formatInstruction matches llvm-objdump-16 ${hex ? '(hex immediates)' : '--no-print-imm-hex'}`, (t) => {
    if (!tools) return t.skip('llvm-mc-16 / llvm-objdump-16 not installed');
    const programs = sampleEncodings();
    const reference = objdumpInstructions(programs, hex ? [] : ['--no-print-imm-hex']);
    let same = 0;
    const unknownToLlvm = new Map<string, number>();
    const divergent = new Map<string, number>();
    programs.forEach((program, i) => {
      const mine = formatInstruction(program, 0, 'llvm', { objdump: true, hex });
      const ref = reference[i]!;
      if (mine === ref) {
        same++;
        return;
      }
      if (ref === '<unknown>') {
        const name = unknownCategory(mine);
        unknownToLlvm.set(name, (unknownToLlvm.get(name) ?? 0) + 1);
        return;
      }
      const why = llvm16Divergence(program[0]!);
      assert.ok(why !== undefined, `${JSON.stringify(program[0])}: mine [${mine}] llvm [${ref}]`);
      divergent.set(why, (divergent.get(why) ?? 0) + 1);
    });
    t.diagnostic(`${programs.length} valid encodings, ${same} identical to llvm-objdump-16`);
    t.diagnostic(`unknown to llvm-16: ${[...unknownToLlvm].map(([k, n]) => `${k} ${n}`).join(', ')}`);
    for (const [why, n] of divergent) t.diagnostic(`llvm-16 divergence: ${why}: ${n}`);
    assert.ok(same > programs.length / 2);
  });
}

function objects(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...objects(path));
    else if (entry.endsWith('.o')) out.push(path);
  }
  return out;
}

function tryParse(path: string): ElfFile | undefined {
  try {
    return parseElf(new Uint8Array(readFileSync(path)), { fileName: path });
  } catch {
    return undefined;
  }
}

/**
 * llvm-objdump's listings of many files from one run (one process instead of one per file): each file's
 * text starts with a blank line and `PATH:\tfile format`. Files it cannot read are left out.
 */
function objdumpListings(objdump: string, paths: readonly string[], flags: string[]): Map<string, string> {
  const run = spawnSync(objdump, ['-d', ...flags, ...paths], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const out = new Map<string, string>();
  const wanted = new Set(paths);
  let current: string | undefined;
  let body: string[] = [];
  const flush = (): void => {
    if (current !== undefined) out.set(current, body.join('\n'));
  };
  const lines = run.stdout.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const header = /^(.*):\tfile format /.exec(lines[i]!);
    if (header && wanted.has(header[1]!) && lines[i - 1] === '') {
      body.pop(); // the blank line that opens the next file's listing
      flush();
      current = header[1]!;
      body = ['', lines[i]!];
    } else body.push(lines[i]!);
  }
  flush();
  // Alone, objdump refuses files whose e_machine is not EM_BPF (`elf64-unknown`); in a batch it reuses
  // the previous target. Leave those out as it would on its own, and files it printed nothing for.
  for (const [path, text] of out) {
    if (!text.includes('\tfile format elf64-bpf') || !text.includes('Disassembly of section')) out.delete(path);
  }
  return out;
}

test('ebpf-samples: disassembleElf matches llvm-objdump-16 -d line for line', (t) => {
  const dir = corpus('verifier', 'ebpf-samples');
  if (!dir) return t.skip(missingCorpus('verifier/ebpf-samples'));
  const objdump = llvmObjdump16;
  if (!objdump) return t.skip('llvm-objdump-16 not installed');
  const paths = objects(dir);
  const decimal = objdumpListings(objdump, paths, ['--no-print-imm-hex']);
  // Every 8th object also in hex (llvm-objdump-16's default), to keep the test fast.
  const hexListings = objdumpListings(objdump, paths.filter((_, n) => n % 8 === 0), []);
  let files = 0;
  let lines = 0;
  let identical = 0;
  const skipped: string[] = [];
  const mismatches: string[] = [];
  for (const path of paths) {
    const elf = tryParse(path);
    const name = path.slice(dir.length + 1);
    if (!decimal.has(path)) skipped.push(`${name} (llvm-objdump cannot read it)`);
    else if (elf === undefined) skipped.push(`${name} (src/elf rejects it)`);
    if (elf === undefined) continue;
    for (const [hex, listings] of [[false, decimal], [true, hexListings]] as const) {
      const reference = listings.get(path);
      if (reference === undefined) continue;
      files++;
      const ref = reference.split('\n');
      const mine = disassembleElf(elf, { hex }).split('\n');
      // Our listing ends with a newline; objdump's last file has no trailing blank line in the split.
      while (mine.length > ref.length && mine[mine.length - 1] === '') mine.pop();
      for (let i = 0; i < Math.max(ref.length, mine.length); i++) {
        lines++;
        if (ref[i] === mine[i]) identical++;
        else if (mismatches.length < 10) mismatches.push(`${name}${hex ? ' (hex)' : ''}:${i + 1}\n  llvm: ${ref[i]}\n  mine: ${mine[i]}`);
      }
    }
  }
  t.diagnostic(`${files} listings, ${identical}/${lines} lines identical; skipped: ${skipped.join(', ') || 'none'}`);
  assert.deepEqual(mismatches, []);
  assert.ok(files > 100);
});

test('ebpf-samples: decode/encode and disassemble/assemble keep every executable section byte for byte', (t) => {
  const dir = corpus('verifier', 'ebpf-samples');
  if (!dir) return t.skip(missingCorpus('verifier/ebpf-samples'));
  let sections = 0;
  let slots = 0;
  let viaText = 0;
  objects(dir).forEach((path, n) => {
    const elf = tryParse(path);
    if (elf === undefined || !elf.littleEndian) return;
    for (const section of elf.sections) {
      if ((section.flags & SHF_EXECINSTR) === 0 || section.size === 0 || section.size % 8 !== 0) continue;
      const bytes = elf.sectionBytes(section);
      const insns = decode(bytes);
      assert.deepEqual(encode(insns), bytes, `${path} ${section.name}`);
      sections++;
      slots += insns.length;
      // Through text for every 4th object only, to keep the test fast.
      if (n % 4 !== 0) continue;
      const valid = insns.every((_, i) => tryClassify(insns, i) !== undefined || (i > 0 && insns[i - 1]!.code === 0x18));
      if (!valid) continue;
      for (const syntax of ['llvm', 'ubpf'] as const) {
        const again = assemble(disassemble(insns, { syntax }));
        assert.ok(Buffer.from(encode(again)).equals(Buffer.from(bytes)), `${path} ${section.name} via ${syntax}`);
      }
      viaText++;
    }
  });
  t.diagnostic(`${sections} sections, ${slots} slots re-encoded identically; ${viaText} sections (every 4th object) also through text in both syntaxes`);
});

test('ebpf-samples: pasted `llvm-objdump-16 -dr` listings reassemble to the section bytes', (t) => {
  const dir = corpus('verifier', 'ebpf-samples');
  if (!dir) return t.skip(missingCorpus('verifier/ebpf-samples'));
  const objdump = llvmObjdump16;
  if (!objdump) return t.skip('llvm-objdump-16 not installed');
  // Every 10th object, to keep the test fast.
  const paths = objects(dir).filter((_, n) => n % 10 === 0);
  const listings = objdumpListings(objdump, paths, ['-r', '--no-show-raw-insn']);
  let files = 0;
  let slots = 0;
  let localCalls = 0;
  for (const path of paths) {
    const elf = tryParse(path);
    const listing = listings.get(path);
    if (elf === undefined || listing === undefined) continue;
    const sections = elf.sections.filter((s) => (s.flags & SHF_EXECINSTR) !== 0 && s.size > 0);
    const want = decode(Uint8Array.from(sections.flatMap((s) => Array.from(elf.sectionBytes(s)))));
    const got = assemble(listing, { file: path });
    assert.equal(got.length, want.length, path);
    got.forEach((insn, i) => {
      const expected = want[i]!;
      // objdump prints a BPF-to-BPF call as `call -1`, which can only read back as a helper call.
      if (expected.code === 0x85 && expected.src !== 0) {
        localCalls++;
        assert.deepEqual({ ...insn, src: expected.src }, expected, `${path} slot ${i}`);
      } else assert.deepEqual(insn, expected, `${path} slot ${i}`);
    });
    files++;
    slots += want.length;
  }
  t.diagnostic(`${files} listings, ${slots} slots reassembled; ${localCalls} local calls come back as helper calls (objdump prints both as call imm)`);
  assert.ok(files > 10);
});
