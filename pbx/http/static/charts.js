// Small SVG charts for the report pages, drawn here (no library, no CDN). Colours come from
// the page's stylesheet through classes (series-0, series-1, ...), so they print too.

const SVG = "http://www.w3.org/2000/svg";

function node(name, attributes = {}, text = undefined) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

// The axis' top: four equal steps of 1, 2 or 5 times a power of ten, at or above `value`.
function niceMax(value) {
  const quarter = Math.max(1, value / 4);
  const power = 10 ** Math.floor(Math.log10(quarter));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= quarter);
  return step * 4;
}

// Grouped bars per category (one per series), and an optional line in percent (0-100) on
// its own axis, on the end side. `title` labels the chart for screen readers.
export function barChart({ title, categories, series, percent = null, width = 900, height = 320 }) {
  const pad = { top: 16, right: percent ? 44 : 12, bottom: 56, left: 44 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const top = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const svg = node("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart", "aria-label": title });
  svg.append(node("title", {}, title));
  for (let i = 0; i <= 4; i += 1) { // grid and the count axis
    const y = pad.top + plotH - (plotH * i) / 4;
    svg.append(node("line", { x1: pad.left, x2: pad.left + plotW, y1: y, y2: y, class: "grid" }));
    svg.append(node("text", { x: pad.left - 6, y: y + 4, "text-anchor": "end", class: "axis" }, String(Math.round((top * i) / 4))));
    if (percent) svg.append(node("text", { x: pad.left + plotW + 6, y: y + 4, class: "axis" }, `${25 * i}%`));
  }
  const band = plotW / Math.max(1, categories.length);
  const barW = Math.max(1, (band * 0.8) / Math.max(1, series.length));
  const every = Math.max(1, Math.ceil(categories.length / 12)); // at most 12 labels
  categories.forEach((label, c) => {
    const x0 = pad.left + band * c + band * 0.1;
    series.forEach((s, k) => {
      const h = (plotH * s.values[c]) / top;
      const bar = node("rect", { x: x0 + barW * k, y: pad.top + plotH - h, width: barW, height: h, class: `bar series-${k}` });
      bar.append(node("title", {}, `${label} · ${s.name}: ${s.values[c]}`));
      svg.append(bar);
    });
    if (c % every === 0) {
      svg.append(node("text", { x: x0 + band * 0.4, y: pad.top + plotH + 18, "text-anchor": "middle", class: "axis" }, label));
    }
  });
  if (percent) {
    const points = percent.values.map((v, c) => (v === null ? null : [pad.left + band * (c + 0.5), pad.top + plotH - (plotH * v) / 100]));
    const path = points.filter(Boolean).map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
    if (path) svg.append(node("path", { d: path, class: "line" }));
    for (const point of points.filter(Boolean)) svg.append(node("circle", { cx: point[0], cy: point[1], r: 3, class: "dot" }));
  }
  const legend = [...series.map((s, k) => [s.name, `series-${k}`]), ...(percent ? [[percent.name, "line-key"]] : [])];
  legend.forEach(([name, cls], i) => {
    const x = pad.left + i * 170;
    svg.append(node("rect", { x, y: height - 18, width: 12, height: 12, class: `bar ${cls}` }));
    svg.append(node("text", { x: x + 18, y: height - 8, class: "legend" }, name));
  });
  return svg;
}

// Horizontal bars: one per label, its value written at its end (`format(value, index)`).
export function hbarChart({ title, labels, values, format, width = 900 }) {
  const row = 30;
  const pad = { left: 200, right: 140 };
  const height = Math.max(1, labels.length) * row + 10;
  const top = niceMax(Math.max(0, ...values));
  const svg = node("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart", "aria-label": title });
  svg.append(node("title", {}, title));
  labels.forEach((label, i) => {
    const y = 5 + i * row;
    const w = ((width - pad.left - pad.right) * values[i]) / top;
    svg.append(node("text", { x: pad.left - 8, y: y + 19, "text-anchor": "end", class: "axis" }, label));
    svg.append(node("rect", { x: pad.left, y: y + 4, width: w, height: row - 10, class: `bar series-${i % 4}` }));
    svg.append(node("text", { x: pad.left + w + 6, y: y + 19, class: "value" }, format(values[i], i)));
  });
  return svg;
}
