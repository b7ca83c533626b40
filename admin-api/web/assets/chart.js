// A small SVG line chart for time series: one series, an optional
// comparison series (dashed), gridlines, axis labels and a tooltip per
// point (an SVG title, read by screen readers too).

import { s } from "./dom.js";

const W = 800, H = 240, L = 48, R = 12, T = 12, B = 28;

// lineChart draws values (numbers) at labels (strings); compare, when
// given, is drawn dashed against the same x positions. format renders a
// value for the axis and tooltips.
export function lineChart({ labels, values, compare, format, title, integer = false }) {
  const all = values.concat(compare || []);
  const max = 4 * niceStep(Math.max(1e-9, ...all) / 4, integer);
  const n = Math.max(values.length, 1);
  const x = (i) => L + (n === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (n - 1));
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const svg = s("svg.chart", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
  svg.append(s("title", title));
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    svg.append(
      s("line.grid", { x1: L, x2: W - R, y1: y(v), y2: y(v) }),
      s("text.axis", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, format(v)));
  }
  const step = Math.max(1, Math.ceil(n / 6));
  for (let i = 0; i < labels.length; i += step) {
    svg.append(s("text.axis", { x: x(i), y: H - 8, "text-anchor": "middle" }, labels[i]));
  }
  if (compare && compare.length) {
    svg.append(s("polyline.compare", { points: compare.map((v, i) => `${x(i)},${y(v)}`).join(" ") }));
  }
  if (values.length) {
    const pts = values.map((v, i) => `${x(i)},${y(v)}`).join(" ");
    svg.append(s("polygon.area", { points: `${x(0)},${y(0)} ${pts} ${x(values.length - 1)},${y(0)}` }));
    svg.append(s("polyline.line", { points: pts }));
    values.forEach((v, i) => {
      const tip = labels[i] + ": " + format(v) + (compare && compare[i] !== undefined ? " (previous: " + format(compare[i]) + ")" : "");
      svg.append(s("circle.point", { cx: x(i), cy: y(v), r: n > 60 ? 1.5 : 3 }, s("title", tip)));
    });
  }
  return svg;
}

// niceStep is the gridline step at or above v: 1, 2, 2.5 or 5 times a
// power of ten; whole numbers only for counts.
function niceStep(v, integer) {
  if (integer && v <= 1) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of integer && p < 10 ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
