"""The insight report a CRM manager reads: one self-contained HTML file, plots as inline SVG.

No plotting library and no CDN: the charts are a few lines, polylines and bars, drawn here
so the file opens offline and the project carries no matplotlib.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from graph.catalogue import feature_label, reason_features
from graph.circles import size_distribution
from graph.locales import DEFAULT_LOCALE, N_, normalize, translator
from graph.warehouse import latest_cutoff_sql, table_exists
from insight.campaigns import evaluate_all
from insight.churn import reasons_in
from insight.segments import profile_in
from insight.tags import label_in, scheme_name, tag_counts
from insight.value import pareto_curve, tier_movement

__all__ = ["bar_chart", "hbar_chart", "heat_map", "line_chart", "render_report"]

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


def _figure(value: float) -> str:
    """A bar's figure: counts whole and grouped (2,553), other values to 3 digits."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:.3g}"


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
                     f'text-anchor="middle" font-size="10">{_figure(value)}</text>')
        parts.append(f'<text x="{x + step * 0.4:.1f}" y="{HEIGHT - PAD + 14}" '
                     f'text-anchor="middle" font-size="10">{_esc(label)}</text>')
    if reference is not None:
        y = HEIGHT - PAD - h * reference / top
        parts.append(f'<line x1="{PAD}" y1="{y:.1f}" x2="{WIDTH - PAD}" y2="{y:.1f}" '
                     'stroke="#d62728" stroke-dasharray="4 3"/>')
    parts.append("</svg>")
    return "".join(parts)


