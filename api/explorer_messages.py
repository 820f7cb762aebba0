"""The explorer page's words: one table of catalog messages, rendered into its HTML.

Every word the page shows is here, marked ``N_`` so ``python -m graph.locales`` extracts
it into the one catalog (``graph/locale``) beside the report's and the commands'. The
server fills the page's ``{{key}}`` slots with the translation, sets ``<html lang>``, and
hands the whole translated table (with the value tier names) to the page's code as a JSON
data block, which ``i18n.js`` reads; fields such as ``{count}`` are filled in the page.
"""

from __future__ import annotations

import html
import json
import re
from functools import lru_cache
from pathlib import Path

from graph.locales import N_, normalize, translator
from insight.value import DEFAULT_TIER_LABELS

__all__ = ["LANGUAGE_NAMES", "MESSAGES", "page_messages", "render_page"]

LANGUAGE_NAMES: dict[str, str] = {"en": "English", "zh-CN": "中文"}
"""The locale switch names each language in itself (not translated: a reader who does not
read the page's current language still finds their own)."""

MESSAGES: dict[str, str] = {
    # the sign-in page
    "login.title": N_("callcircle explorer · sign in"),
    "login.intro": N_("Sign in with your API key. The browser keeps a session for 8 hours; "
                      "the key itself is not stored."),
    "login.key": N_("API key"),
    "login.submit": N_("Sign in"),
    "login.rejected": N_("This API key is not valid."),
    "login.failed": N_("Sign-in failed ({status})."),
    # header
    "page.title": N_("callcircle explorer"),
    "locale.label": N_("Language"),
    "search.kind": N_("Search by"),
    "search.auto": N_("guess from the text"),
    "search.customer": N_("customer id"),
    "search.phone": N_("phone number"),
    "search.circle": N_("circle id"),
    "search.label": N_("Search"),
    "search.placeholder": N_("customer id, +8613… or circle id"),
    "search.button": N_("Search"),
    "logout": N_("Sign out"),
    "whoami": N_("{subject} ({role})"),
    "role.app": N_("application"),
    "role.analyst": N_("analyst"),
    "role.admin": N_("administrator"),
    # lists
    "lists.risky": N_("Circles most at risk"),
    "lists.prospects": N_("Largest prospects"),
    "lists.risky.item": N_("circle {circle} · {size} members · churn rate {rate}"),
    "lists.prospect.item": N_("{number} ({operator}) · talks to {customers} customers"),
    "lists.prospect.open": N_("open circle {circle} of its strongest referrer"),
    "lists.empty": N_("none"),
    "unknown": N_("unknown"),
    # filters
    "filters.title": N_("Filter"),
    "filters.risk": N_("minimum churn risk"),
    "filters.tier": N_("value tier"),
    "filters.tag": N_("customer tag"),
    "filters.any": N_("any"),
    "filters.offnet": N_("off-net numbers"),
    # legend
    "legend.title": N_("Legend"),
    "legend.colour": N_("Node colour: churn risk"),
    "legend.risk.low": N_("low"),
    "legend.risk.high": N_("high"),
    "legend.unknown": N_("on-net, not scored"),
    "legend.churned": N_("✕ churned (left the network)"),
    "legend.offnet": N_("off-net number (another operator)"),
    "legend.influencer": N_("★ influencer (label always shown)"),
    "legend.size": N_("Node size: customer lifetime value"),
    "legend.size.small": N_("low value"),
    "legend.size.large": N_("high value"),
    "legend.edge": N_("Edge width: tie strength (calls, SMS, minutes)"),
    "legend.edge.thin": N_("weak tie"),
    "legend.edge.thick": N_("strong tie"),
    "legend.keys": N_("Keyboard: arrow keys move between numbers, Enter opens one, "
                      "Escape closes it."),
    # the graph
    "graph.label": N_("Call circle graph. Arrow keys move between numbers, Enter opens the "
                      "details, Escape closes them."),
    "graph.count": N_("{shown} of {drawn} numbers · {ties} ties"),
    "graph.focus": N_("{label}: churn risk {risk}"),
    "graph.empty": N_("Search for a customer, a number or a circle, or pick a circle from "
                      "the list."),
    "export.gexf": N_("Download the visible graph as GEXF (Gephi)"),
    "export.graphml": N_("Download the visible graph as GraphML"),
    "export.png": N_("Download the visible graph as a PNG picture"),
    "relayout": N_("Re-layout"),
    # the status line
    "status.loading": N_("loading circle {circle}…"),
    "status.noCircle": N_("no circle {circle}"),
    "status.truncated": N_("circle {circle}: the first {count} members are drawn"),
    "status.expanding": N_("expanding…"),
    "status.added": N_("{count} numbers added"),
    "status.noCustomer": N_("no customer for {value}"),
    "status.noCircleOf": N_("customer {customer} is in no circle"),
    "status.error": N_("Something went wrong: {message}"),
    # a node's panel
    "node.customer": N_("Customer {customer}"),
    "node.number": N_("Number {number}"),
    "node.expand": N_("Expand neighbours"),
    "node.close": N_("Close"),
    "node.reasons": N_("Churn reasons"),
    "node.lines": N_("Lines"),
    "node.noReasons": N_("no reasons (not scored)"),
    "stat.number": N_("number"),
    "stat.onNet": N_("on-net"),
    "stat.offNetOf": N_("no ({operator})"),
    "stat.otherOperator": N_("other operator"),
    "stat.churned": N_("churned"),
    "stat.influencer": N_("influencer"),
    "stat.circle": N_("circle"),
    "stat.name": N_("name"),
    "stat.type": N_("type"),
    "stat.region": N_("region"),
    "stat.joined": N_("joined"),
    "stat.risk": N_("churn risk"),
    "stat.riskValue": N_("{risk} (decile {decile})"),
    "stat.notScored": N_("not scored"),
    "stat.tier": N_("value tier"),
    "stat.arpu": N_("ARPU"),
    "stat.clv": N_("CLV"),
    "stat.networkValue": N_("network value"),
    "stat.segment": N_("segment"),
    "stat.arrears": N_("arrears"),
    "stat.tags": N_("tags"),
    "yes": N_("yes"),
    "no": N_("no"),
    "type.individual": N_("individual"),
    "type.enterprise": N_("enterprise"),
    "type.group": N_("group"),
    "line.active": N_("active"),
    "line.suspended": N_("suspended"),
    "line.terminated": N_("terminated"),
    # operators as phonenumbers names them in English (the numbers' carrier)
    "operator.china-mobile": N_("China Mobile"),
    "operator.china-unicom": N_("China Unicom"),
    "operator.china-telecom": N_("China Telecom"),
    "operator.china-broadnet": N_("China Broadnet"),
    # the circle's panel
    "circle.heading": N_("Circle"),
    "circle.members": N_("members"),
    "circle.onNet": N_("on-net members"),
    "circle.density": N_("density"),
    "circle.churned": N_("churned members"),
    "circle.churnRate": N_("churn rate"),
    "circle.totalValue": N_("total value"),
    "circle.meanValue": N_("mean value"),
    "circle.internalShare": N_("internal share"),
    "circle.dominantPlan": N_("dominant plan"),
    "circle.cutoff": N_("cut-off"),
    "circle.influencers": N_("Influencers"),
    "circle.influencer.item": N_("{number} · {customer} · PageRank {score}"),
    "circle.size": N_("Size over cut-offs"),
    "circle.churn": N_("Churn rate over cut-offs"),
    "circle.lineage": N_("Splits and merges"),
    "circle.split": N_("{month}: split from {previous} → {circle} ({overlap} of {size})"),
    "circle.merge": N_("{month}: {previous} merged into {circle} ({overlap} of {size})"),
    "circle.noLineage": N_("none recorded"),
    "chart.noHistory": N_("no history"),
}
"""Key → English message (the catalog's msgid). Keys are what the page's code and HTML name."""

