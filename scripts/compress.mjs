// Trunk's post-build hook: precompresses the web bundle for `cipherdrop serve`, which picks the
// variant by Accept-Encoding (crates/server/src/assets.rs). Next to each wasm, JS, CSS, HTML, SVG
// or JSON file it writes `.br` (brotli, quality 11) and `.gz` (gzip, level 9), each only when
// smaller than the file; first it makes the page paint before the app is fetched (below).
// Usage: node scripts/compress.mjs [DIR] (default: $TRUNK_STAGING_DIR).
import { readdirSync, readFileSync, writeFileSync, statSync, rmSync } from 'node:fs';
import { join, extname } from 'node:path';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';

const dir = process.argv[2] || process.env.TRUNK_STAGING_DIR;
if (!dir) {
  console.error('compress.mjs: no folder given and no TRUNK_STAGING_DIR');
  process.exit(2);
}
const kinds = new Set(['.wasm', '.js', '.mjs', '.css', '.html', '.svg', '.json']);
let before = 0;
let after = 0;

function walk(d) {
  for (const name of readdirSync(d)) {
    const path = join(d, name);
    if (statSync(path).isDirectory()) {
      walk(path);
    } else if (kinds.has(extname(name))) {
      compress(path);
    }
  }
}

function compress(path) {
  const data = readFileSync(path);
  const variants = [
    ['.br', brotliCompressSync(data, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 11,
        [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
        [constants.BROTLI_PARAM_MODE]: extname(path) === '.wasm'
          ? constants.BROTLI_MODE_GENERIC : constants.BROTLI_MODE_TEXT,
      },
    })],
    ['.gz', gzipSync(data, { level: 9 })],
  ];
  before += data.length;
  let best = data.length;
  for (const [ext, out] of variants) {
    if (out.length < data.length) {
      writeFileSync(path + ext, out);
      best = Math.min(best, out.length);
    } else {
      rmSync(path + ext, { force: true });
    }
  }
  after += best;
}

// Two edits to Trunk's output, so that the page paints before the app is fetched: the wasm's
// `<link rel="preload" as="fetch">` goes (it started the 1.3 MB download before the first paint,
// competing with the page itself; browsers also ignore its `integrity` there, with a console
// warning, crbug.com/981419), and the loader waits for the first frame before it fetches and
// starts the app. The static frame and explanation in index.html show at once; integrity stays
// on the stylesheet and the JS modules.
const index = join(dir, 'index.html');
const html = readFileSync(index, 'utf8');
let fixed = html.replace(/<link rel="preload"[^>]*as="fetch"[^>]*>/g, '');
const start = 'const wasm = await init(';
if (!fixed.includes(start)) {
  console.error('compress.mjs: Trunk\'s loader changed: no "' + start + '" in index.html');
  process.exit(1);
}
fixed = fixed.replace(start,
  'await new Promise((painted) => requestAnimationFrame(() => setTimeout(painted, 0)));\n' + start);
if (fixed !== html) {
  writeFileSync(index, fixed);
}

walk(dir);
console.log(`compress.mjs: ${before} bytes, ${after} as sent to a browser that takes brotli`);
