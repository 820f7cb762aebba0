"""Graph features per subscriber as of a cut-off: the call-circle view of churn and value.

Everything here reads only what was known before the cut-off: call edges of complete
months before it, churn events dated before it, bills of months before it, subscriptions
started before it. The heavy per-vertex work (PageRank, k-core, clustering, sampled
betweenness) runs in igraph; neighbour aggregates are numpy sums over the staged edge
arrays (``graph.callgraph.edge_arrays``); spreading activation is a sparse matrix iteration.
Each feature is described in ``docs/graph-features.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from graph.callgraph import NODES_TABLE, EdgeArrays
from graph.warehouse import register_arrow, replace_cutoff_rows, sql_date, table_exists

FEATURES_TABLE = "graph_features"
SUBSCRIBERS_TABLE = "graph_subscribers"  # temporary: per-vertex attributes as of the cut-off
VERTEX_TABLE = "graph_vertex"  # temporary: per-vertex igraph results
NEIGHBOURS_TABLE = "graph_neighbours"  # temporary: per-vertex neighbour aggregates


@dataclass(frozen=True)
class FeatureSettings:
    """Knobs of the feature computation; defaults are what the graph stage uses."""

    #: sampled sources for approximate betweenness (seeded by ``seed``)
    betweenness_samples: int = 16
    #: a churned neighbour's pull halves every this many days before the cut-off
    churn_half_life_days: float = 90.0
    #: churners of the last this many days seed spreading activation
    recent_churn_days: int = 90
    #: share of its energy a node passes on at each step (Dasgupta et al., 2008)
    spreading_factor: float = 0.5
    #: stop spreading when the energy still moving is below this share of the initial energy
    activation_tolerance: float = 1e-4
    activation_max_steps: int = 20
    #: ARPU = mean monthly bill over this many complete months before the cut-off
    arpu_months: int = 3
    seed: int = 0


def stage_subscribers(con: duckdb.DuckDBPyConnection, *, cutoff: date,
                      settings: FeatureSettings = FeatureSettings()) -> None:
    """Per-vertex attributes as of the cut-off into the temporary ``graph_subscribers``.

    ``plan``, ``tenure_days`` (subscription started before the cut-off), ``arpu`` (mean
    monthly bill over the last complete months), ``churn_date`` (left before the cut-off).
    Missing source tables give NULLs, so a warehouse without billing or churn data works.
    """
    cut = sql_date(cutoff)
    if table_exists(con, "subscriptions"):
        subs = f"""
            SELECT msisdn, arg_max(subscription_id, start_date) AS sub_id,
                   arg_max(product_id, start_date) AS plan,
                   date_diff('day', max(start_date), {cut}) AS tenure_days
            FROM subscriptions WHERE start_date < {cut} GROUP BY msisdn"""
    else:
        subs = ("SELECT NULL::VARCHAR AS msisdn, NULL::VARCHAR AS sub_id, "
                "NULL::VARCHAR AS plan, NULL::BIGINT AS tenure_days WHERE FALSE")
    if table_exists(con, "bills"):
        arpu = f"""
            SELECT subscription_id AS sub_id, avg(total_amount)::DOUBLE AS arpu FROM (
                SELECT subscription_id, period, sum(total_amount) AS total_amount FROM bills
                WHERE period + INTERVAL 1 MONTH <= {cut} AND issue_date < {cut}
                  AND period >= date_trunc('month', {cut})
                               - INTERVAL {int(settings.arpu_months)} MONTH
                GROUP BY ALL) GROUP BY ALL"""
    else:
        arpu = "SELECT NULL::VARCHAR AS sub_id, NULL::DOUBLE AS arpu WHERE FALSE"
    if table_exists(con, "churn_events") and table_exists(con, "subscriptions"):
        churn = f"""
            SELECT s.msisdn, max(e.churn_date) AS churn_date
            FROM churn_events e JOIN subscriptions s USING (subscription_id)
            WHERE e.churn_date < {cut} GROUP BY ALL"""
    else:
        churn = "SELECT NULL::VARCHAR AS msisdn, NULL::DATE AS churn_date WHERE FALSE"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {SUBSCRIBERS_TABLE} AS
        WITH subs AS ({subs}), arpu AS ({arpu}), churn AS ({churn})
        SELECT n.vid, n.msisdn, n.on_net, n.customer_id,
               coalesce(n.subscription_id, subs.sub_id) AS subscription_id,
               subs.plan, subs.tenure_days, arpu.arpu, churn.churn_date
        FROM {NODES_TABLE} n
        LEFT JOIN subs ON subs.msisdn = n.msisdn
        LEFT JOIN arpu ON arpu.sub_id = coalesce(n.subscription_id, subs.sub_id)
        LEFT JOIN churn ON churn.msisdn = n.msisdn
        ORDER BY n.vid
    """)


