// The call-circle explorer: search, draw a circle with sigma (WebGL), inspect, filter, export.
import { Graph, Sigma, forceAtlas2 } from "./vendor/graphlibs.js";
import {
  AuthRequired, CIRCLE_GRAPH, CIRCLE_OF_CUSTOMER, CIRCLE_OF_NUMBER, CUSTOMER_360, LISTS,
  NEIGHBOURHOOD, gql,
} from "./api.js";
import { barChart } from "./charts.js";
import { download, toGexf, toGraphml, toPngBlob } from "./exporters.js";
import {
  formatMoney, formatMonth, formatNumber, formatPercent, locale, localeSwitch, t, tierLabel, word,
} from "./i18n.js";
import { placeLabels } from "./labels.js";

const $ = (id) => document.getElementById(id);
const MAX_NODES = 3000;
const COLORS = { unknown: "#7f8fa6", churned: "#2b2d42", offnet: "#c9ced8" };

const state = {
  graph: new Graph({ type: "undirected" }),
  renderer: null,
  circle: null,
  selected: null,
  hovered: null,
  focused: null, // the node the keyboard is on
  labels: [], // the label boxes drawn last (viewport pixels)
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
    label: (node.isInfluencer ? "★ " : "") + (node.churned ? "✕ " : "") + (c?.name || node.number),
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
    // labels are placed by labels.js after each render, so that none overlaps another
    renderLabels: false,
    defaultDrawNodeHover: drawHoverRing,
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
      if (node === state.selected || node === state.focused) {
        out.highlighted = true; out.zIndex = 2; out.forceLabel = true;
      }
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
  state.renderer.on("clickStage", () => closeNode());
  state.renderer.on("afterRender", drawLabels);
}

// --- labels and the keyboard's focus ring ------------------------------------------------

const LABEL_SIZE = 12;
const LABEL_MIN_NODE_PX = 2; // below this drawn radius only forced labels are candidates

function drawHoverRing(context, data) {
  context.beginPath();
  context.arc(data.x, data.y, data.size + 3, 0, 2 * Math.PI);
  context.strokeStyle = "#1d2433";
  context.lineWidth = 2;
  context.stroke();
}

function labelCandidates() {
  const r = state.renderer;
  const { width, height } = r.getDimensions();
  const out = [];
  state.graph.forEachNode((node) => {
    const d = r.getNodeDisplayData(node);
    if (!d || d.hidden || !d.label) return;
    const p = r.framedGraphToViewport(d);
    if (p.x < 0 || p.y < 0 || p.x > width || p.y > height) return; // off the view
    const radius = r.scaleSize(d.size);
    const first = node === state.selected || node === state.focused || node === state.hovered;
    const priority = first ? 0 : d.forceLabel ? 1 : 2;
    if (priority === 2 && radius < LABEL_MIN_NODE_PX) return;
    out.push({ node, label: d.label, x: p.x, y: p.y, radius, priority });
  });
  // the selected, focused and hovered first, then influencers, then the biggest
  return out.sort((a, b) => a.priority - b.priority || b.radius - a.radius);
}

const labelWidths = new Map(); // text → pixels in labelWidths.font: a redraw measures nothing new

function drawLabels() {
  const r = state.renderer;
  const canvas = r.getCanvases().labels;
  const context = canvas.getContext("2d");
  const { width, height } = r.getDimensions();
  context.clearRect(0, 0, width, height);
  const font = `${LABEL_SIZE}px ${getComputedStyle(document.body).fontFamily}`;
  context.font = font;
  if (labelWidths.font !== font) { labelWidths.font = font; labelWidths.clear(); }
  const measure = (text) => {
    if (!labelWidths.has(text)) labelWidths.set(text, context.measureText(text).width);
    return labelWidths.get(text);
  };
  state.labels = placeLabels(labelCandidates(), { width, height, size: LABEL_SIZE, measure });
  context.textBaseline = "middle";
  context.lineJoin = "round";
  for (const box of state.labels) {
    context.lineWidth = 3;
    context.strokeStyle = "rgba(255,255,255,0.9)";
    context.strokeText(box.label, box.x, box.y + box.height / 2);
    context.fillStyle = "#1d2433";
    context.fillText(box.label, box.x, box.y + box.height / 2);
  }
  if (state.focused && document.activeElement === $("graph") && state.graph.hasNode(state.focused)) {
    const d = r.getNodeDisplayData(state.focused);
    const p = r.framedGraphToViewport(d);
    context.beginPath();
    context.arc(p.x, p.y, r.scaleSize(d.size) + 5, 0, 2 * Math.PI);
    context.strokeStyle = "#1f6feb";
    context.lineWidth = 3;
    context.stroke();
  }
}