_SLOT = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")


@lru_cache(maxsize=8)
def page_messages(locale: str) -> dict[str, object]:
    """What the page's code needs: its locale, every message translated, and tier names."""
    locale = normalize(locale)
    gettext = translator(locale).gettext
    return {"locale": locale,
            "messages": {key: gettext(message) for key, message in MESSAGES.items()},
            "tiers": {tier: gettext(tier) for tier in DEFAULT_TIER_LABELS},
            "languages": LANGUAGE_NAMES}


def render_page(template: Path, locale: str) -> str:
    """A page template with its ``{{key}}`` slots filled in ``locale``.

    ``{{lang}}`` is the BCP 47 tag, ``{{messages}}`` the JSON of :func:`page_messages`
    (escaped for a ``<script type="application/json">`` block); an unknown key raises.
    """
    table = page_messages(locale)
    messages: dict[str, str] = table["messages"]  # type: ignore[assignment]
    data = json.dumps(table, ensure_ascii=False).replace("</", "<\\/")

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key == "lang":
            return str(table["locale"])
        if key == "messages":
            return data
        return html.escape(messages[key])

    return _SLOT.sub(fill, _read(template))


@lru_cache(maxsize=4)
def _read(template: Path) -> str:
    return template.read_text(encoding="utf-8")
