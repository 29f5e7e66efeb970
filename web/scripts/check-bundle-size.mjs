// Checks the JavaScript budget of the built UI: the first page load must stay under 500 KB
// gzipped. To keep that true whichever page a person opens first, the budget is applied to all
// chunks together (an upper bound of any first load). Run after `vite build` (`build` does).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET_BYTES = 500 * 1024;
const dist = new URL('../dist/', import.meta.url).pathname;
const assets = join(dist, 'assets');
const gz = (file) => gzipSync(readFileSync(join(assets, file)), { level: 9 }).length;

const jsFiles = readdirSync(assets).filter((f) => f.endsWith('.js'));
const sizes = Object.fromEntries(jsFiles.map((f) => [f, gz(f)]));

// The entry chunk and everything it imports statically, found by following import specifiers.
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const entry = /<script[^>]+src="\/assets\/([^"]+\.js)"/.exec(html)?.[1];
if (!entry) throw new Error('dist/index.html has no /assets/*.js entry script');
const firstLoad = new Set();
const visit = (file) => {
  if (firstLoad.has(file)) return;
  firstLoad.add(file);
  const code = readFileSync(join(assets, file), 'utf8');
  // Static imports only (`import ... from "./x.js"`); dynamic import() chunks load later.
  for (const m of code.matchAll(/(?:^|[;\s}])import\s*(?:[\w*{},\s$]+from\s*)?["']\.\/([^"']+\.js)["']/g)) visit(m[1]);
};
visit(entry);

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const first = [...firstLoad].reduce((sum, f) => sum + sizes[f], 0);
const total = Object.values(sizes).reduce((a, b) => a + b, 0);
console.log(`JS gzipped: first load ${kb(first)} (${[...firstLoad].join(', ')}); all chunks ${kb(total)}; budget ${kb(BUDGET_BYTES)}`);
if (total > BUDGET_BYTES) {
  console.error(`JavaScript is over budget by ${kb(total - BUDGET_BYTES)}.`);
  process.exit(1);
}
