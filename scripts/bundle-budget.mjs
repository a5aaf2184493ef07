// The web bundle's size budget (`make test` runs it after `trunk build`): what a first visit
// downloads, as a browser that takes brotli gets it (`.br` next to each file, else the file), must
// stay within the budget in web/bundle-budget.json. Fails, naming the biggest files, when it
// grows past it: raise the budget only with a measurement that the page still loads fast
// (Lighthouse, README "Page load").
// Usage: node scripts/bundle-budget.mjs [DIST] (default: dist)
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join, extname, relative } from 'node:path';

const dist = process.argv[2] || 'dist';
const budget = JSON.parse(readFileSync(new URL('../web/bundle-budget.json', import.meta.url)));
const kinds = new Set(['.wasm', '.js', '.css', '.html']);
const files = [];

function walk(d) {
  for (const name of readdirSync(d)) {
    const path = join(d, name);
    if (statSync(path).isDirectory()) {
      walk(path);
    } else if (kinds.has(extname(name))) {
      const br = path + '.br';
      const size = existsSync(br) ? statSync(br).size : statSync(path).size;
      files.push([relative(dist, path), size]);
    }
  }
}

walk(dist);
files.sort((a, b) => b[1] - a[1]);
const total = files.reduce((n, [, s]) => n + s, 0);
const limit = budget.brotli_bytes;
console.log(`bundle: ${total} bytes as sent (brotli) in ${files.length} files; budget ${limit}`);
if (total > limit) {
  console.error(`bundle-budget: ${total - limit} bytes over the budget of ${limit}. Biggest files:`);
  for (const [name, size] of files.slice(0, 5)) {
    console.error(`  ${size}\t${name}`);
  }
  process.exit(1);
}
