/**
 * Every relative link of README.md and docs/ reaches a file of the repo, and every `#anchor` a
 * heading of its page, slugged as GitHub does (a repeated heading's slug gains `-1`, `-2`, …).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { documentationFiles, repoRoot } from './extract-blocks.js';

function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/[^\p{L}\p{N}\- ]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(path: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of stripCode(readFileSync(path, 'utf8')).split('\n')) {
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    if (heading === null) continue;
    const base = slug(heading[1]!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

function stripCode(markdown: string): string {
  return markdown.replace(/^\s*```[\s\S]*?^\s*```/gm, '');
}

function brokenLinks(path: string): string[] {
  const broken: string[] = [];
  for (const match of stripCode(readFileSync(path, 'utf8')).matchAll(/\]\(([^)\s]+)\)/g)) {
    const link = match[1]!;
    if (/^[a-z]+:/i.test(link)) continue;
    const [target = '', anchor] = link.split('#');
    const resolved = target === '' ? path : normalize(join(dirname(path), target));
    if (!existsSync(resolved)) broken.push(`${link}: no ${relative(repoRoot, resolved)}`);
    else if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(resolved).has(anchor)) {
      broken.push(`${link}: no heading #${anchor} in ${relative(repoRoot, resolved)}`);
    }
  }
  return broken;
}

describe('links of the docs', () => {
  for (const path of documentationFiles()) {
    it(`${relative(repoRoot, path)} links only to what exists`, () => {
      expect(brokenLinks(path)).toEqual([]);
    });
  }
});