def spreading_activation(
    n: int,
    u: np.ndarray,
    v: np.ndarray,
    weight: np.ndarray,
    seeds: np.ndarray,
    *,
    spreading_factor: float = 0.5,
    tolerance: float = 1e-4,
    max_steps: int = 20,
    energy: np.ndarray | None = None,
) -> np.ndarray:
    """Energy received from churners, spread along weighted ties (Dasgupta et al., EDBT 2008).

    Each seed (a recent churner) starts with energy 1 (or ``energy``). At every step the
    energy that arrived at a node in the previous step is split: ``1 - spreading_factor``
    stays with the node, ``spreading_factor`` flows to its neighbours in proportion to
    tie strength. Total energy is conserved; it stops when the energy still moving falls
    below ``tolerance`` × the initial energy or after ``max_steps``. Returns the energy
    accumulated per vertex (what is still moving is added where it stands).
    """
    pulse = np.zeros(n)
    if len(seeds) == 0 or n == 0:
        return pulse
    pulse[seeds] = 1.0 if energy is None else energy
    total = pulse.sum()
    if len(u) == 0:
        return pulse
    rows = np.concatenate([u, v])
    cols = np.concatenate([v, u])
    w = np.concatenate([weight, weight])
    strength = np.bincount(rows, weights=w, minlength=n)
    inv = np.divide(1.0, strength, out=np.zeros(n), where=strength > 0)
    # column-stochastic transfer: energy at j flows to i with share w_ij / strength_j
    transfer = sp.csr_matrix((w * inv[cols], (rows, cols)), shape=(n, n))
    isolated = strength == 0
    kept = np.zeros(n)
    for _ in range(max_steps):
        moving = spreading_factor * pulse
        moving[isolated] = 0.0  # nowhere to go: a node without ties keeps all
        kept += pulse - moving
        pulse = transfer @ moving
        if pulse.sum() < tolerance * total:
            break
    return kept + pulse


def churn_activation(con: duckdb.DuckDBPyConnection, arrays: EdgeArrays, *, cutoff: date,
                     settings: FeatureSettings) -> np.ndarray:
    """Spreading activation seeded by churners of the last ``recent_churn_days``."""
    seeds = con.execute(f"""
        SELECT vid FROM {SUBSCRIBERS_TABLE}
        WHERE churn_date >= {sql_date(cutoff)} - INTERVAL {int(settings.recent_churn_days)} DAY
        ORDER BY vid
    """).fetchnumpy()["vid"]
    return spreading_activation(
        arrays.n, arrays.u, arrays.v, arrays.weight, np.asarray(seeds, dtype=np.int64),
        spreading_factor=settings.spreading_factor, tolerance=settings.activation_tolerance,
        max_steps=settings.activation_max_steps)


_PLANS_AT_ONCE = 16
"""Plans tallied per pass for the neighbours' top plan: vertices × 16 counts at most."""


