// `tsx bench/profile-summary.ts <file.cpuprofile> [top] [--last <s>] [--inclusive fnA,fnB,…]`: self time
// by function and by package, from a V8 CPU profile written by `npm run bench -- --profile`
// (node --cpu-prof). `--last <s>` keeps only the profile's last s seconds (e.g. the right-code and
// 70 % runs, the last 8 s of a `--quick --only hot` API process), leaving start-up and warm-up out.
// `--inclusive` adds, per named function, the time of every sample with that function on its stack
// (counted once per sample): where a component's milliseconds go, callees included.
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const lastS = Number(opt('last') ?? 0);
const inclusive = (opt('inclusive') ?? '').split(',').filter(Boolean);
const file = args[0];
if (!file) {
  console.error('usage: tsx bench/profile-summary.ts <file.cpuprofile> [top] [--last <s>] [--inclusive fnA,fnB]');
  process.exit(2);
}
const top = Number(args[1] ?? 25);
const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[]; endTime: number };
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
// Sample times (µs): the deltas accumulate from the profile's start.
const times: number[] = [];
prof.timeDeltas.reduce((t, d, i) => (times[i] = t + d), (prof as unknown as { startTime: number }).startTime);
const from = lastS > 0 ? prof.endTime - lastS * 1e6 : -Infinity;
const self = new Map<number, number>();
prof.samples.forEach((id, i) => {
  if (times[i]! < from) return;
  self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
});
const total = [...self.values()].reduce((a, b) => a + b, 0);
const idle = [...self]
  .filter(([id]) => ['(idle)', '(program)'].includes(byId.get(id)!.callFrame.functionName))
  .reduce((a, [, t]) => a + t, 0);
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
const busy = total - idle;
const show = (m: Map<string, number>) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .forEach(([k, t]) => console.log(`${((100 * t) / total).toFixed(1).padStart(5)} %  ${k}`));
console.log(
  `total ${(total / 1e6).toFixed(1)} s sampled${lastS ? ` (last ${lastS} s)` : ''}, busy ${(busy / 1e6).toFixed(2)} s (${((100 * busy) / total).toFixed(1)} %)\n-- by package --`,
);
show(pk);
console.log('-- by function --');
show(fn);
if (inclusive.length) {
  console.log('-- inclusive (share of busy time) --');
  for (const name of inclusive) {
    let t = 0;
    for (const [id, s] of self) {
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        if (byId.get(cur)!.callFrame.functionName === name) {
          t += s;
          break;
        }
      }
    }
    console.log(`${((100 * t) / busy).toFixed(1).padStart(5)} %  ${name}`);
  }
}