function updateCount() {
  const shown = state.graph.filterNodes(isVisible).length;
  $("graph-count").textContent = t("graph.count", {
    shown: formatNumber(shown, 0), drawn: formatNumber(state.graph.order, 0),
    ties: formatNumber(state.graph.size, 0) });
  $("graph-empty").hidden = state.graph.order > 0;
  for (const id of ["export-gexf", "export-graphml", "export-png", "relayout"]) {
    $(id).disabled = state.graph.order === 0;
  }
}

// --- loading a circle -------------------------------------------------------------------

async function openCircle(circleId) {
  setStatus(t("status.loading", { circle: circleId }));
  const data = await gql(CIRCLE_GRAPH, { id: String(circleId), max: MAX_NODES });
  const g = data.circleGraph;
  if (!g) { setStatus(t("status.noCircle", { circle: circleId })); return; }
  state.graph.clear();
  state.selected = null;
  state.hovered = null;
  state.focused = null;
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
  setStatus(g.truncated ? t("status.truncated", { circle: circleId, count: g.nodes.length }) : "");
}

function fillFilterChoices() {
  const tiers = new Set(), tags = new Set();
  state.graph.forEachNode((_, a) => { if (a.tier) tiers.add(a.tier); a.tags.forEach((t) => tags.add(t)); });
  for (const [id, values] of [["filter-tier", tiers], ["filter-tag", tags]]) {
    const select = $(id);
    const current = select.value;
    const label = id === "filter-tier" ? tierLabel : (v) => v;
    select.replaceChildren(new Option(t("filters.any"), ""),
      ...[...values].sort().map((v) => new Option(label(v), v)));
    select.value = values.has(current) ? current : "";
  }
}

const fmt = formatNumber;
const pct = formatPercent;

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

// A list item that acts like a button: Tab reaches it, Enter or Space opens it, the arrow keys
// move to the item above or below.
function actionable(li, action) {
  li.tabIndex = 0;
  li.setAttribute("role", "button");
  li.classList.add("link");
  li.addEventListener("click", action);
  li.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); action(); }
    const next = { ArrowDown: li.nextElementSibling, ArrowUp: li.previousElementSibling }[event.key];
    if (next) { event.preventDefault(); next.focus(); }
  });
}

function showCircle(circle, g) {
  $("circle-panel").hidden = false;
  $("circle-id").textContent = circle.circleId;
  fillStats($("circle-stats"), [
    [t("circle.members"), fmt(circle.members.totalCount, 0)], [t("circle.onNet"), fmt(circle.onNetMembers, 0)],
    [t("circle.density"), fmt(circle.density, 3)], [t("circle.churned"), fmt(circle.churnedMembers, 0)],
    [t("circle.churnRate"), pct(circle.churnRate)], [t("circle.totalValue"), formatMoney(circle.totalValue)],
    [t("circle.meanValue"), formatMoney(circle.meanValue)], [t("circle.internalShare"), pct(circle.internalShare)],
    [t("circle.dominantPlan"), circle.dominantPlan ? `${circle.dominantPlan} (${pct(circle.dominantPlanShare)})` : "–"],
    [t("circle.cutoff"), formatMonth(g.cutoff)],
  ]);
  listItems($("circle-influencers"), circle.influencers.map((m) => t("circle.influencer.item", {
    number: m.number, customer: m.customer?.customerId ?? "–", score: fmt(m.pagerank, 4) })));
  [...$("circle-influencers").children].forEach((li, i) => {
    const id = circle.influencers[i].customer?.customerId;
    const node = id && state.graph.findNode((_, a) => a.customer === id && a.influencer);
    if (node) actionable(li, () => run(() => selectNode(node)));
  });
  const label = (p) => formatMonth(p.cutoff);
  barChart($("chart-size"), g.history.map((p) => ({ label: label(p), value: p.size })),
    { empty: t("chart.noHistory") });
  barChart($("chart-churn"), g.history.map((p) => ({ label: label(p), value: p.churnRate })),
    { format: (v) => (v == null ? "–" : `${(100 * v).toFixed(0)}%`), className: "churn",
      empty: t("chart.noHistory") });
  listItems($("circle-lineage"), g.lineage.length ? g.lineage.map((l) => t(
    l.kind === "split" ? "circle.split" : "circle.merge", { month: formatMonth(l.cutoff),
      previous: l.previousCircleId, circle: l.circleId, overlap: l.overlap, size: l.previousSize }))
    : [t("circle.noLineage")]);
}

