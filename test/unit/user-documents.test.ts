/**
 * The README is a user's guide: short enough to read, and free of the project's internal
 * bookkeeping (issue numbers, commit hashes), as are the documents in docs/.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { readDocument } from '../helpers/readme.js';

const MAX_README_LINES = 500;
const documents = ['README.md', ...readdirSync(new URL('../../docs', import.meta.url)).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** `text` without URLs and Markdown link targets, where `#` and hex digits are addresses. */
const withoutAddresses = (text: string) => text.replace(/\]\([^)]*\)/g, ']()').replace(/https?:\/\/[^\s)>\]]+/g, '');

/** Issue or pull-request references such as `#12` (not an HTML entity like `&#12;`). */
function issueReferences(text: string): string[] {
  return [...withoutAddresses(text).matchAll(/(?<![\w&])#\d+\b/g)].map((m) => m[0]);
}

/** Words that look like git commit hashes: 7 to 40 hex digits with at least one letter and one digit. */
function commitHashes(text: string): string[] {
  return [...withoutAddresses(text).matchAll(/(?<![\w-])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}(?![\w-])/g)].map((m) => m[0]);
}

describe('user documents', () => {
  it(`README.md has at most ${MAX_README_LINES} lines`, () => {
    expect(readDocument().replace(/\n$/, '').split('\n').length).toBeLessThanOrEqual(MAX_README_LINES);
  });

  it.each(documents)('%s names no issue and no commit', (file) => {
    const text = readDocument(file);
    expect({ issues: issueReferences(text), commits: commitHashes(text) }).toEqual({ issues: [], commits: [] });
  });

  it('the checks find what they look for, and not addresses or plain numbers', () => {
    expect(issueReferences('fixed in #12, see (#quick-start) and &#38; or https://x.test/issues#3')).toEqual(['#12']);
    expect(issueReferences('[the thread](https://github.com/o/r/issues/153#issuecomment-1)')).toEqual([]);
    expect(commitHashes('the run on e835e29 and b87fb2c0ffee; 2147483647 ms, 1048576 bytes, defaced')).toEqual(['e835e29', 'b87fb2c0ffee']);
    expect(commitHashes('image sha256-ab12cd3 in https://example.test/commit/e835e29')).toEqual([]);
  });
});
