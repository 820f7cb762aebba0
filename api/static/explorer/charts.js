// Small inline SVG bar charts (no library): one bar per cut-off, value label on top.

const NS = "http://www.w3.org/2000/svg";

function el(name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

export function barChart(container, points, { format = (v) => String(v), className = "", empty = "–" } = {}) {
  container.replaceChildren();
  if (!points.length) {
    container.textContent = empty;
    return;
  }
  const width = 300, height = 70, bottom = 14, top = 12;
  const max = Math.max(...points.map((p) => p.value ?? 0), 1e-9);
  const step = width / points.length;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  points.forEach((p, i) => {
    const h = ((p.value ?? 0) / max) * (height - bottom - top);
    const x = i * step + step * 0.15;
    const bar = el("rect", { x, y: height - bottom - h, width: step * 0.7, height: h,
      class: `bar ${className}` });
    bar.append(el("title", {}, `${p.label}: ${format(p.value)}`));
    svg.append(bar,
      el("text", { x: x + step * 0.35, y: height - bottom - h - 2, "text-anchor": "middle" },
        p.value == null ? "–" : format(p.value)),
      el("text", { x: x + step * 0.35, y: height - 3, "text-anchor": "middle" }, p.label));
  });
  container.append(svg);
}
