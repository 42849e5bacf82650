/** Finding and running the external oracles (bpftool, clang, readelf) the ELF/BTF tests compare with. */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The first of these commands that runs, or undefined. */
export function findTool(...names: string[]): string | undefined {
  for (const name of names) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim() !== '') return r.stdout.trim();
  }
  return undefined;
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[]): RunResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export const VMLINUX_BTF = '/sys/kernel/btf/vmlinux';
export const hasVmlinux = (): boolean => existsSync(VMLINUX_BTF);

/** Every regular file under `dir`, recursively, sorted. */
export function filesUnder(dir: string, keep: (path: string) => boolean = () => true): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (keep(p)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** Object files of the ebpf-samples corpus: `.o` files plus the extension-less fuzzed ones in invalid/. */
export const isSampleObject = (p: string): boolean => !/\.(json|txt|md)$/.test(p);
