// The call-circle explorer: search, draw a circle with sigma (WebGL), inspect, filter, export.
import { Graph, Sigma, forceAtlas2 } from "./vendor/graphlibs.js";
import {
  AuthRequired, CIRCLE_GRAPH, CIRCLE_OF_CUSTOMER, CIRCLE_OF_NUMBER, CUSTOMER_360, LISTS,
  NEIGHBOURHOOD, gql,
} from "./api.js";
import { barChart } from "./charts.js";
import { download, toGexf, toGraphml, toPngBlob } from "./exporters.js";

const $ = (id) => document.getElementById(id);
const MAX_NODES = 3000;
const COLORS = { unknown: "#7f8fa6", churned: "#2b2d42", offnet: "#c9ced8" };

const state = {
  graph: new Graph({ type: "undirected" }),
  renderer: null,
  circle: null,
  selected: null,
  hovered: null,
  filters: { minRisk: 0, tier: "", tag: "", offNet: true },
};

// --- colours and sizes ---------------------------------------------------------------

function mix(a, b, t) {
  const pa = a.match(/\w\w/g).map((h) => parseInt(h, 16));
  const pb = b.match(/\w\w/g).map((h) => parseInt(h, 16));
  return "#" + pa.map((v, i) => Math.round(v + (pb[i] - v) * t).toString(16).padStart(2, "0")).join("");
}

function riskColor(risk) {
  if (risk == null) return COLORS.unknown;
  return risk < 0.5 ? mix("#2e9e57", "#f0c419", risk * 2) : mix("#f0c419", "#d7263d", (risk - 0.5) * 2);
}

function nodeAttributes(node) {
  const c = node.customer;
  const risk = c?.churnRisk?.probability ?? null;
  const clv = c?.value?.clv ?? null;
  const offNet = node.onNet === false;
  const color = node.churned ? COLORS.churned : offNet ? COLORS.offnet : riskColor(risk);
  return {
    label: (node.isInfluencer ? "★ " : "") + (node.churned ? "✕ " : "") + node.number,
    number: node.number, customer: c?.customerId ?? null, risk, clv,
    tier: c?.value?.valueTier ?? null, tags: c?.tags ?? [], onNet: !offNet,
    churned: node.churned, influencer: node.isInfluencer, circle: node.circleId,
    operator: node.operator, color, size: 3, forceLabel: node.isInfluencer,
  };
}

// Sizes shrink as the graph grows, so that 1,500 numbers still read as a network.
function restyle() {
  const g = state.graph;
  const big = g.order > 400;
  const [nodeMin, nodeMax, edgeMax] = big ? [2, 7, 1.5] : [4, 14, 5];
  const maxClv = Math.max(1, ...g.mapNodes((_, a) => a.clv ?? 0));
  g.forEachNode((node, a) => {
    const size = a.onNet ? nodeMin + (nodeMax - nodeMin) * Math.sqrt(Math.max(a.clv ?? 0, 0) / maxClv) : nodeMin * 0.8;
    g.setNodeAttribute(node, "size", size);
  });
  const maxWeight = Math.max(1, ...g.mapEdges((_, a) => a.weight));
  g.forEachEdge((edge, a) => g.setEdgeAttribute(edge, "size", 0.3 + edgeMax * Math.sqrt(a.weight / maxWeight)));
}

// --- the graph --------------------------------------------------------------------------

function isVisible(node) {
  const a = state.graph.getNodeAttributes(node);
  const f = state.filters;
  if (!a.onNet) return f.offNet;
  if (f.minRisk > 0 && (a.risk ?? 0) < f.minRisk) return false;
  if (f.tier && a.tier !== f.tier) return false;
  if (f.tag && !a.tags.includes(f.tag)) return false;
  return true;
}

function addNodes(nodes, around) {
  for (const node of nodes) {
    if (state.graph.hasNode(node.key)) continue;
    const angle = Math.random() * 2 * Math.PI;
    const radius = around ? 5 + Math.random() * 5 : 100 * Math.random();
    state.graph.addNode(node.key, {
      ...nodeAttributes(node),
      x: (around?.x ?? 0) + radius * Math.cos(angle),
      y: (around?.y ?? 0) + radius * Math.sin(angle),
    });
  }
}

function addEdges(edges) {
  for (const e of edges) {
    if (!state.graph.hasNode(e.source) || !state.graph.hasNode(e.target)) continue;
    if (e.source === e.target || state.graph.hasEdge(e.source, e.target)) continue;
    state.graph.addEdge(e.source, e.target, { weight: e.weight, calls: e.calls, sms: e.sms });
  }
  restyle();
}