// --- a node's panel ---------------------------------------------------------------------

async function selectNode(node) {
  state.selected = node;
  state.renderer.refresh();
  const a = state.graph.getNodeAttributes(node);
  $("node-panel").hidden = false;
  $("node-title").textContent = a.customer
    ? t("node.customer", { customer: a.customer }) : t("node.number", { number: a.number });
  $("node-panel").dataset.node = node;
  $("node-panel").dataset.customer = a.customer ?? "";
  const yesNo = (v) => t(v ? "yes" : "no");
  const base = [[t("stat.number"), a.number],
    [t("stat.onNet"), a.onNet ? t("yes") : t("stat.offNetOf", { operator: a.operator ? word("operator", a.operator) : t("stat.otherOperator") })],
    [t("stat.churned"), yesNo(a.churned)], [t("stat.influencer"), yesNo(a.influencer)],
    [t("stat.circle"), a.circle ?? "–"]];
  fillStats($("node-stats"), base);
  listItems($("node-reasons"), []);
  listItems($("node-lines"), []);
  if (!a.customer) return;
  const { customer: c } = await gql(CUSTOMER_360, { id: a.customer });
  if (state.selected !== node || !c) return;
  const risk = c.churnRisk;
  fillStats($("node-stats"), [
    [t("stat.name"), c.name ?? "–"], ...base, [t("stat.type"), word("type", c.customerType)],
    [t("stat.region"), c.region ?? "–"], [t("stat.joined"), formatMonth(c.joinDate)],
    [t("stat.risk"), risk ? t("stat.riskValue", { risk: fmt(risk.probability, 3), decile: risk.riskDecile ?? "–" })
      : t("stat.notScored")],
    [t("stat.tier"), tierLabel(c.value?.valueTier)], [t("stat.arpu"), formatMoney(c.value?.monthlyRevenue)],
    [t("stat.clv"), formatMoney(c.value?.clv)], [t("stat.networkValue"), formatMoney(c.value?.networkValue)],
    [t("stat.segment"), c.segment ? `${c.segment.segmentId} ${c.segment.profile ?? ""}` : "–"],
    [t("stat.arrears"), formatMoney(c.bills?.arrears)], [t("stat.tags"), c.tags.join(", ") || "–"],
  ]);
  listItems($("node-reasons"), risk?.reasons?.length ? risk.reasons : [t("node.noReasons")]);
  listItems($("node-lines"), c.subscriptions.map(
    (s) => `${s.msisdn} · ${word("line", s.status)} · ${s.product?.name ?? "–"}`));
}

async function expandSelected() {
  const node = state.selected;
  if (!node) return;
  setStatus(t("status.expanding"));
  const { neighbourhood: n } = await gql(NEIGHBOURHOOD, { key: node, first: 30 });
  const before = state.graph.order;
  addNodes(n.nodes, state.graph.getNodeAttributes(node));
  addEdges(n.edges);
  layout(20);
  fillFilterChoices();
  state.renderer.refresh();
  updateCount();
  setStatus(t("status.added", { count: state.graph.order - before }));
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
  if (!c) { setStatus(t("status.noCustomer", { value })); return; }
  if (!c.circle) { setStatus(t("status.noCircleOf", { customer: c.customerId })); return; }
  await openCircle(c.circle.circleId);
  const node = state.graph.findNode((_, a) => a.customer === c.customerId);
  if (node) await selectNode(node);
}

async function loadLists() {
  const data = await gql(LISTS);
  const risky = $("risky-circles");
  risky.replaceChildren(...data.circles.edges.map(({ node }) => {
    const li = document.createElement("li");
    li.textContent = t("lists.risky.item", { circle: node.circleId, size: fmt(node.size, 0),
      rate: pct(node.churnRate) });
    li.dataset.circle = node.circleId;
    actionable(li, () => run(() => openCircle(node.circleId)));
    return li;
  }));
  if (!risky.children.length) listItems(risky, [t("lists.empty")]);
  const prospects = $("prospects");
  prospects.replaceChildren(...data.prospects.edges.map(({ node }) => {
    const li = document.createElement("li");
    li.textContent = t("lists.prospect.item", { number: node.number,
      operator: node.operator ? word("operator", node.operator) : t("unknown"),
      customers: fmt(node.distinctCustomers, 0) });
    const circle = node.referrers.find((r) => r.customer?.circle)?.customer.circle.circleId;
    if (circle) {
      li.title = t("lists.prospect.open", { circle });
      actionable(li, () => run(() => openCircle(circle)));
    }
    return li;
  }));
  if (!prospects.children.length) listItems(prospects, [t("lists.empty")]);
}

