// A tiny static server for the site, used by `scripts/site.sh serve` and by the e2e tests.
//
// Routes (all read-only, GET/HEAD only):
//   /               -> www/                 (the site itself, with the wasm package in www/pkg/)
//   /models/        -> models/              (manifests; their ONNX paths point into /shared/)
//   /precomputed/   -> precomputed/         (dissection tables made by the native build)
//   /shared/        -> $GLASSBOX_SHARED or ../shared next to the repository (seed images, real MobileNets)
// The shared data is never copied into the repository or the site; on GitHub Pages the site reads
// models and sample images from the URLs in www/config.js instead.
import { createServer } from 'node:http';
import { createReadStream, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The `shared` folder (the one holding `data/`). GLASSBOX_SHARED may name it or its `data` folder. */
export function sharedDir() {
  const env = process.env.GLASSBOX_SHARED;
  if (env) return path.basename(path.resolve(env)) === 'data' ? path.dirname(path.resolve(env)) : path.resolve(env);
  return path.resolve(repo, '..', 'shared');
}

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream',
  '.txt': 'text/plain; charset=utf-8', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.JPEG': 'image/jpeg',
  '.bmp': 'image/bmp', '.webp': 'image/webp', '.svg': 'image/svg+xml', '.csv': 'text/csv; charset=utf-8', '.md': 'text/markdown',
};

/** The development mounts: the site from www/ with the repository's models and tables and the shared data. */
export function developmentMounts() {
  return [
    ['/shared/', sharedDir()],
    ['/models/', path.join(repo, 'models')],
    ['/precomputed/', path.join(repo, 'precomputed')],
    ['/', path.join(repo, 'www')],
  ];
}

function resolve(urlPath, mounts) {
  for (const [prefix, root] of mounts) {
    if (!urlPath.startsWith(prefix)) continue;
    const file = path.resolve(root, '.' + path.sep + urlPath.slice(prefix.length));
    if (file !== root && !file.startsWith(root + path.sep)) return null; // no escaping the mount
    return file;
  }
  return null;
}

/** Starts the server; resolves to { server, url }. Port 0 picks a free port. `mounts`: [[URL prefix, folder]],
 * first match wins (default: the development mounts); e.g. [['/repo/', 'out/reproduce/site']] serves a built
 * site under a project sub-path, as GitHub Pages does. */
export function serve({ port = 0, host = '127.0.0.1', quiet = true, mounts = developmentMounts() } = {}) {
  const server = createServer((req, res) => {
    let urlPath;
    try {
      urlPath = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      res.writeHead(400).end('bad URL');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    let file = resolve(urlPath, mounts);
    if (file && existsSync(file) && statSync(file).isDirectory()) file = path.join(file, 'index.html');
    if (!file || !existsSync(file)) {
      if (!quiet) console.log(`404 ${urlPath}`);
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${urlPath}`);
      return;
    }
    const size = statSync(file).size;
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-length': size,
      'cache-control': 'no-cache',
    });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok({ server, url: `http://${host}:${server.address().port}/` }));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.env.PORT ?? 8000);
  const { url } = await serve({ port, quiet: false });
  console.log(`glassbox site: ${url}  (shared data from ${sharedDir()}; Ctrl-C stops)`);
}