function layout(iterations) {
  if (state.graph.order < 2) return;
  const settings = forceAtlas2.inferSettings(state.graph);
  // Barnes-Hut keeps each iteration O(n log n): a 1,500-number circle lays out in about a second
  const barnesHutOptimize = state.graph.order > 500;
  forceAtlas2.assign(state.graph, {
    iterations, settings: { ...settings, barnesHutOptimize, edgeWeightInfluence: 0.5 },
  });
}

function ensureRenderer() {
  if (state.renderer) return;
  state.renderer = new Sigma(state.graph, $("graph"), {
    defaultEdgeColor: "#b8c0cc",
    labelRenderedSizeThreshold: 9,
    zIndex: true,
    // hovering a node dims everything but it and its neighbours
    nodeReducer: (node, data) => {
      const out = { ...data };
      if (!isVisible(node)) out.hidden = true;
      const focus = state.hovered;
      if (focus && node !== focus && !state.graph.areNeighbors(node, focus)) {
        out.color = "#e3e6eb";
        out.label = "";
        out.forceLabel = false;
      } else if (focus) {
        out.forceLabel = true;
      }
      if (node === state.selected) { out.highlighted = true; out.zIndex = 2; }
      return out;
    },
    edgeReducer: (edge, data) => {
      const [s, t] = state.graph.extremities(edge);
      if (!isVisible(s) || !isVisible(t)) return { ...data, hidden: true };
      const focus = state.hovered;
      if (focus && s !== focus && t !== focus) return { ...data, hidden: true };
      return data;
    },
  });
  state.renderer.on("enterNode", ({ node }) => { state.hovered = node; state.renderer.refresh({ skipIndexation: true }); });
  state.renderer.on("leaveNode", () => { state.hovered = null; state.renderer.refresh({ skipIndexation: true }); });
  state.renderer.on("clickNode", ({ node }) => selectNode(node));
  state.renderer.on("clickStage", () => { state.selected = null; $("node-panel").hidden = true; state.renderer.refresh(); });
}

function updateCount() {
  const shown = state.graph.filterNodes(isVisible).length;
  $("graph-count").textContent = `${shown} of ${state.graph.order} numbers · ${state.graph.size} ties`;
  for (const id of ["export-gexf", "export-graphml", "export-png", "relayout"]) {
    $(id).disabled = state.graph.order === 0;
  }
}

// --- loading a circle -------------------------------------------------------------------

async function openCircle(circleId) {
  setStatus(`loading circle ${circleId}…`);
  const data = await gql(CIRCLE_GRAPH, { id: String(circleId), max: MAX_NODES });
  const g = data.circleGraph;
  if (!g) { setStatus(`no circle ${circleId}`); return; }
  state.graph.clear();
  state.selected = null;
  state.hovered = null;
  history.replaceState(null, "", `/explore?circle=${encodeURIComponent(circleId)}`);
  state.circle = { ...data.circle, graph: g };
  addNodes(g.nodes);
  addEdges(g.edges);
  layout(g.nodes.length > 1000 ? 60 : 150);
  ensureRenderer();
  fillFilterChoices();
  state.renderer.getCamera().animatedReset({ duration: 0 });
  state.renderer.refresh();
  showCircle(data.circle, g);
  $("node-panel").hidden = true;
  updateCount();
  setStatus(g.truncated ? `circle ${circleId}: first ${g.nodes.length} members drawn` : "");
}

function fillFilterChoices() {
  const tiers = new Set(), tags = new Set();
  state.graph.forEachNode((_, a) => { if (a.tier) tiers.add(a.tier); a.tags.forEach((t) => tags.add(t)); });
  for (const [id, values] of [["filter-tier", tiers], ["filter-tag", tags]]) {
    const select = $(id);
    const current = select.value;
    select.replaceChildren(new Option("any", ""), ...[...values].sort().map((v) => new Option(v, v)));
    select.value = values.has(current) ? current : "";
  }
}

const fmt = (v, digits = 2) => (v == null ? "–" : Number(v).toLocaleString("en", { maximumFractionDigits: digits }));
const pct = (v) => (v == null ? "–" : `${(100 * v).toFixed(1)} %`);

function fillStats(dl, rows) {
  dl.replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    return [dt, dd];
  }));
}

function listItems(ul, items) {
  ul.replaceChildren(...items.map((text) => { const li = document.createElement("li"); li.textContent = text; return li; }));
}

