/** A small SVG line of the last samples of a lag; its numbers are in its text alternative. */
export function LagChart({ samples, label }: { samples: number[]; label: string }) {
  const width = 120;
  const height = 28;
  const max = Math.max(1, ...samples);
  const step = samples.length > 1 ? width / (samples.length - 1) : width;
  const points = samples.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`).join(' ');
  const now = samples.at(-1) ?? 0;
  return (
    <svg class="chart" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img"
      aria-label={`${label}: now ${now}, highest ${max === 1 && now === 0 ? 0 : max} in the last ${samples.length} samples`}>
      <line x1="0" y1={height - 2} x2={width} y2={height - 2} class="axis" />
      {samples.length > 1 ? <polyline points={points} class="line" /> : <circle cx={width} cy={height - 2} r="2" class="dot" />}
    </svg>
  );
}