def _nullable(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    """A column that is NULL where ``valid`` is False (SQL's empty average, empty mode)."""
    return pa.array(values, mask=~valid)


def neighbour_aggregates(arrays: EdgeArrays, attributes: dict[str, np.ndarray], *,
                         cutoff: date, settings: FeatureSettings) -> dict[str, Any]:
    """Per-vertex aggregates over each vertex's ties and neighbours, as columns.

    ``attributes`` are ``graph_subscribers``' columns in vertex order (``on_net``,
    ``plan``, ``arpu``, ``tenure_days``, ``churn_date``; masked arrays where NULL). Each
    aggregate has SQL's meaning: averages skip unknown values and are NULL over none; the
    top plan breaks ties by the first plan name. Sums over the edge arrays in numpy
    (``bincount``): the same figures as a GROUP BY over both orientations of every tie, on
    one core (DuckDB's would take both, while the stage's igraph worker needs one) and at
    half the CPU time. Only vertices with ties get a row.
    """
    n = arrays.n
    on_net = np.asarray(attributes["on_net"], dtype=bool)
    churn = attributes["churn_date"]
    churned_before = ~np.ma.getmaskarray(churn)
    pull = np.zeros(n)  # a churned neighbour's pull, halving with time before the cut-off
    days = (np.datetime64(cutoff, "D")
            - np.ma.getdata(churn).astype("datetime64[D]")[churned_before]).astype(np.float64)
    pull[churned_before] = np.power(0.5, days / float(settings.churn_half_life_days))
    left_days_ago = np.full(n, np.inf)  # how long ago a churned neighbour left
    left_days_ago[churned_before] = days
    latest = np.full(n, np.inf)  # per vertex: the most recent departure among its neighbours
    known = {name: (np.ma.getdata(attributes[name]).astype(np.float64),
                    ~np.ma.getmaskarray(attributes[name])) for name in ("arpu", "tenure_days")}
    # plans as codes in name order, so the smallest code wins a tie for the top plan
    plan = np.ma.getdata(attributes["plan"])
    has_plan = ~np.ma.getmaskarray(attributes["plan"])
    names, codes = np.unique(plan[has_plan].astype(str), return_inverse=True)
    plan_code = np.full(n, -1, dtype=np.int64)
    plan_code[has_plan] = codes

    sums: dict[str, np.ndarray] = {}

    def add(name: str, vid: np.ndarray, weights: np.ndarray | None = None) -> None:
        counted = np.bincount(vid, weights=weights, minlength=n)
        sums[name] = sums[name] + counted if name in sums else counted

    # each tie in both orientations: (vertex, neighbour, weight out of it, weight into it),
    # summed one orientation at a time (half the memory of both at once)
    orientations = ((arrays.u, arrays.v, arrays.weight_uv, arrays.weight_vu),
                    (arrays.v, arrays.u, arrays.weight_vu, arrays.weight_uv))
    weight = arrays.weight
    neighbour_plans = []
    for vid, nbr, w_out, w_in in orientations:
        add("degree", vid)
        add("out_degree", vid[w_out > 0])
        add("in_degree", vid[w_in > 0])
        add("reciprocated", vid[(w_out > 0) & (w_in > 0)])
        add("strength", vid, weight)
        add("strength_out", vid, w_out)
        add("strength_in", vid, w_in)
        nbr_on_net = on_net[nbr]
        add("on_net_ties", vid[nbr_on_net])
        add("on_net_strength", vid[nbr_on_net], weight[nbr_on_net])
        churned = churned_before[nbr]
        add("churned_neighbours", vid[churned])
        add("churned_tie_weight", vid[churned], weight[churned] * pull[nbr[churned]])
        np.minimum.at(latest, vid[churned], left_days_ago[nbr[churned]])
        for name, (values, present) in known.items():
            seen = present[nbr]
            add(f"{name} seen", vid[seen])
            add(f"{name} sum", vid[seen], values[nbr[seen]])
        nbr_plan = plan_code[nbr]
        own_plan = plan_code[vid]
        both = (nbr_plan >= 0) & (own_plan >= 0)
        add("plans compared", vid[both])
        add("same plan", vid[both & (nbr_plan == own_plan)])
        neighbour_plans.append((vid, nbr_plan))

    top, most = np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.int64)
    rows = np.arange(n)
    for first in range(0, len(names), _PLANS_AT_ONCE):
        # neighbours per (vertex, plan) for a block of plans, dense; argmax and the strict
        # comparison keep the first (smallest) code of a tie
        width = min(_PLANS_AT_ONCE, len(names) - first)
        tally = np.zeros(n * width, dtype=np.int64)
        for vid, nbr_plan in neighbour_plans:
            block = (nbr_plan >= first) & (nbr_plan < first + width)
            tally += np.bincount(vid[block] * width + (nbr_plan[block] - first),
                                 minlength=n * width)
        tally = tally.reshape(n, width)
        best = tally.argmax(axis=1)
        better = tally[rows, best] > most
        top[better], most[better] = first + best[better], tally[rows, best][better]
    del neighbour_plans
    top_plan = pa.array(np.where(top >= 0, names[np.maximum(top, 0)] if len(names) else "",
                                 "").astype(object), mask=top < 0)

    def share(part: np.ndarray, whole: np.ndarray, valid: np.ndarray) -> pa.Array:
        """``part / whole``, NULL where not ``valid`` (SQL's average over no rows)."""
        return _nullable(np.divide(part, whole, out=np.zeros(n), where=valid), valid)

    degree, strength = sums["degree"], sums["strength"]
    present = degree > 0
    columns: dict[str, Any] = {
        "vid": np.arange(n, dtype=np.int64),
        **{name: sums[name] for name in ("degree", "out_degree", "in_degree", "strength",
                                         "strength_out", "strength_in", "reciprocated")},
        "onnet_contact_share": share(sums["on_net_ties"], degree, present),
        "onnet_strength_share": share(sums["on_net_strength"], strength,
                                      (sums["on_net_ties"] > 0) & (strength != 0)),
        "churned_neighbours": sums["churned_neighbours"],
        "churned_tie_weight": sums["churned_tie_weight"],
        "days_since_contact_left": _nullable(np.where(np.isfinite(latest), latest, 0.0),
                                             np.isfinite(latest)),
        "neighbour_mean_arpu": share(sums["arpu sum"], sums["arpu seen"],
                                     sums["arpu seen"] > 0),
        "neighbour_mean_tenure_days": share(sums["tenure_days sum"], sums["tenure_days seen"],
                                            sums["tenure_days seen"] > 0),
        "neighbour_same_plan_share": share(sums["same plan"], sums["plans compared"],
                                           sums["plans compared"] > 0),
        "neighbour_top_plan": top_plan,
    }
    keep = np.flatnonzero(present)
    return {name: (col.take(pa.array(keep)) if isinstance(col, pa.Array) else col[keep])
            for name, col in columns.items()}