def hbar_chart(labels: Sequence[str], values: Sequence[float], *, title: str,
               x_label: str) -> str:
    """An SVG bar chart lying down: one row per label, so long labels (tags, reasons) read."""
    row, label_w = 18, 190
    height = 2 * PAD + row * max(len(values), 1)
    w = WIDTH * 2 - label_w - PAD
    top = max([*values, 1e-9])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH * 2}" height="{height}" '
             f'viewBox="0 0 {WIDTH * 2} {height}" role="img" aria-label="{_esc(title)}">',
             f'<text x="{WIDTH}" y="16" text-anchor="middle" font-weight="bold">'
             f'{_esc(title)}</text>',
             f'<text x="{label_w + w / 2:.1f}" y="{height - 8}" text-anchor="middle" '
             f'font-size="11">{_esc(x_label)}</text>']
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = PAD + i * row
        bar_w = w * value / top
        parts.append(f'<text x="{label_w - 6}" y="{y + row * 0.7:.1f}" text-anchor="end" '
                     f'font-size="11">{_esc(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{bar_w:.1f}" height="{row - 4}" '
                     f'fill="{PALETTE[0]}"/>')
        parts.append(f'<text x="{label_w + bar_w + 4:.1f}" y="{y + row * 0.7:.1f}" '
                     f'font-size="10">{value:,.4g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def heat_map(rows: Sequence[str], columns: Sequence[str], counts: Sequence[Sequence[float]], *,
             title: str, row_label: str, column_label: str) -> str:
    """An SVG transition matrix: a cell per (row, column), darker for more, count written in.
    Rows are where customers were, columns where they are (tiers, segments)."""
    cell_w, cell_h, left, top_pad = 64, 24, 110, 64
    width = left + cell_w * len(columns) + PAD
    height = top_pad + cell_h * len(rows) + PAD
    peak = max([v for line in counts for v in line] + [1e-9])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(title)}">',
             f'<text x="{width / 2}" y="16" text-anchor="middle" font-weight="bold">'
             f'{_esc(title)}</text>',
             f'<text x="{left + cell_w * len(columns) / 2:.1f}" y="34" text-anchor="middle" '
             f'font-size="11">{_esc(column_label)}</text>',
             f'<text x="12" y="{top_pad + cell_h * len(rows) / 2:.1f}" text-anchor="middle" '
             f'font-size="11" transform="rotate(-90 12 {top_pad + cell_h * len(rows) / 2:.1f})">'
             f'{_esc(row_label)}</text>']
    for j, column in enumerate(columns):
        parts.append(f'<text x="{left + cell_w * (j + 0.5):.1f}" y="{top_pad - 6}" '
                     f'text-anchor="middle" font-size="10">{_esc(column)}</text>')
    for i, (name, line) in enumerate(zip(rows, counts, strict=True)):
        y = top_pad + i * cell_h
        parts.append(f'<text x="{left - 6}" y="{y + cell_h * 0.65:.1f}" text-anchor="end" '
                     f'font-size="10">{_esc(name)}</text>')
        for j, value in enumerate(line):
            shade = value / peak
            ink = "#fff" if shade > 0.55 else "#222"
            parts.append(f'<rect x="{left + j * cell_w}" y="{y}" width="{cell_w}" '
                         f'height="{cell_h}" fill="{PALETTE[0]}" fill-opacity="{shade:.2f}" '
                         'stroke="#ddd"/>')
            parts.append(f'<text x="{left + cell_w * (j + 0.5):.1f}" y="{y + cell_h * 0.65:.1f}"'
                         f' text-anchor="middle" font-size="10" fill="{ink}">{value:,.0f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(frame: pd.DataFrame, digits: int = 3,
           header: Callable[[str], str] = str) -> str:
    """``header``: a column name as the reader reads it (the locale's gettext)."""
    def cell(v: Any) -> str:
        if isinstance(v, float | np.floating):
            return "" if np.isnan(v) else f"{v:,.{digits}f}"
        return _esc(v)

    head = "".join(f"<th>{_esc(header(str(c)))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _heading(tag: str, text: str) -> str:
    return f"<{tag}>{_esc(text)}</{tag}>"


def _latest(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame | None:
    if not table_exists(con, table):
        return None
    return con.execute(f"SELECT * FROM {table} WHERE cutoff = {latest_cutoff_sql(table)}").df()


COLUMNS: tuple[str, ...] = (
    N_("model"), N_("features"), N_("roc_auc"), N_("pr_auc"), N_("lift_top_decile"),
    N_("brier"), N_("ece"), N_("n"), N_("stage"), N_("num_leaves"), N_("min_child_samples"),
    N_("reg_lambda"), N_("learning_rate"), N_("n_estimators"), N_("cv_log_loss"),
    N_("cv_roc_auc"), N_("cv_pr_auc"), N_("subscription_id"), N_("msisdn"), N_("churn_risk"),
    N_("reasons"), N_("feature"), N_("subscribers"), N_("value_tier"), N_("customers"),
    N_("monthly_revenue"), N_("clv"), N_("mean_churn_risk"), N_("network_value"),
    N_("revenue_share"), N_("customer_id"), N_("segment_id"), N_("share"), N_("profile"),
    N_("from"), N_("scheme"), N_("label"), N_("expression"), N_("campaign"), N_("treated"),
    N_("control"), N_("response"), N_("control resp."), N_("uplift"), N_("95% low"),
    N_("95% high"), N_("retention uplift"), N_("incr. revenue"), N_("cost"), N_("roi"),
    N_("band"), N_("circles"), N_("members"),
)
"""The report's table columns: their names are the English headers and the msgids."""
WORDS: tuple[str, ...] = (
    N_("boosted"), N_("logistic"), N_("with graph"), N_("without graph"), N_("all features"),
    N_("time split"), N_("stratified CV"), N_("new"), N_("gone"), N_("revenue"),
    N_("shape"), N_("regularisation"), N_("learning rate"),
)
"""Words of the model metadata and of the movement tables shown in the report."""


def _words(text: str, _: Callable[[str], str]) -> str:
    """A series name such as "boosted without graph" word group by word group."""
    for group in ("without graph", "with graph", "all features"):
        if text.endswith(group):
            head = text[:-len(group)].strip()
            return f"{_(head)} {_(group)}".strip() if head else _(group)
    return _(text)


def render_report(con: duckdb.DuckDBPyConnection, model_meta: Mapping[str, Any],
                  manifest: Mapping[str, Any], *, locale: str | None = None) -> str:
    """The full report as an HTML string, in ``locale`` (``graph.locales``; English by
    default): headings, prose, table headers, charts, tiers, tags, profiles and reasons.
    Identifiers (snapshot, model and campaign ids) are data and stay as they are; features
    read by their display names (``graph.catalogue.feature_label``)."""
    locale = normalize(locale)
    _ = translator(locale).gettext
    english = locale == DEFAULT_LOCALE
    header = _ if not english else str
    evaluation = model_meta["evaluation"]
    metrics = pd.DataFrame(evaluation["metrics"])
    if not english:
        metrics = metrics.assign(**{c: metrics[c].map(_) for c in ("model", "features")
                                    if c in metrics.columns})
    curves = evaluation["curves"]
    sections: list[str] = []
    insight = manifest.get("insight", {})
    sections.append(
        _heading("h2", _("Summary")) + "<ul><li>"
        + _("Snapshot {snapshot} scored as of <b>{cutoff}</b>: {subscribers:,} subscribers."
            ).format(snapshot=_esc(manifest.get("derived_from", "—")),
                     cutoff=_esc(insight.get("cutoff", "—")),
                     subscribers=insight.get("subscribers_scored", 0))
        + "</li><li>"
        + _("Expected churners next month: <b>{churners:,.0f}</b>.").format(
            churners=insight.get("expected_churners_next_month", 0))
        + "</li><li>"
        + _("Top 20% of customers bring <b>{share:.0%}</b> of revenue.").format(
            share=insight.get("revenue_share_top_20pct", float("nan")))
        + "</li><li>"
        + _("Model {model}, trained on {rows:,} rows ({churners:,} churners), cut-offs "
            "{cutoffs}.").format(model=_esc(model_meta["model_id"]), rows=model_meta["rows"],
                                 churners=model_meta["churners"],
                                 cutoffs=_esc(", ".join(model_meta["cutoffs"])))
        + "</li></ul>")

    cols = ["model", "features", "roc_auc", "pr_auc", "lift_top_decile", "brier", "ece", "n"]
    where = (_("train on {train}, test on {test}").format(
                 train=", ".join(evaluation.get("train_cutoffs", [])),
                 test=evaluation.get("test_cutoff"))
             if evaluation["kind"] == "time split"
             else _("{folds}-fold stratified cross-validation").format(
                 folds=evaluation.get("folds")))
    roc = {_words(k, _): (v["fpr"], v["tpr"]) for k, v in curves["roc"].items()}
    lift = curves["lift"]
    best = next((k for k in lift if k.startswith("boosted")), "")
    lift_plot = bar_chart([str(d) for d in lift[best]["decile"]], lift[best]["lift"],
                          title=_("Lift by risk decile (boosted)"), y_label=_("lift"),
                          reference=1.0) if best in lift else ""
    capture = {_words(k, _): ([0, *[d / 10 for d in v["decile"]]], [0, *v["captured"]])
               for k, v in lift.items()}
    calibration = {_words(k, _): (v["predicted"], v["observed"])
                   for k, v in curves["calibration"].items() if k.startswith("boosted")}
    cal_max = max([1e-3, *[max([*x, *y]) for x, y in calibration.values()]])
    without = _("without graph")
    sections.append(
        _heading("h2", _("Churn risk: how good is the model?"))
        + "<p>" + _("{kind}: {where}; {rows:,} subscribers, {churners:,} churners. Logistic "
                    "regression is the baseline; “without graph” drops the call-circle "
                    "features on the same split.").format(
            kind=_esc(_(evaluation["kind"])), where=_esc(where), rows=evaluation["rows"],
            churners=evaluation["churners"]) + "</p>"
        + _table(metrics[[c for c in cols if c in metrics.columns]], header=header)
        + '<div class="plots">'
        + line_chart(roc, title=_("ROC"), x_label=_("false positive rate"),
                     y_label=_("true positive rate"), diagonal=True, x_max=1, y_max=1,
                     dashed=[k for k in roc if without in k])
        + lift_plot
        + line_chart(capture, title=_("Churners captured"), x_label=_("share contacted"),
                     y_label=_("share of churners"), diagonal=True, x_max=1, y_max=1,
                     dashed=[k for k in capture if without in k])
        + line_chart(calibration, title=_("Calibration"), x_label=_("predicted risk"),
                     y_label=_("observed churn rate"), diagonal=True, x_max=cal_max,
                     y_max=cal_max)
        + "</div>")

    capacity = model_meta.get("capacity")
    if capacity:
        tried = pd.DataFrame(capacity["cv_results"]).sort_values("cv_log_loss")
        if not english:
            tried = tried.assign(stage=tried["stage"].map(_))
        chosen = ", ".join(f"{k} {v}" for k, v in capacity["best_params"].items())
        budget = "" if capacity["complete"] else _("; the time budget ended the search")
        sections.append(
            "<h3>" + _("Capacity chosen on this operator's rows") + "</h3><p>"
            + _("Chosen: <b>{chosen}</b>, out of {candidates} candidates tried in "
                "{seconds:.1f}s, each judged by {folds}-fold out-of-fold log loss "
                "(subscribers kept within one fold), trees counted by early stopping"
                "{budget}.").format(chosen=_esc(chosen), candidates=capacity["candidates"],
                                    seconds=capacity["seconds"], folds=capacity["folds"],
                                    budget=budget) + "</p>"
            + _table(tried[["stage", "num_leaves", "min_child_samples", "reg_lambda",
                            "learning_rate", "n_estimators", "cv_log_loss", "cv_roc_auc",
                            "cv_pr_auc"]], 4, header=header)
            + hbar_chart([f"{r.num_leaves}/{r.min_child_samples}/{r.reg_lambda}/"
                          f"{r.learning_rate}" for r in tried.itertuples()],
                         list(tried["cv_log_loss"]),
                         title=_("Out-of-fold log loss per candidate (leaves/min rows/L2/"
                                 "rate), best first"),
                         x_label=_("cv_log_loss")))
        choice = {r["features"]: r for r in capacity.get("feature_choice", [])}
        for name, row in choice.items():
            if name == "all":
                continue
            group = name.removeprefix("without ")
            words = _("the call-graph features") if group == "graph" else group
            kept = group not in capacity.get("dropped_groups", [])
            sections[-1] += "<p>" + _(
                "Judged on the last training cut-off ({period}), each with its own searched "
                "setting: log loss {with_them:.4f} with {words}, {without:.4f} without; "
                "<b>{verdict}</b>.").format(
                    period=_esc(row["last_period"]), with_them=choice["all"]["log_loss"],
                    without=row["log_loss"], words=words,
                    verdict=_("kept") if kept else _("left out")) + "</p>"

    scores = _latest(con, "churn_scores")
    if scores is not None and len(scores):
        top = scores.sort_values("churn_risk", ascending=False).head(15)
        reasons = top["reasons"].map(lambda r: "; ".join(reasons_in(r, locale)))
        show = top[["subscription_id", "msisdn", "churn_risk"]].assign(reasons=reasons.values)
        feature_counts = (scores.loc[scores["risk_decile"] == 1, "reasons"]
                          .map(reason_features).explode().value_counts().head(10))
        feature_counts.index = [feature_label(f, locale) for f in feature_counts.index]
        sections.append(
            _heading("h2", _("Whom to call this week")) + _table(show, header=header)
            + _heading("h3", _("Most common reasons in the riskiest decile"))
            + _table(feature_counts.rename_axis("feature").reset_index(name="subscribers"),
                     header=header)
            + hbar_chart(list(feature_counts.index), list(feature_counts.values),
                         title=_("Most common reasons in the riskiest decile"),
                         x_label=_("subscribers")))

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
            _heading("h2", _("Value")) + _table(tiers, 2, header=header)
            + '<div class="plots">'
            + line_chart({_("revenue"): (curve["subscribers"], curve["value"])},
                         title=_("Pareto: revenue by share of customers"),
                         x_label=_("share of customers (richest first)"),
                         y_label=_("share of revenue"), diagonal=True, x_max=1, y_max=1)
            + "</div>"
            + _tier_movement(con, value["cutoff"].iloc[0], _)
            + _heading("h3", _("Highest network value (what their leaving would put at risk)"))
            + _table(top_network, 2, header=header))

    segments = _latest(con, "segments")
    if segments is not None and len(segments):
        shown = segments[["segment_id", "subscribers", "share", "profile"]]
        if not english:
            shown = shown.assign(profile=shown["profile"].map(lambda p: profile_in(p, locale)))
        sections.append(
            _heading("h2", _("Segments"))
            + _table(shown, header=header)
            + bar_chart([str(s) for s in segments["segment_id"]],
                        list(segments["share"]), title=_("Segment sizes"), y_label=_("share")))
        movement = insight.get("segment_movement")
        if movement:
            table = pd.DataFrame(movement).fillna(0).astype(int)
            title = _("Movement since the previous run (rows: before)")
            sections.append(
                _heading("h3", title)
                + _table(table.rename_axis("from").reset_index(), header=header)
                + heat_map([_(str(r)) for r in table.index], [_(str(c)) for c in table.columns],
                           table.to_numpy().tolist(), title=title,
                           row_label=_("segment before"), column_label=_("segment now")))

    circles = size_distribution(con)
    if any(band["circles"] for band in circles):
        bands = pd.DataFrame(circles)
        sections.append(
            _heading("h2", _("Call circles"))
            + "<p>" + _("{circles:,} call circles of {members:,} members: how many circles "
                        "of each size, and how many members live in them.").format(
                circles=int(bands["circles"].sum()), members=int(bands["members"].sum()))
            + "</p>" + _table(bands, header=header)
            + '<div class="plots">'
            + bar_chart(list(bands["band"]), list(bands["circles"]),
                        title=_("Circle sizes"), y_label=_("circles"))
            + bar_chart(list(bands["band"]), list(bands["members"]),
                        title=_("Members by circle size"), y_label=_("members"))
            + "</div>")

    tags = pd.DataFrame(tag_counts(con))
    if len(tags):
        shown = tags[["scheme", "label", "expression", "customers"]]
        if not english:
            shown = shown.assign(scheme=shown["scheme"].map(lambda v: scheme_name(v, locale)),
                                 label=shown["label"].map(lambda v: label_in(v, locale)))
        sections.append(
            _heading("h2", _("Customer tags"))
            + "<p>" + _("Customers per tag of the business-feature rule library "
                        "(version {version}).").format(
                version=_esc(tags["rule_version"].max())) + "</p>"
            + _table(shown, header=header)
            + hbar_chart(list(shown["label"]), list(shown["customers"]),
                         title=_("Customers per tag"), x_label=_("customers")))

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
            + "<p>" + _("Response uplift is the treated response rate minus the control "
                        "group's, with its 95% Newcombe interval; an interval that contains 0 "
                        "means the campaign's effect is not shown.") + "</p>"
            + _table(shown, header=header)
            + bar_chart(list(campaigns["campaign_id"]), list(campaigns["response_uplift"]),
                        title=_("Response uplift"), y_label=_("uplift")))

    importance = pd.Series(model_meta.get("feature_importance", {})).head(15)
    importance.index = [feature_label(f, locale) for f in importance.index]
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
    if not english:  # CJK faces first, so Chinese never falls back to boxes
        style = style.replace("font-family:system-ui,sans-serif", "font-family:"
                              "'Noto Sans CJK SC','Source Han Sans SC','PingFang SC',"
                              "'Microsoft YaHei',system-ui,sans-serif")
    return (f"<!DOCTYPE html><html lang=\"{locale}\"><head><meta charset=\"utf-8\">"
            + _heading("title", _("callcircle insight report"))
            + f"<style>{style}</style></head><body>"
            + _heading("h1", _("callcircle — churn risk, value and segments"))
            + "".join(sections)
            + "<p><small>" + _("Libraries:")
            + f" <code>{_esc(versions)}</code></small></p></body></html>")


def _tier_movement(con: duckdb.DuckDBPyConnection, cutoff: Any,
                   _: Callable[[str], str]) -> str:
    """Movement on the ladder between the month before the cut-off and the cut-off, as a
    heat map; nothing when the month before has no customers (a one-month export)."""
    cutoff = pd.Timestamp(cutoff).date()
    try:
        table = tier_movement(con, cutoff)
    except duckdb.Error:  # a warehouse without bills or subscriptions to rebuild it from
        return ""
    if table.to_numpy().sum() == 0:
        return ""
    title = _("Movement between value tiers, month before the cut-off (rows) to the cut-off")
    return (_heading("h3", title)
            + "<p>" + _("Each customer's tier on the ladder of monthly revenue a month before "
                        "the cut-off and at it, by the same rule; “new” had no revenue "
                        "before, “gone” has none now.") + "</p>"
            + heat_map([_(r) for r in table.index], [_(c) for c in table.columns],
                       table.to_numpy().tolist(), title=_("Movement between value tiers"),
                       row_label=_("tier before"), column_label=_("tier at the cut-off")))