function showCircle(circle, g) {
  $("circle-panel").hidden = false;
  $("circle-id").textContent = circle.circleId;
  fillStats($("circle-stats"), [
    ["members", circle.members.totalCount], ["on-net", circle.onNetMembers ?? "–"],
    ["density", fmt(circle.density, 3)], ["churned", circle.churnedMembers ?? "–"],
    ["churn rate", pct(circle.churnRate)], ["total value", fmt(circle.totalValue)],
    ["mean value", fmt(circle.meanValue)], ["internal share", pct(circle.internalShare)],
    ["dominant plan", circle.dominantPlan ? `${circle.dominantPlan} (${pct(circle.dominantPlanShare)})` : "–"],
    ["cut-off", g.cutoff],
  ]);
  listItems($("circle-influencers"), circle.influencers.map(
    (m) => `${m.number}${m.customer ? ` · ${m.customer.customerId}` : ""} · PageRank ${fmt(m.pagerank, 4)}`));
  [...$("circle-influencers").children].forEach((li, i) => {
    const id = circle.influencers[i].customer?.customerId;
    const node = id && state.graph.findNode((_, a) => a.customer === id && a.influencer);
    if (!node) return;
    li.classList.add("link");
    li.addEventListener("click", () => run(() => selectNode(node)));
  });
  const label = (p) => p.cutoff.slice(0, 7);
  barChart($("chart-size"), g.history.map((p) => ({ label: label(p), value: p.size })));
  barChart($("chart-churn"), g.history.map((p) => ({ label: label(p), value: p.churnRate })),
    { format: (v) => (v == null ? "–" : `${(100 * v).toFixed(0)}%`), className: "churn" });
  listItems($("circle-lineage"), g.lineage.length ? g.lineage.map((l) => (l.kind === "split"
    ? `${l.cutoff.slice(0, 7)}: split from ${l.previousCircleId} → ${l.circleId} (${l.overlap} of ${l.previousSize})`
    : `${l.cutoff.slice(0, 7)}: ${l.previousCircleId} merged into ${l.circleId} (${l.overlap} of ${l.previousSize})`))
    : ["none recorded"]);
}

// --- a node's panel ---------------------------------------------------------------------

async function selectNode(node) {
  state.selected = node;
  state.renderer.refresh();
  const a = state.graph.getNodeAttributes(node);
  $("node-panel").hidden = false;
  $("node-title").textContent = a.customer ? `Customer ${a.customer}` : `Number ${a.number}`;
  $("node-panel").dataset.node = node;
  $("node-panel").dataset.customer = a.customer ?? "";
  const base = [["number", a.number], ["on-net", a.onNet ? "yes" : `no (${a.operator ?? "other operator"})`],
    ["churned", a.churned ? "yes" : "no"], ["influencer", a.influencer ? "yes" : "no"],
    ["circle", a.circle ?? "–"]];
  fillStats($("node-stats"), base);
  listItems($("node-reasons"), []);
  listItems($("node-lines"), []);
  if (!a.customer) return;
  const { customer: c } = await gql(CUSTOMER_360, { id: a.customer });
  if (state.selected !== node || !c) return;
  fillStats($("node-stats"), [
    ["name", c.name ?? "–"], ...base, ["type", c.customerType], ["region", c.region],
    ["joined", c.joinDate], ["churn risk", c.churnRisk ? `${fmt(c.churnRisk.probability, 3)} (decile ${c.churnRisk.riskDecile ?? "–"})` : "not scored"],
    ["value tier", c.value?.valueTier ?? "–"], ["ARPU", fmt(c.value?.monthlyRevenue)],
    ["CLV", fmt(c.value?.clv)], ["network value", fmt(c.value?.networkValue)],
    ["segment", c.segment ? `${c.segment.segmentId} ${c.segment.profile ?? ""}` : "–"],
    ["arrears", fmt(c.bills?.arrears)], ["tags", c.tags.join(", ") || "–"],
  ]);
  listItems($("node-reasons"), c.churnRisk?.reasons?.length ? c.churnRisk.reasons : ["no reasons (not scored)"]);
  listItems($("node-lines"), c.subscriptions.map((s) => `${s.msisdn} · ${s.status} · ${s.product?.name ?? "–"}`));
}

async function expandSelected() {
  const node = state.selected;
  if (!node) return;
  setStatus("expanding…");
  const { neighbourhood: n } = await gql(NEIGHBOURHOOD, { key: node, first: 30 });
  const before = state.graph.order;
  addNodes(n.nodes, state.graph.getNodeAttributes(node));
  addEdges(n.edges);
  layout(20);
  fillFilterChoices();
  state.renderer.refresh();
  updateCount();
  setStatus(`${state.graph.order - before} numbers added`);
}

