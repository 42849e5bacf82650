import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCS } from '../../scripts/gen-docs.js';
import { repoRoot } from '../support/paths.js';

test('docs generated from the tables are current (npx tsx scripts/gen-docs.ts rewrites them)', () => {
  for (const [file, render] of Object.entries(DOCS)) {
    assert.equal(readFileSync(join(repoRoot, 'docs', file), 'utf8'), render(), `docs/${file} is stale: run npx tsx scripts/gen-docs.ts`);
  }
});
