import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// The documents are the project's map: a link or a backticked path that names nothing sends a
// newcomer nowhere. Every relative link (and its #anchor) and every backticked repository path in
// README.md, DESIGN.md and docs/ must exist in the tree.

const root = normalize(new URL('../', import.meta.url).pathname);

function walk(dir: string, skip: (rel: string) => boolean, out: string[] = []): string[] {
  for (const name of readdirSync(join(root, dir))) {
    const rel = dir ? `${dir}/${name}` : name;
    if (name === '.git' || skip(rel)) continue;
    if (statSync(join(root, rel)).isDirectory()) walk(rel, skip, out);
    else out.push(rel);
  }
  return out;
}

/** Paths the build produces (.gitignore's plain entries): named by the docs, never committed. */
const generated = readFileSync(join(root, '.gitignore'), 'utf8')
  .split('\n')
  .map((line) => line.trim().replace(/^\/|\/$/g, ''))
  .filter((line) => line && !line.startsWith('#') && !line.includes('*'));
const isGenerated = (rel: string) => generated.some((g) => rel === g || rel.startsWith(`${g}/`));

const files = walk('', isGenerated);
const topLevel = new Set(readdirSync(root).filter((n) => n !== '.git'));
const basenames = new Set(files.map((f) => f.slice(f.lastIndexOf('/') + 1)));

const documents = ['README.md', 'DESIGN.md', ...files.filter((f) => f.startsWith('docs/') && f.endsWith('.md'))];
// Its backticked paths are twilio-node's and twilio-oai's (the sources it cites), not ours.
const externalPaths = new Set(['docs/twilio-verify-v2-totp.md']);

/** Text outside fenced code blocks: headings and paths inside examples are not the document's. */
function prose(text: string): string {
  return text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[ \t]*$/gm, '');
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes, repeats numbered. */
function anchors(doc: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, heading] of prose(readFileSync(join(root, doc), 'utf8')).matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const text = heading!.replace(/`/g, '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const slug = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n ? `${slug}-${n}` : slug);
  }
  return out;
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '{') re += '(?:';
    else if (c === '}') re += ')';
    else if (c === ',') re += '|';
    else re += c.replace(/[.+?^$()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}/?$`);
}

/** Why `token` names nothing in the tree, or undefined when it does (or is not a repo path). */
function checkPath(token: string, doc: string): string | undefined {
  const path = token.replace(/:\d+$/, '').replace(/^\.\//, '');
  if (/\s/.test(path) || path.startsWith('/') || path.includes('://') || path.includes('…')) return undefined;
  const first = path.split('/')[0]!;
  if (path.includes('/')) {
    if (!topLevel.has(first) && !generated.includes(first)) return undefined; // `application/json`, `text/event-stream`
    if (isGenerated(path.replace(/\/$/, ''))) return undefined;
    if (/[*{]/.test(path)) {
      const re = globToRegExp(path);
      return files.some((f) => re.test(f)) ? undefined : 'matches no file';
    }
    return existsSync(join(root, path)) ? undefined : 'no such path';
  }
  // A bare file name: resolved beside the document, at the root, or anywhere in the tree.
  if (!/^[\w.-]+\.(md|ts|json|prisma|graphql|sh|ya?ml|css|html)$/.test(path)) return undefined;
  if (existsSync(join(root, dirname(doc), path)) || basenames.has(path) || isGenerated(path)) return undefined;
  return 'no file of that name';
}

describe('docs: the map names only what the tree holds', () => {
  it('README.md, DESIGN.md and docs/ exist to be checked', () => {
    expect(documents).toEqual(expect.arrayContaining(['README.md', 'DESIGN.md', 'docs/security.md', 'docs/api-contract.md']));
  });

  it.each(documents)('%s: every relative link and #anchor exists', (doc) => {
    const broken: string[] = [];
    const text = prose(readFileSync(join(root, doc), 'utf8'));
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target!)) continue; // https:, mailto:
      const [file, anchor] = target!.split('#') as [string, string | undefined];
      const rel = file ? relative(root, join(root, dirname(doc), decodeURIComponent(file))) : doc;
      if (rel.startsWith('..') || !existsSync(join(root, rel))) {
        broken.push(`${target} (no such file)`);
        continue;
      }
      if (anchor !== undefined && rel.endsWith('.md') && !anchors(rel).has(anchor)) broken.push(`${target} (no such heading)`);
    }
    expect(broken).toEqual([]);
  });

  it.each(documents.filter((d) => !externalPaths.has(d)))('%s: every backticked repository path exists', (doc) => {
    const text = prose(readFileSync(join(root, doc), 'utf8'));
    const broken: string[] = [];
    for (const [, token] of text.matchAll(/`([^`\n]+)`/g)) {
      const why = checkPath(token!, doc);
      if (why) broken.push(`${token} (${why})`);
    }
    expect(broken).toEqual([]);
  });

  it('the checker itself catches a missing path, a missing heading and a bad glob', () => {
    expect(checkPath('API.md', 'DESIGN.md')).toBe('no file of that name');
    expect(checkPath('src/no-such-file.ts', 'README.md')).toBe('no such path');
    expect(checkPath('test/no-such.*.test.ts', 'README.md')).toBe('matches no file');
    expect(checkPath('application/json', 'README.md')).toBeUndefined();
    expect(checkPath('dist/demo', 'README.md')).toBeUndefined();
    expect(anchors('docs/security.md').has('guessing-throttle')).toBe(true);
    expect(anchors('docs/operations.md').has('prometheusyml')).toBe(false);
  });
});
