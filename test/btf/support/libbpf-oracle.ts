/**
 * libbpf as the CO-RE oracle: `bpftool -d prog loadall` prints libbpf's debug log, in which every CO-RE
 * relocation reports the instruction it patched and the old and new values, or that it substituted the
 * instruction with an invalid one (poison). The log is printed whether or not the kernel then accepts
 * the programs, so the load itself does not matter.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './tools.js';

export interface LibbpfRelo {
  prog: string;
  relo: number;
  insn: number;
  /** 'imm' (ALU), 'off' (LDX/ST/STX), 'imm64' (LD_IMM64), 'mem_sz' (access size), 'poison'. */
  what: 'imm' | 'off' | 'imm64' | 'mem_sz' | 'poison';
  from?: bigint;
  to?: bigint;
}

const PATCHED = /prog '([^']+)': relo #(\d+): patched insn #(\d+) \(([A-Z0-9/]+)\) (imm64|imm|off|mem_sz) (\d+) -> (\d+)/;
const POISONED = /prog '([^']+)': relo #(\d+): substituting insn #(\d+) w\/ invalid insn/;

export function libbpfCoreLog(bpftool: string, object: string): { relos: LibbpfRelo[]; log: string } {
  // A pin path on bpffs when mounted (the load then completes and is removed), else a path that fails
  // only after relocation.
  const pinDir = existsSync('/sys/fs/bpf') ? '/sys/fs/bpf' : mkdtempSync(join(tmpdir(), 'tsbpf-pin-'));
  // Random too: a crashed earlier run may have left a pin under a recycled PID.
  const pin = join(pinDir, `tsbpf-core-test-${process.pid}-${randomBytes(3).toString('hex')}`);
  try {
    const r = run(bpftool, ['-d', 'prog', 'loadall', object, pin]);
    const log = r.stdout + r.stderr;
    const relos: LibbpfRelo[] = [];
    for (const line of log.split('\n')) {
      const p = PATCHED.exec(line);
      if (p) {
        relos.push({
          prog: p[1]!, relo: Number(p[2]), insn: Number(p[3]), what: p[5] as LibbpfRelo['what'],
          from: BigInt(p[6]!), to: BigInt(p[7]!),
        });
        continue;
      }
      const q = POISONED.exec(line);
      if (q) relos.push({ prog: q[1]!, relo: Number(q[2]), insn: Number(q[3]), what: 'poison' });
    }
    return { relos, log };
  } finally {
    rmSync(pin, { recursive: true, force: true });
    if (pinDir !== '/sys/fs/bpf') rmSync(pinDir, { recursive: true, force: true });
  }
}