def stage_neighbours(con: duckdb.DuckDBPyConnection, arrays: EdgeArrays, *, cutoff: date,
                     settings: FeatureSettings = FeatureSettings()) -> None:
    """:func:`neighbour_aggregates` into the temporary ``graph_neighbours``."""
    attributes = con.execute(
        f"SELECT on_net, plan, arpu, tenure_days, churn_date FROM {SUBSCRIBERS_TABLE} "
        "ORDER BY vid").fetchnumpy()
    register_arrow(con, NEIGHBOURS_TABLE, neighbour_aggregates(
        arrays, attributes, cutoff=cutoff, settings=settings))


def features_sql(cutoff: date) -> str:
    """The SELECT producing ``graph_features`` rows (needs the staged temporary tables,
    ``graph_neighbours``, ``graph_vertex`` with ``circle_id`` and this cut-off's ``circles``)."""
    cut = sql_date(cutoff)
    return f"""
        WITH circle_plan AS (
            SELECT circle_id, plan, count(*) AS on_plan
            FROM {VERTEX_TABLE} JOIN {SUBSCRIBERS_TABLE} USING (vid)
            WHERE on_net AND plan IS NOT NULL GROUP BY ALL
        )
        SELECT {cut} AS cutoff, s.msisdn, s.customer_id, s.subscription_id,
               s.churn_date IS NOT NULL AS churned_before_cutoff,
               s.plan, s.tenure_days, s.arpu,
               coalesce(nb.degree, 0)::BIGINT AS degree,
               coalesce(nb.in_degree, 0)::BIGINT AS in_degree,
               coalesce(nb.out_degree, 0)::BIGINT AS out_degree,
               coalesce(nb.strength, 0)::DOUBLE AS strength,
               coalesce(nb.strength_in, 0)::DOUBLE AS strength_in,
               coalesce(nb.strength_out, 0)::DOUBLE AS strength_out,
               coalesce(2.0 * nb.reciprocated / nullif(nb.in_degree + nb.out_degree, 0), 0)
                   ::DOUBLE AS reciprocity,
               x.clustering, x.pagerank, x.core_number::BIGINT AS core_number, x.betweenness,
               nb.onnet_contact_share::DOUBLE AS onnet_contact_share,
               (1 - nb.onnet_contact_share)::DOUBLE AS offnet_contact_share,
               nb.onnet_strength_share::DOUBLE AS onnet_strength_share,
               x.circle_id, c.size AS circle_size, c.density AS circle_density,
               c.internal_share AS circle_internal_share,
               (cp.on_plan - 1)::DOUBLE / nullif(c.on_net_members - 1, 0)
                   AS circle_same_plan_share,
               coalesce(nb.churned_neighbours, 0)::BIGINT AS churned_neighbours,
               coalesce(nb.churned_neighbours / nb.degree, 0)::DOUBLE
                   AS churned_neighbour_share,
               coalesce(nb.churned_tie_weight, 0)::DOUBLE AS churned_tie_weight,
               coalesce(nb.churned_tie_weight / nullif(nb.strength, 0), 0)::DOUBLE
                   AS churned_tie_share,
               nb.days_since_contact_left::DOUBLE AS days_since_contact_left,
               x.churn_activation,
               nb.neighbour_mean_arpu::DOUBLE AS neighbour_mean_arpu,
               nb.neighbour_mean_tenure_days::DOUBLE AS neighbour_mean_tenure_days,
               nb.neighbour_top_plan, nb.neighbour_same_plan_share::DOUBLE
                   AS neighbour_same_plan_share
        FROM {SUBSCRIBERS_TABLE} s
        JOIN {VERTEX_TABLE} x USING (vid)
        LEFT JOIN {NEIGHBOURS_TABLE} nb USING (vid)
        LEFT JOIN circles c ON c.cutoff = {cut} AND c.circle_id = x.circle_id
        LEFT JOIN circle_plan cp ON cp.circle_id = x.circle_id AND cp.plan = s.plan
        WHERE s.on_net
        ORDER BY s.msisdn
    """


def write_graph_features(con: duckdb.DuckDBPyConnection, *, cutoff: date) -> int:
    """Write this cut-off's rows of ``graph_features`` (one per on-net subscriber)."""
    return replace_cutoff_rows(con, FEATURES_TABLE, cutoff, features_sql(cutoff))
