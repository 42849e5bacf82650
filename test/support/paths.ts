import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, whether this file runs from test/ (tsx) or dist/test/ (compiled). */
export const repoRoot: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
})();

/** `../shared/corpora` beside the project, or undefined when it is not there. */
export const corporaDir: string | undefined = (() => {
  const dir = resolve(repoRoot, '..', 'shared', 'corpora');
  return existsSync(dir) ? dir : undefined;
})();

/** Path inside the shared corpora, or undefined (tests then skip, saying why). */
export function corpus(...parts: string[]): string | undefined {
  if (!corporaDir) return undefined;
  const p = join(corporaDir, ...parts);
  return existsSync(p) ? p : undefined;
}

export const fixturesDir = join(repoRoot, 'test', 'fixtures');

/** The skip reason node:test prints when a corpus is missing. */
export function missingCorpus(name: string): string {
  return `corpus ${name} not found in ../shared/corpora`;
}