// --- search and lists -------------------------------------------------------------------

function searchKind(value, kind) {
  if (kind !== "auto") return kind;
  if (/^\+?\d{8,15}$/.test(value)) return "phone";
  if (/^\d{1,7}$/.test(value)) return "circle";
  return "customer";
}

async function search(value, kind) {
  value = value.trim();
  if (!value) return;
  kind = searchKind(value, kind);
  if (kind === "circle") return openCircle(value);
  const number = kind === "phone" && !value.startsWith("+") ? `+${value}` : value;
  const data = await gql(kind === "phone" ? CIRCLE_OF_NUMBER : CIRCLE_OF_CUSTOMER, { value: kind === "phone" ? number : value });
  const c = data.customer;
  if (!c) { setStatus(`no customer for ${value}`); return; }
  if (!c.circle) { setStatus(`customer ${c.customerId} is in no circle`); return; }
  await openCircle(c.circle.circleId);
  const node = state.graph.findNode((_, a) => a.customer === c.customerId);
  if (node) await selectNode(node);
}

async function loadLists() {
  const data = await gql(LISTS);
  const risky = $("risky-circles");
  risky.replaceChildren(...data.circles.edges.map(({ node }) => {
    const li = document.createElement("li");
    li.textContent = `circle ${node.circleId} · ${node.size} members · churn ${pct(node.churnRate)}`;
    li.dataset.circle = node.circleId;
    li.addEventListener("click", () => run(() => openCircle(node.circleId)));
    return li;
  }));
  const prospects = $("prospects");
  prospects.replaceChildren(...data.prospects.edges.map(({ node }) => {
    const li = document.createElement("li");
    li.textContent = `${node.number} (${node.operator ?? "?"}) · ${node.distinctCustomers} customers`;
    const circle = node.referrers.find((r) => r.customer?.circle)?.customer.circle.circleId;
    if (circle) {
      li.title = `open circle ${circle} of its strongest referrer`;
      li.addEventListener("click", () => run(() => openCircle(circle)));
    }
    return li;
  }));
}

// --- wiring -----------------------------------------------------------------------------

function setStatus(text) { $("status").textContent = text; }

async function run(task) {
  try {
    await task();
  } catch (error) {
    if (error instanceof AuthRequired) { window.location.assign("/explore/login"); return; }
    setStatus(error.message);
    console.warn(error);
  }
}

function applyFilters() {
  state.filters = {
    minRisk: Number($("filter-risk").value), tier: $("filter-tier").value,
    tag: $("filter-tag").value, offNet: $("filter-offnet").checked,
  };
  $("risk-value").textContent = state.filters.minRisk.toFixed(2);
  state.renderer?.refresh();
  updateCount();
}

$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  run(() => search($("search-input").value, $("search-kind").value));
});
for (const id of ["filter-risk", "filter-tier", "filter-tag", "filter-offnet"]) {
  $(id).addEventListener("input", applyFilters);
}
$("expand").addEventListener("click", () => run(expandSelected));
$("relayout").addEventListener("click", () => { layout(100); state.renderer.refresh(); });
const fileBase = () => `circle-${state.circle?.circleId ?? "graph"}`;
$("export-gexf").addEventListener("click", () =>
  download(`${fileBase()}.gexf`, toGexf(state.graph, isVisible), "application/gexf+xml"));
$("export-graphml").addEventListener("click", () =>
  download(`${fileBase()}.graphml`, toGraphml(state.graph, isVisible), "application/graphml+xml"));
$("export-png").addEventListener("click", async () =>
  download(`${fileBase()}.png`, await toPngBlob(state.renderer)));
$("logout").addEventListener("click", async () => {
  await fetch("/explore/logout", { method: "POST", credentials: "same-origin" });
  window.location.assign("/explore/login");
});

// For tests and the console: the live graph, the renderer and the page's actions.
window.explorer = {
  get graph() { return state.graph; },
  get renderer() { return state.renderer; },
  get selected() { return state.selected; },
  isVisible, openCircle, search, selectNode, expandSelected,
  exportGexf: () => toGexf(state.graph, isVisible),
  exportGraphml: () => toGraphml(state.graph, isVisible),
  ready: null,
};

window.explorer.ready = (async () => {
  const who = await fetch("/explore/whoami", { credentials: "same-origin" });
  if (!who.ok) { window.location.assign("/explore/login"); return; }
  const me = await who.json();
  $("whoami").textContent = `${me.subject} (${me.role})`;
  await run(loadLists);
  const wanted = new URLSearchParams(window.location.search).get("circle");
  if (wanted) await run(() => openCircle(wanted));
})();
