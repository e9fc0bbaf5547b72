/**
 * The service's V8 flags are written in three places: the suite's SERVICE_NODE_FLAGS (what
 * the benchmarks measure), `npm start` and the Dockerfile (what runs). They must agree, or
 * the numbers in docs/benchmarks.md describe a service nobody runs.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { SERVICE_NODE_FLAGS } from '../../bench/processes.js';

const root = new URL('../../', import.meta.url);

void t.test('npm start and the Dockerfile run the service with the flags the benchmarks measure', async (t) => {
  const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> };
  const start = /\bnode ((?:--\S+ )*)dist\/src\/main\.js/.exec(pkg.scripts.start ?? '');
  t.ok(start, 'npm start runs node on dist/src/main.js');
  t.strictSame(start?.[1]?.trim().split(' ').filter(Boolean), [...SERVICE_NODE_FLAGS], 'npm start');

  const cmd = /^CMD (\[.*\])$/m.exec(readFileSync(new URL('Dockerfile', root), 'utf8'));
  const argv = JSON.parse(cmd?.[1] ?? '[]') as string[];
  t.strictSame(argv, ['node', ...SERVICE_NODE_FLAGS, 'dist/src/main.js'], 'the Dockerfile CMD');
});
