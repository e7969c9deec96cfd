/**
 * A laid-out chart (chart-layout.ts) as standalone SVG: `mip4 chart --format svg` prints it and
 * the inspector page shows it. Each state is a `<g class="state" data-state="<id>">` with a
 * `<text class="count">` the page fills with live counts; each transition a
 * `<g class="transition" data-source data-target data-event>` whose tooltip names the reason
 * and the commands.
 */
import type { ChartLayout, PlacedTransition } from './chart-layout.js';
import type { ChartTransition } from './machine-chart.js';

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const STYLE = `
  .state rect { fill: #f7f9fc; stroke: #4a5b78; stroke-width: 1.2; }
  .state.compound > rect { fill: #eef2f8; stroke-dasharray: 4 2; }
  .state.final > rect { stroke-width: 3; }
  .state.root > rect { fill: #ffffff; }
  .state text { font: 12px sans-serif; fill: #1d2533; }
  .state text.count { font-weight: bold; fill: #b0411e; }
  .transition path { fill: none; stroke: #6b7a90; stroke-width: 1; }
  .transition text { font: 11px sans-serif; fill: #37455c; }
  .transition.self text { fill: #5a6b85; }
  .initial { fill: #1d2533; }
`;

function transitionData(t: ChartTransition): string {
  return `data-source="${escapeXml(t.source)}" data-target="${escapeXml(t.target ?? t.source)}" data-event="${escapeXml(t.event)}"${t.reason ? ` data-reason="${escapeXml(t.reason)}"` : ''}`;
}

function tooltipOf(placed: PlacedTransition): string {
  const t = placed.transition;
  return [`${t.source} → ${t.target ?? '(stays)'}`, placed.label, t.reason ? `reason: ${t.reason}` : '', t.actions.length > 0 ? `does: ${t.actions.join(', ')}` : '']
    .filter(Boolean)
    .join('\n');
}

export function layoutToSvg(layout: ChartLayout): string {
  const width = Math.ceil(layout.width);
  const height = Math.ceil(layout.height);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-machine="${escapeXml(layout.machine)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
  );
  out.push(`<style>${STYLE}</style>`);
  out.push(
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#6b7a90"/></marker></defs>',
  );
  // Outer boxes first, so nested states draw on top of their parents.
  for (const state of layout.states) {
    const classes = ['state', state.compound ? 'compound' : 'leaf', state.type === 'final' ? 'final' : '', state.id.includes('.') ? '' : 'root'].filter(Boolean).join(' ');
    const x = state.x.toFixed(1);
    const y = state.y.toFixed(1);
    out.push(`<g class="${classes}" data-state="${escapeXml(state.id)}">`);
    out.push(`<title>${escapeXml(state.id)}</title>`);
    out.push(`<rect x="${x}" y="${y}" width="${state.width.toFixed(1)}" height="${state.height.toFixed(1)}" rx="8"/>`);
    const labelY = state.compound || state.selfTransitions.length > 0 ? state.y + 18 : state.y + state.height / 2 + 4;
    out.push(`<text class="label" x="${(state.x + 8).toFixed(1)}" y="${labelY.toFixed(1)}">${escapeXml(state.label)}</text>`);
    out.push(`<text class="count" x="${(state.x + state.width - 6).toFixed(1)}" y="${(state.y + 13).toFixed(1)}" text-anchor="end"></text>`);
    state.selfTransitions.forEach((placed, i) => {
      const lineY = state.y + state.height - 8 - (state.selfTransitions.length - 1 - i) * 14;
      out.push(`<g class="transition self" ${transitionData(placed.transition)}><title>${escapeXml(tooltipOf(placed))}</title>`);
      out.push(`<text x="${(state.x + 8).toFixed(1)}" y="${lineY.toFixed(1)}">${escapeXml(placed.label)}</text></g>`);
    });
    if (state.initial) out.push(`<circle class="initial" cx="${(state.x - 3).toFixed(1)}" cy="${(state.y - 3).toFixed(1)}" r="3"/>`);
    out.push('</g>');
  }
  for (const placed of layout.transitions) {
    const t = placed.transition;
    const d = placed.points.map((p, i) => `${i === 0 ? 'M' : 'L'} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(' ');
    out.push(`<g class="transition" ${transitionData(t)}><title>${escapeXml(tooltipOf(placed))}</title>`);
    if (d !== '') out.push(`<path d="${d}" marker-end="url(#arrow)"/>`);
    if (placed.labelAt) out.push(`<text x="${placed.labelAt.x.toFixed(1)}" y="${(placed.labelAt.y + 12).toFixed(1)}">${escapeXml(placed.label)}</text>`);
    out.push('</g>');
  }
  out.push('</svg>');
  return out.join('\n');
}
