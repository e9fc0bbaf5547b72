/**
 * /console: the operator console (console/, built by scripts/build-console.mjs into
 * dist/console). Its page and assets are read into memory once at start-up and served with a
 * strict Content-Security-Policy: scripts, styles, images and connections from this origin
 * only, no inline script or style, no framing. The page talks to the admin API as any
 * client does, with a Bearer token it keeps in memory.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';
import { HttpProblem } from '../problem.js';

export const CONSOLE_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'",
  "font-src 'self'", "manifest-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.html': 'text/html; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

interface Asset { body: Buffer; type: string; etag: string }

/** dist/console of this checkout, from src/http/routes (sources) or dist/src/http/routes (compiled). */
export function defaultConsoleDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'dist', 'console');
}

function read(path: string): Asset {
  const body = readFileSync(path);
  return { body, type: TYPES[extname(path)] ?? 'application/octet-stream', etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

export const consoleRoutes: FastifyPluginAsync<{ dir: string }> = async (app, { dir }) => {
  const built = existsSync(join(dir, 'index.html'));
  const page = built ? read(join(dir, 'index.html')) : null;
  const assets = new Map<string, Asset>();
  if (built && existsSync(join(dir, 'assets'))) {
    for (const name of readdirSync(join(dir, 'assets'))) assets.set(name, read(join(dir, 'assets', name)));
  }
  if (!built) app.log.warn({ dir }, 'the console is not built (npm run build builds it): /console answers 404');

  const headers = { 'content-security-policy': CONSOLE_CSP, 'x-frame-options': 'DENY', 'x-content-type-options': 'nosniff' };

  app.get('/console', { schema: { hide: true } }, async (request, reply) => {
    if (!page) throw new HttpProblem('not_found', 'the console is not built: run npm run build');
    reply.headers({ ...headers, 'content-type': page.type, 'cache-control': 'no-cache', etag: page.etag });
    if (request.headers['if-none-match'] === page.etag) return reply.code(304).send();
    return reply.send(page.body);
  });

  app.get('/console/assets/:file', { schema: { hide: true } }, async (request, reply) => {
    const asset = assets.get((request.params as { file: string }).file);
    if (!asset) throw new HttpProblem('not_found', 'no such console asset');
    // Names carry a content hash (but the icon): cached for good.
    const cache = /-[A-Z0-9]{8}\./.test((request.params as { file: string }).file) ? 'public, max-age=31536000, immutable' : 'public, max-age=3600';
    reply.headers({ ...headers, 'content-type': asset.type, 'cache-control': cache, etag: asset.etag });
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.send(asset.body);
  });
};
