// A dependency-free SVG bar chart of requests per second: one group per workload, one bar per configuration.
const COLORS = ['#9ca3af', '#f59e0b', '#ef4444', '#a855f7', '#4f46e5', '#10b981', '#0ea5e9', '#84cc16', '#d946ef', '#14b8a6', '#78350f', '#1e3a8a', '#be123c', '#4d7c0f'];

export function chart(rows, configs) {
  const groups = [...new Set(rows.filter((r) => r.workload === 'read-heavy' || r.workload === 'write-heavy').map((r) => `${r.payload} ${r.workload}`))];
  const max = Math.max(...rows.map((r) => r.rps));
  const barW = 18, gap = 34, left = 60, top = 30, height = 260;
  const groupW = configs.length * barW + gap;
  const width = left + groups.length * groupW + 20;
  const y = (v) => top + height - (v / max) * height;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${top + height + 60 + configs.length * 18}" font-family="system-ui,sans-serif" font-size="11">`];
  parts.push(`<text x="${left}" y="18" font-size="13" font-weight="700">requests per second (higher is better)</text>`);
  for (let t = 0; t <= 4; t++) {
    const v = (max * t) / 4;
    parts.push(`<line x1="${left}" x2="${width - 10}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e7eb"/><text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" fill="#6b7280">${Math.round(v)}</text>`);
  }
  groups.forEach((group, g) => {
    const x0 = left + g * groupW + gap / 2;
    configs.forEach((config, c) => {
      const row = rows.find((r) => `${r.payload} ${r.workload}` === group && r.config === config);
      if (!row) return;
      parts.push(`<rect x="${x0 + c * barW}" y="${y(row.rps)}" width="${barW - 3}" height="${top + height - y(row.rps)}" fill="${COLORS[c % COLORS.length]}"><title>${config}: ${row.rps.toFixed(0)} req/s</title></rect>`);
    });
    parts.push(`<text x="${x0 + (configs.length * barW) / 2}" y="${top + height + 16}" text-anchor="middle">${group}</text>`);
  });
  configs.forEach((config, c) => {
    const ly = top + height + 36 + c * 18;
    parts.push(`<rect x="${left}" y="${ly - 10}" width="12" height="12" fill="${COLORS[c % COLORS.length]}"/><text x="${left + 18}" y="${ly}">${config}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
