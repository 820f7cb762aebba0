// The page's words and figures in its locale. The words are the server's translation of the
// one catalog (api/explorer_messages.py → graph/locale), handed over as a JSON data block;
// money and months mirror graph.locales.format_money / format_month (a test compares them).

const table = JSON.parse(document.getElementById("messages").textContent);

export const locale = table.locale;

// A message with its {fields} filled; a key the catalog lacks is a bug, so it throws.
export function t(key, fields = {}) {
  const message = table.messages[key];
  if (message === undefined) throw new Error(`no message ${key}`);
  return message.replace(/\{(\w+)\}/g, (whole, name) => (name in fields ? String(fields[name]) : whole));
}

// A data code shown as a word where the catalog has one (type.enterprise, line.active,
// operator.china-unicom …); other codes are shown as they are.
export function word(prefix, code) {
  if (code == null) return "–";
  const message = table.messages[`${prefix}.${String(code).toLowerCase().replace(/\s+/g, "-")}`];
  return message === undefined ? String(code) : message;
}

export const tierLabel = (tier) => (tier == null ? "–" : table.tiers[tier] ?? tier);

const TEN_THOUSAND = 10000;

// Python's round(): half to even, which format_money applies to whole yuan.
function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// Yuan as the locale writes them: ¥12,345; in zh-CN ¥1.2万 from 10,000 on.
export function formatMoney(amount, loc = locale) {
  if (amount == null || Number.isNaN(Number(amount))) return "–";
  const sign = amount < 0 ? "-" : "";
  const yuan = roundHalfEven(Math.abs(amount));
  const figure = loc === "zh-CN" && yuan >= TEN_THOUSAND
    ? new Intl.NumberFormat("zh-CN", { notation: "compact", maximumFractionDigits: 1,
      roundingMode: "halfEven" }).format(yuan)
    : new Intl.NumberFormat(loc, { maximumFractionDigits: 0, useGrouping: true }).format(yuan);
  return `${sign}¥${figure}`;
}

// A month ("2026-07" or "2026-07-01") as the locale writes it: July 2026, 2026年7月.
export function formatMonth(isoDate, loc = locale) {
  if (!isoDate) return "–";
  const [year, month] = String(isoDate).split("-").map(Number);
  return new Intl.DateTimeFormat(loc, { year: "numeric", month: "long", timeZone: "UTC" })
    .format(new Date(Date.UTC(year, month - 1, 1)));
}

export function formatNumber(value, digits = 2, loc = locale) {
  return value == null ? "–" : Number(value).toLocaleString(loc, { maximumFractionDigits: digits });
}

export function formatPercent(value, loc = locale) {
  if (value == null) return "–";
  const figure = (100 * value).toLocaleString(loc, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  return loc === "zh-CN" ? `${figure}%` : `${figure} %`;
}

// The switch between locales: choosing one reloads the page with ?locale=, which the server
// keeps in a cookie; the page's other parameters (?circle=) stay.
export function localeSwitch(select) {
  select.replaceChildren(...Object.entries(table.languages).map(([tag, name]) => {
    const option = new Option(name, tag, false, tag === locale);
    option.lang = tag;
    return option;
  }));
  select.addEventListener("change", () => {
    const url = new URL(window.location.href);
    url.searchParams.set("locale", select.value);
    window.location.assign(url.toString());
  });
}
