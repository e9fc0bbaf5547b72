/** Writing a run's results: the JSON and the chart next to it. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderChart } from './chart.js';
import type { SuiteResult } from './report.js';

/** Writes `<dir>/latest.json` and `<dir>/latest.svg`; returns their paths. */
export function writeResults(result: SuiteResult, dir: string): { json: string; svg: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'latest.json');
  const svg = join(dir, 'latest.svg');
  writeFileSync(json, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(svg, `${renderChart(result)}\n`);
  return { json, svg };
}
