"""The insight report a CRM manager reads: one self-contained HTML file, plots as inline SVG.

No plotting library and no CDN: the charts are a few lines, polylines and bars, drawn here
so the file opens offline and the project carries no matplotlib.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from graph.catalogue import reason_features
from graph.locales import normalize, translator
from graph.warehouse import latest_cutoff_sql, table_exists
from insight.campaigns import evaluate_all
from insight.churn import reasons_in
from insight.tags import tag_counts
from insight.value import pareto_curve

__all__ = ["bar_chart", "line_chart", "render_report"]

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")
WIDTH, HEIGHT, PAD = 420, 300, 46


def _esc(text: Any) -> str:
    return html.escape(str(text))


def line_chart(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], *,
               title: str, x_label: str, y_label: str, diagonal: bool = False,
               x_max: float | None = None, y_max: float | None = None,
               dashed: Sequence[str] = ()) -> str:
    """An SVG line chart; ``diagonal`` draws the y = x reference (ROC, calibration)."""
    xs = [v for x, _ in series.values() for v in x]
    ys = [v for _, y in series.values() for v in y]
    x_hi = x_max if x_max is not None else (max(xs) if xs else 1.0) or 1.0
    y_hi = y_max if y_max is not None else (max(ys) if ys else 1.0) or 1.0
    w, h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD

    def px(x: float) -> float:
        return PAD + w * x / x_hi

    def py(y: float) -> float:
        return HEIGHT - PAD - h * y / y_hi

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{_esc(title)}">',
             f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" font-weight="bold">'
             f'{_esc(title)}</text>',
             f'<rect x="{PAD}" y="{PAD}" width="{w}" height="{h}" fill="none" stroke="#999"/>']
    for i in range(6):
        fx, fy = x_hi * i / 5, y_hi * i / 5
        parts.append(f'<text x="{px(fx):.1f}" y="{HEIGHT - PAD + 14}" text-anchor="middle" '
                     f'font-size="10">{fx:.2g}</text>')
        parts.append(f'<text x="{PAD - 4}" y="{py(fy) + 3:.1f}" text-anchor="end" '
                     f'font-size="10">{fy:.2g}</text>')
    parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT - 8}" text-anchor="middle" '
                 f'font-size="11">{_esc(x_label)}</text>')
    parts.append(f'<text x="12" y="{HEIGHT / 2}" text-anchor="middle" font-size="11" '
                 f'transform="rotate(-90 12 {HEIGHT / 2})">{_esc(y_label)}</text>')
    if diagonal:
        top = min(x_hi, y_hi)
        parts.append(f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(top):.1f}" y2="{py(top):.1f}" '
                     'stroke="#bbb" stroke-dasharray="4 3"/>')
    for i, (name, (x, y)) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        points = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(x, y, strict=True))
        dash = ' stroke-dasharray="6 3"' if name in dashed else ""
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} '
                     f'points="{points}"/>')
        parts.append(f'<text x="{PAD + 8}" y="{PAD + 14 + 13 * i}" font-size="11" '
                     f'fill="{colour}">{_esc(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(labels: Sequence[str], values: Sequence[float], *, title: str,
              y_label: str, reference: float | None = None) -> str:
    """An SVG bar chart; ``reference`` draws a horizontal line (e.g. lift = 1)."""
    w, h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    top = max([*values, reference or 0, 1e-9])
    step = w / max(len(values), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{_esc(title)}">',
             f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" font-weight="bold">'
             f'{_esc(title)}</text>',
             f'<text x="12" y="{HEIGHT / 2}" text-anchor="middle" font-size="11" '
             f'transform="rotate(-90 12 {HEIGHT / 2})">{_esc(y_label)}</text>']
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        bar_h = h * value / top
        x = PAD + i * step + step * 0.1
        parts.append(f'<rect x="{x:.1f}" y="{HEIGHT - PAD - bar_h:.1f}" width="{step * 0.8:.1f}"'
                     f' height="{bar_h:.1f}" fill="{PALETTE[0]}"/>')
        parts.append(f'<text x="{x + step * 0.4:.1f}" y="{HEIGHT - PAD - bar_h - 3:.1f}" '
                     f'text-anchor="middle" font-size="10">{value:.3g}</text>')
        parts.append(f'<text x="{x + step * 0.4:.1f}" y="{HEIGHT - PAD + 14}" '
                     f'text-anchor="middle" font-size="10">{_esc(label)}</text>')
    if reference is not None:
        y = HEIGHT - PAD - h * reference / top
        parts.append(f'<line x1="{PAD}" y1="{y:.1f}" x2="{WIDTH - PAD}" y2="{y:.1f}" '
                     'stroke="#d62728" stroke-dasharray="4 3"/>')
    parts.append("</svg>")
    return "".join(parts)


def _table(frame: pd.DataFrame, digits: int = 3) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float | np.floating):
            return "" if np.isnan(v) else f"{v:,.{digits}f}"
        return _esc(v)

    head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _heading(tag: str, text: str) -> str:
    return f"<{tag}>{_esc(text)}</{tag}>"


def _latest(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame | None:
    if not table_exists(con, table):
        return None
    return con.execute(f"SELECT * FROM {table} WHERE cutoff = {latest_cutoff_sql(table)}").df()


def render_report(con: duckdb.DuckDBPyConnection, model_meta: Mapping[str, Any],
                  manifest: Mapping[str, Any], *, locale: str | None = None) -> str:
    """The full report as an HTML string, its headings, charts and reasons in ``locale``.

    English by default (``graph.locales``); the figures' prose is English in every locale yet.
    """
    locale = normalize(locale)
    _ = translator(locale).gettext
    evaluation = model_meta["evaluation"]
    metrics = pd.DataFrame(evaluation["metrics"])
    curves = evaluation["curves"]
    sections: list[str] = []
    insight = manifest.get("insight", {})
    sections.append(
        _heading("h2", _("Summary")) + "<ul>"
        f"<li>Snapshot {_esc(manifest.get('derived_from', '—'))} scored as of "
        f"<b>{_esc(insight.get('cutoff', '—'))}</b>: "
        f"{insight.get('subscribers_scored', 0):,} subscribers.</li>"
        f"<li>Expected churners next month: "
        f"<b>{insight.get('expected_churners_next_month', 0):,.0f}</b>.</li>"
        f"<li>Top 20% of customers bring "
        f"<b>{insight.get('revenue_share_top_20pct', float('nan')):.0%}</b> of revenue.</li>"
        f"<li>Model {_esc(model_meta['model_id'])}, trained on "
        f"{model_meta['rows']:,} rows ({model_meta['churners']:,} churners), cut-offs "
        f"{_esc(', '.join(model_meta['cutoffs']))}.</li></ul>")

    cols = ["model", "features", "roc_auc", "pr_auc", "lift_top_decile", "brier", "ece", "n"]
    where = (f"train on {', '.join(evaluation.get('train_cutoffs', []))}, test on "
             f"{evaluation.get('test_cutoff')}" if evaluation["kind"] == "time split"
             else f"{evaluation.get('folds')}-fold stratified cross-validation")
    roc = {k: (v["fpr"], v["tpr"]) for k, v in curves["roc"].items()}
    lift = curves["lift"]
    best = next((k for k in lift if k.startswith("boosted")), "")
    lift_plot = bar_chart([str(d) for d in lift[best]["decile"]], lift[best]["lift"],
                          title=_("Lift by risk decile (boosted)"), y_label=_("lift"),
                          reference=1.0) if best in lift else ""
    capture = {k: ([0, *[d / 10 for d in v["decile"]]], [0, *v["captured"]])
               for k, v in lift.items()}
    calibration = {k: (v["predicted"], v["observed"]) for k, v in curves["calibration"].items()
                   if k.startswith("boosted")}
    cal_max = max([1e-3, *[max([*x, *y]) for x, y in calibration.values()]])
    sections.append(
        _heading("h2", _("Churn risk: how good is the model?"))
        + f"<p>{_esc(evaluation['kind'])}: "
        f"{_esc(where)}; {evaluation['rows']:,} subscribers, {evaluation['churners']:,} "
        "churners. Logistic regression is the baseline; “without graph” drops the call-circle "
        "features on the same split.</p>"
        + _table(metrics[[c for c in cols if c in metrics.columns]])
        + '<div class="plots">'
        + line_chart(roc, title=_("ROC"), x_label=_("false positive rate"),
                     y_label=_("true positive rate"), diagonal=True, x_max=1, y_max=1,
                     dashed=[k for k in roc if "without" in k])
        + lift_plot
        + line_chart(capture, title=_("Churners captured"), x_label=_("share contacted"),
                     y_label=_("share of churners"), diagonal=True, x_max=1, y_max=1,
                     dashed=[k for k in capture if "without" in k])
        + line_chart(calibration, title=_("Calibration"), x_label=_("predicted risk"),
                     y_label=_("observed churn rate"), diagonal=True, x_max=cal_max,
                     y_max=cal_max)
        + "</div>")

    capacity = model_meta.get("capacity")
    if capacity:
        tried = pd.DataFrame(capacity["cv_results"]).sort_values("cv_log_loss")
        chosen = ", ".join(f"{k} {v}" for k, v in capacity["best_params"].items())
        sections.append(
            "<h3>Capacity chosen on this operator's rows</h3><p>Chosen: "
            f"<b>{_esc(chosen)}</b>, out of {capacity['candidates']} candidates tried in "
            f"{capacity['seconds']:.1f}s, each judged by {capacity['folds']}-fold out-of-fold "
            "log loss (subscribers kept within one fold), trees counted by early stopping"
            f"{'' if capacity['complete'] else '; the time budget ended the search'}.</p>"
            + _table(tried[["stage", "num_leaves", "min_child_samples", "reg_lambda",
                            "learning_rate", "n_estimators", "cv_log_loss", "cv_roc_auc",
                            "cv_pr_auc"]], 4))

    scores = _latest(con, "churn_scores")
    if scores is not None and len(scores):
        top = scores.sort_values("churn_risk", ascending=False).head(15)
        reasons = top["reasons"].map(lambda r: "; ".join(reasons_in(r, locale)))
        show = top[["subscription_id", "msisdn", "churn_risk"]].assign(reasons=reasons.values)
        feature_counts = (scores.loc[scores["risk_decile"] == 1, "reasons"]
                          .map(reason_features).explode().value_counts().head(10))
        sections.append(
            _heading("h2", _("Whom to call this week")) + _table(show)
            + _heading("h3", _("Most common reasons in the riskiest decile"))
            + _table(feature_counts.rename_axis("feature").reset_index(name="subscribers")))

    value = _latest(con, "customer_value")
    if value is not None and len(value):
        curve = pareto_curve(value["monthly_revenue"])
        tiers = value.groupby("value_tier").agg(
            customers=("customer_id", "size"), monthly_revenue=("monthly_revenue", "sum"),
            clv=("clv", "sum"), mean_churn_risk=("churn_risk", "mean"),
            network_value=("network_value", "sum")).sort_values("clv", ascending=False)
        tiers["revenue_share"] = tiers["monthly_revenue"] / tiers["monthly_revenue"].sum()
        top_network = value.sort_values("network_value", ascending=False).head(10)[
            ["customer_id", "value_tier", "clv", "network_value", "churn_risk"]]
        tiers, top_network = (frame.assign(value_tier=frame["value_tier"].map(_))
                              for frame in (tiers.reset_index(), top_network))
        sections.append(
            _heading("h2", _("Value")) + _table(tiers, 2)
            + '<div class="plots">'
            + line_chart({"revenue": (curve["subscribers"], curve["value"])},
                         title=_("Pareto: revenue by share of customers"),
                         x_label=_("share of customers (richest first)"),
                         y_label=_("share of revenue"), diagonal=True, x_max=1, y_max=1)
            + "</div>"
            + _heading("h3", _("Highest network value (what their leaving would put at risk)"))
            + _table(top_network, 2))

    segments = _latest(con, "segments")
    if segments is not None and len(segments):
        sections.append(
            _heading("h2", _("Segments"))
            + _table(segments[["segment_id", "subscribers", "share", "profile"]])
            + bar_chart([str(s) for s in segments["segment_id"]],
                        list(segments["share"]), title=_("Segment sizes"), y_label=_("share")))
        movement = insight.get("segment_movement")
        if movement:
            table = pd.DataFrame(movement).fillna(0).astype(int)
            sections.append(_heading("h3", _("Movement since the previous run (rows: before)"))
                            + _table(table.rename_axis("from").reset_index()))

    tags = pd.DataFrame(tag_counts(con))
    if len(tags):
        sections.append(
            _heading("h2", _("Customer tags"))
            + "<p>Customers per tag of the business-feature rule library "
            f"(version {_esc(tags['rule_version'].max())}).</p>"
            + _table(tags[["scheme", "label", "expression", "customers"]]))

    campaigns = evaluate_all(con) if table_exists(con, "campaign_contacts") else pd.DataFrame()
    if len(campaigns):
        shown = campaigns[["campaign_id", "treated", "control", "treated_response_rate",
                           "control_response_rate", "response_uplift", "uplift_low",
                           "uplift_high", "retention_uplift", "incremental_revenue", "cost",
                           "roi"]].rename(columns={
            "campaign_id": "campaign", "treated_response_rate": "response",
            "control_response_rate": "control resp.", "response_uplift": "uplift",
            "uplift_low": "95% low", "uplift_high": "95% high",
            "retention_uplift": "retention uplift", "incremental_revenue": "incr. revenue"})
        sections.append(
            _heading("h2", _("Campaigns: treated against control"))
            + "<p>Response uplift is the treated "
            "response rate minus the control group's, with its 95% Newcombe interval; an "
            "interval that contains 0 means the campaign's effect is not shown.</p>"
            + _table(shown)
            + bar_chart(list(campaigns["campaign_id"]), list(campaigns["response_uplift"]),
                        title=_("Response uplift"), y_label=_("uplift")))

    importance = pd.Series(model_meta.get("feature_importance", {})).head(15)
    if len(importance):
        sections.append(_heading("h2", _("What drives churn risk (gain)"))
                        + bar_chart(list(importance.index), list(importance.values),
                                    title=_("Feature importance"), y_label=_("gain"))
                        .replace(f'width="{WIDTH}"', f'width="{WIDTH * 2}"', 1))
    versions = ", ".join(f"{k} {v}" for k, v in model_meta.get("libraries", {}).items())
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;"
             "color:#222}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid"
             " #ddd;padding:3px 8px;font-size:13px;text-align:right}th{background:#f4f4f4}"
             ".plots{display:flex;flex-wrap:wrap;gap:12px}svg{font-family:inherit}")
    return (f"<!DOCTYPE html><html lang=\"{locale}\"><head><meta charset=\"utf-8\">"
            + _heading("title", _("callcircle insight report"))
            + f"<style>{style}</style></head><body>"
            + _heading("h1", _("callcircle — churn risk, value and segments"))
            + "".join(sections)
            + f"<p><small>Libraries: {_esc(versions)}</small></p></body></html>")


