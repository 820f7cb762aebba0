// The visible graph as GEXF 1.2 and GraphML (what Gephi and networkx read), and as PNG.

const ATTRS = [
  ["number", "string"], ["customer", "string"], ["risk", "double"], ["clv", "double"],
  ["tier", "string"], ["onNet", "boolean"], ["churned", "boolean"], ["influencer", "boolean"],
];

const escapeXml = (value) => String(value).replace(/[<>&"']/g, (c) => (
  { "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" }[c]));

function visible(graph, isVisible) {
  const nodes = graph.filterNodes((node) => isVisible(node));
  const keep = new Set(nodes);
  const edges = graph.filterEdges((edge, a, s, t) => keep.has(s) && keep.has(t));
  return { nodes, edges };
}

function attrValue(a, name) {
  const v = a[name];
  return v === null || v === undefined ? null : v;
}

export function toGexf(graph, isVisible) {
  const { nodes, edges } = visible(graph, isVisible);
  const out = ['<?xml version="1.0" encoding="UTF-8"?>',
    '<gexf xmlns="http://www.gexf.net/1.2draft" xmlns:viz="http://www.gexf.net/1.2draft/viz" version="1.2">',
    '<meta><creator>callcircle explorer</creator></meta>',
    '<graph defaultedgetype="undirected" mode="static">',
    '<attributes class="node">',
    ...ATTRS.map(([name, type], i) => `<attribute id="${i}" title="${name}" type="${type}"/>`),
    "</attributes>", "<nodes>"];
  for (const node of nodes) {
    const a = graph.getNodeAttributes(node);
    const values = ATTRS.map(([name], i) => [i, attrValue(a, name)]).filter(([, v]) => v !== null);
    const rgb = a.color.match(/\w\w/g).map((h) => parseInt(h, 16));
    out.push(`<node id="${escapeXml(node)}" label="${escapeXml(a.label)}">`,
      "<attvalues>", ...values.map(([i, v]) => `<attvalue for="${i}" value="${escapeXml(v)}"/>`),
      "</attvalues>",
      `<viz:color r="${rgb[0]}" g="${rgb[1]}" b="${rgb[2]}"/>`,
      `<viz:position x="${a.x}" y="${a.y}" z="0"/>`, `<viz:size value="${a.size}"/>`, "</node>");
  }
  out.push("</nodes>", "<edges>");
  edges.forEach((edge, i) => {
    const a = graph.getEdgeAttributes(edge);
    out.push(`<edge id="${i}" source="${escapeXml(graph.source(edge))}" ` +
      `target="${escapeXml(graph.target(edge))}" weight="${a.weight}"/>`);
  });
  out.push("</edges>", "</graph>", "</gexf>");
  return out.join("\n");
}

export function toGraphml(graph, isVisible) {
  const { nodes, edges } = visible(graph, isVisible);
  const types = { string: "string", double: "double", boolean: "boolean" };
  const out = ['<?xml version="1.0" encoding="UTF-8"?>',
    '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">',
    '<key id="label" for="node" attr.name="label" attr.type="string"/>',
    ...ATTRS.map(([name, type]) =>
      `<key id="${name}" for="node" attr.name="${name}" attr.type="${types[type]}"/>`),
    '<key id="weight" for="edge" attr.name="weight" attr.type="double"/>',
    '<graph id="G" edgedefault="undirected">'];
  for (const node of nodes) {
    const a = graph.getNodeAttributes(node);
    out.push(`<node id="${escapeXml(node)}">`, `<data key="label">${escapeXml(a.label)}</data>`,
      ...ATTRS.filter(([name]) => attrValue(a, name) !== null)
        .map(([name]) => `<data key="${name}">${escapeXml(a[name])}</data>`), "</node>");
  }
  for (const edge of edges) {
    out.push(`<edge source="${escapeXml(graph.source(edge))}" target="${escapeXml(graph.target(edge))}">` +
      `<data key="weight">${graph.getEdgeAttribute(edge, "weight")}</data></edge>`);
  }
  out.push("</graph>", "</graphml>");
  return out.join("\n");
}

// Sigma draws on stacked canvases (edges and nodes in WebGL, labels in 2D): render once and
// copy them, in order, onto one canvas in the same task, before the WebGL buffers clear.
export function toPngBlob(renderer) {
  renderer.refresh();
  const { width, height } = renderer.getDimensions();
  const ratio = window.devicePixelRatio || 1;
  const canvas = document.createElement("canvas");
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  for (const layer of Object.values(renderer.getCanvases())) {
    ctx.drawImage(layer, 0, 0, canvas.width, canvas.height);
  }
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

export function download(name, content, type) {
  const blob = content instanceof Blob ? content : new Blob([content], { type });
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