// --- wiring -----------------------------------------------------------------------------

function setStatus(text) { $("status").textContent = text; }

async function run(task) {
  try {
    await task();
  } catch (error) {
    if (error instanceof AuthRequired) { window.location.assign("/explore/login"); return; }
    setStatus(t("status.error", { message: error.message }));
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
$("node-close").addEventListener("click", () => closeNode());
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

// --- the keyboard ----------------------------------------------------------------------
// The graph takes the focus (Tab); an arrow key moves to the nearest visible number in that
// direction, Enter opens its details, Escape closes them. Lists and buttons are reached by Tab.

function closeNode() {
  state.selected = null;
  $("node-panel").hidden = true;
  if ($("side").contains(document.activeElement)) $("graph").focus();
  state.renderer?.refresh();
}

function viewportOf(node) {
  return state.renderer.graphToViewport(state.graph.getNodeAttributes(node));
}

function nearestInDirection(from, dx, dy) {
  const p = viewportOf(from);
  let best = null, bestScore = Infinity;
  state.graph.forEachNode((node) => {
    if (node === from || !isVisible(node)) return;
    const q = viewportOf(node);
    const along = (q.x - p.x) * dx + (q.y - p.y) * dy;
    const across = Math.abs((q.x - p.x) * dy - (q.y - p.y) * dx);
    if (along <= 0) return;
    const score = along + 2 * across;
    if (score < bestScore) { bestScore = score; best = node; }
  });
  return best;
}

function focusNode(node) {
  state.focused = node;
  const a = state.graph.getNodeAttributes(node);
  $("graph-focus").textContent = t("graph.focus", {
    label: a.label, risk: a.risk == null ? t("stat.notScored") : fmt(a.risk, 3) });
  const p = viewportOf(node), { width, height } = state.renderer.getDimensions();
  if (p.x < 0 || p.y < 0 || p.x > width || p.y > height) {
    state.renderer.getCamera().animate(state.renderer.getNodeDisplayData(node), { duration: 200 });
  }
  state.renderer.refresh({ skipIndexation: true });
}

$("graph").addEventListener("keydown", (event) => {
  if (!state.renderer || state.graph.order === 0) return;
  const direction = { ArrowRight: [1, 0], ArrowLeft: [-1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[event.key];
  if (direction) {
    event.preventDefault();
    const current = state.focused && state.graph.hasNode(state.focused) && isVisible(state.focused)
      ? state.focused : null;
    // the first arrow lands on the most central drawn number (members come by PageRank)
    const next = current ? nearestInDirection(current, ...direction) : state.graph.findNode(isVisible);
    if (next) focusNode(next);
  } else if (event.key === "Enter" && state.focused) {
    event.preventDefault();
    run(() => selectNode(state.focused));
  }
});
$("graph").addEventListener("focus", () => state.renderer?.refresh({ skipIndexation: true }));
$("graph").addEventListener("blur", () => state.renderer?.refresh({ skipIndexation: true }));
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !$("node-panel").hidden) { event.preventDefault(); closeNode(); }
});

// For tests and the console: the live graph, the renderer and the page's actions.
window.explorer = {
  get graph() { return state.graph; },
  get renderer() { return state.renderer; },
  get selected() { return state.selected; },
  get focused() { return state.focused; },
  get labels() { return state.labels.map((b) => ({ ...b })); },
  labelCandidates: () => (state.renderer ? labelCandidates().length : 0),
  locale, format: { money: formatMoney, month: formatMonth },
  isVisible, openCircle, search, selectNode, expandSelected,
  exportGexf: () => toGexf(state.graph, isVisible),
  exportGraphml: () => toGraphml(state.graph, isVisible),
  ready: null,
};

localeSwitch($("locale-switch"));
updateCount();

window.explorer.ready = (async () => {
  const who = await fetch("/explore/whoami", { credentials: "same-origin" });
  if (!who.ok) { window.location.assign("/explore/login"); return; }
  const me = await who.json();
  $("whoami").textContent = t("whoami", { subject: me.subject, role: word("role", me.role) });
  await run(loadLists);
  const wanted = new URLSearchParams(window.location.search).get("circle");
  if (wanted) await run(() => openCircle(wanted));
})();
