// `tsx bench/profile-summary.ts <file.cpuprofile> [top]`: self time by function and by package,
// from a V8 CPU profile written by `npm run bench -- --profile` (node --cpu-prof).
import { readFileSync } from 'node:fs';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
const file = process.argv[2];
if (!file) {
  console.error('usage: tsx bench/profile-summary.ts <file.cpuprofile> [top]');
  process.exit(2);
}
const top = Number(process.argv[3] ?? 25);
const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const pkg = (url: string) => {
  const m = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (m) return m[1]!;
  if (url.includes('/src/')) return 'verity src/' + (url.split('/src/')[1]?.split('/')[0] ?? '');
  return url ? url.replace(/^.*\//, '') : '(native/gc/idle)';
};
const fn = new Map<string, number>();
const pk = new Map<string, number>();
for (const [id, t] of self) {
  const n = byId.get(id)!;
  const key = `${n.callFrame.functionName || '(anon)'} ${pkg(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  fn.set(key, (fn.get(key) ?? 0) + t);
  const p = n.callFrame.functionName.startsWith('(') ? n.callFrame.functionName : pkg(n.callFrame.url);
  pk.set(p, (pk.get(p) ?? 0) + t);
}
const show = (m: Map<string, number>) =>
  [...m].sort((a, b) => b[1] - a[1]).slice(0, top).forEach(([k, t]) => console.log(`${((100 * t) / total).toFixed(1).padStart(5)} %  ${k}`));
console.log(`total ${(total / 1e6).toFixed(1)} s sampled\n-- by package --`);
show(pk);
console.log('-- by function --');
show(fn);
