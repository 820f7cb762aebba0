"""Benchmark the graph stage at operator scale against the bare igraph calls.

    python -m bench.graph --nodes 1000000 --edges 10000000 --cdrs 10000000

Generates a synthetic operator straight from numpy (planted call circles, heavy-tailed
degrees, 85% on-net, three months of edges, bills, churn and CDRs) into a DuckDB file
under ``--dir``, then, each in a fresh process so peak memory is its own:

1. the whole graph stage (``graph.stage.build_graph_stage``), timed per feature family
   (Leiden, PageRank and k-core run in a worker process beside the rest;
   ``--sequential`` keeps them in one process);
2. the bare calls on the same edge list, before the stage and after it (the machine's
   pace drifts): DuckDB's edge aggregation, igraph build, weighted PageRank, Leiden (same
   settings), and after the stage multilevel (Louvain) too.

Prints a table, peak memory (the stage's process and its worker together), and the ratio
stage / (aggregation + build + PageRank + Leiden).
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import shutil
import time
from datetime import date
from pathlib import Path
from queue import Empty
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

CUTOFF = date(2026, 4, 1)
PLANS = ["P_BASIC", "P_PLUS", "P_GOLD", "P_FAMILY", "P_DATA"]


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def generate(path: Path, *, nodes: int, edges: int, cdrs: int, seed: int = 0,
             mixing: float = 0.2) -> dict[str, Any]:
    """Write a synthetic operator's warehouse tables; returns what was generated."""
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    # planted circles: log-normal sizes (median ~20), contiguous blocks of vertex ids
    sizes = np.clip(rng.lognormal(3.0, 0.8, size=nodes // 5), 3, 400).astype(np.int64)
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), nodes) + 1]
    sizes[-1] -= sizes.sum() - nodes
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    circle = np.repeat(np.arange(len(sizes)), sizes)
    propensity = rng.pareto(2.5, size=nodes) + 1.0
    propensity /= propensity.sum()

    def draw(k: int) -> np.ndarray:
        """``k`` ties (``1 - mixing`` of them inside the circle) as ``a * nodes + b``, a < b."""
        u = rng.choice(nodes, size=k, p=propensity)
        inside = rng.random(k) >= mixing
        v = np.where(
            inside,
            starts[circle[u]] + (rng.random(k) * sizes[circle[u]]).astype(np.int64),
            rng.choice(nodes, size=k, p=propensity),
        )
        keep = u != v
        return np.minimum(u[keep], v[keep]) * nodes + np.maximum(u[keep], v[keep])

    pairs = np.unique(draw(int(edges * 1.3)))
    while len(pairs) < edges:  # busy callers repeat ties: draw until there are enough
        pairs = np.unique(np.concatenate([pairs, draw(int((edges - len(pairs)) * 1.5) + 1)]))
    rng.shuffle(pairs)
    pairs = pairs[:edges]
    a, b = pairs // nodes, pairs % nodes
    m = len(pairs)
    intensity = rng.lognormal(0.5, 1.0, size=m)
    calls_ab = rng.poisson(intensity)
    calls_ba = np.where(rng.random(m) < 0.3, 0, rng.poisson(intensity))
    edge_rows = pa.table({
        "month": rng.integers(0, 3, size=m).astype(np.int32),
        "a": a, "b": b,
        "calls_ab": calls_ab, "calls_ba": calls_ba,
        "seconds_ab": (calls_ab * rng.exponential(120, size=m)).astype(np.int64),
        "seconds_ba": (calls_ba * rng.exponential(120, size=m)).astype(np.int64),
        "sms_ab": rng.poisson(0.8, size=m), "sms_ba": rng.poisson(0.6, size=m),
        "night_calls": rng.poisson(0.2, size=m), "roaming_calls": rng.poisson(0.05, size=m),
    })
    plan_of_circle = rng.integers(0, len(PLANS), size=len(sizes))
    plan = np.where(rng.random(nodes) < 0.7, plan_of_circle[circle],
                    rng.integers(0, len(PLANS), size=nodes))
    people = pa.table({"i": np.arange(nodes), "plan": plan.astype(np.int32)})
    del pairs
    generated = time.perf_counter() - start

    con = duckdb.connect(str(path))
    con.execute("SET enable_progress_bar = false")
    con.register("edge_rows", edge_rows)
    con.register("people", people)
    msisdn = "'+86138' || lpad({0}::VARCHAR, 8, '0')"
    con.execute(f"""
        CREATE TABLE call_edges AS
        SELECT (DATE '2026-01-01' + INTERVAL (month) MONTH)::DATE AS month,
               {msisdn.format('a')} AS a, {msisdn.format('b')} AS b,
               calls_ab, calls_ba, seconds_ab, seconds_ba, sms_ab, sms_ba, night_calls,
               roaming_calls, NULL::TIMESTAMP AS first_contact, NULL::TIMESTAMP AS last_contact
        FROM edge_rows
    """)
    con.execute(f"""
        CREATE TABLE numbers AS
        SELECT {msisdn.format('i')} AS msisdn, i % 7 <> 0 AS on_net,
               CASE WHEN i % 7 <> 0 THEN 'Home' WHEN i % 2 = 0 THEN 'RivalA' ELSE 'RivalB' END
                   AS operator,
               CASE WHEN i % 7 <> 0 THEN 'S' || i END AS subscription_id,
               CASE WHEN i % 7 <> 0 THEN 'C' || (i // 2) END AS customer_id,
               DATE '2025-01-01' AS first_seen, NULL::DATE AS last_seen
        FROM people
    """)
    con.execute(f"""
        CREATE TABLE subscriptions AS
        SELECT 'S' || i AS subscription_id, 'C' || (i // 2) AS customer_id,
               {msisdn.format('i')} AS msisdn, list_extract({PLANS}, plan + 1) AS product_id,
               'active' AS status,
               DATE '2021-01-01' + (hash(i) % 1800)::INTEGER AS start_date, NULL::DATE AS end_date
        FROM people WHERE i % 7 <> 0
    """)
    con.execute("""
        CREATE TABLE bills AS
        SELECT 'B' || s.subscription_id || '-' || k AS bill_id, s.subscription_id,
               (DATE '2026-01-01' + INTERVAL (k) MONTH)::DATE AS period,
               (DATE '2026-01-28' + INTERVAL (k) MONTH)::DATE AS issue_date,
               (10 + (hash(s.subscription_id, k) % 9000) / 100.0)::DOUBLE AS total_amount
        FROM subscriptions s, range(3) t(k)
    """)
    con.execute("""
        CREATE TABLE churn_events AS
        SELECT 'E' || subscription_id AS event_id, subscription_id,
               DATE '2025-10-01' + (hash(subscription_id) % 180)::INTEGER AS churn_date,
               'port_out' AS churn_type, 'RivalA' AS recipient_operator
        FROM subscriptions WHERE hash(subscription_id || 'churn') % 100 < 3
    """)
    con.execute(f"""
        CREATE TABLE cdrs AS
        WITH r AS (SELECT i, hash(i) AS h FROM range({int(cdrs)}) t(i))
        SELECT 'R' || i AS record_id,
               {msisdn.format('(7 * (h % ' + str(nodes // 7) + ') + 1)')} AS caller,
               {msisdn.format('(hash(i, 1) % ' + str(nodes) + ')')} AS callee,
               TIMESTAMP '2026-01-01' + INTERVAL (h % 7776000) SECOND AS start_time,
               (hash(i, 2) % 600)::BIGINT AS duration_s,
               CASE WHEN hash(i, 3) % 5 = 0 THEN 'sms' ELSE 'voice' END AS event_type,
               hash(i, 4) % 30 = 0 AS roaming
        FROM r
    """)
    con.close()
    return {"pairs": m, "circles_planted": len(sizes), "generate_s": generated,
            "load_s": time.perf_counter() - start - generated}


def _connect(path: str, memory_limit: str | None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(path)
    con.execute("SET enable_progress_bar = false")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    return con


def _log(message: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')} {message}", flush=True)


def _run_stage(path: str, leiden_iterations: int, parallel: bool, queue: Any,
               memory_limit: str | None = None) -> None:
    from graph.stage import build_graph_stage

    con = _connect(path, memory_limit)
    start = time.perf_counter()
    report = build_graph_stage(con, cutoff=CUTOFF, leiden_iterations=leiden_iterations,
                               progress=_log, parallel=parallel)
    wall = time.perf_counter() - start
    queue.put({"seconds": report.seconds, "wall": wall, "nodes": report.nodes,
               "edges": report.edges, "circles": report.circles,
               "modularity": report.modularity, "subscribers": report.subscribers,
               "peak_rss_gib": _peak_rss_gib()})


def _run_bare(path: str, leiden_iterations: int, multilevel: bool, queue: Any,
              memory_limit: str | None = None) -> None:
    import igraph

    from graph.algorithms import seeded_igraph
    from graph.callgraph import edge_arrays, stage_call_edges

    con = _connect(path, memory_limit)
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    stage_call_edges(con, cutoff=CUTOFF)
    arrays = edge_arrays(con)
    seconds["call edges (DuckDB)"] = time.perf_counter() - t
    t = time.perf_counter()
    g = igraph.Graph(n=arrays.n)
    g.add_edges(np.column_stack([arrays.u, arrays.v]).astype(np.int32))
    weights = arrays.weight.tolist()
    seconds["igraph build"] = time.perf_counter() - t
    t = time.perf_counter()
    g.pagerank(weights=weights, directed=False)  # PRPACK, igraph's default
    seconds["pagerank"] = time.perf_counter() - t
    t = time.perf_counter()
    with seeded_igraph(0):
        leiden = g.community_leiden(objective_function="modularity", weights=weights,
                                    n_iterations=leiden_iterations)
    seconds["leiden"] = time.perf_counter() - t
    found = {"seconds": seconds, "peak_rss_gib": _peak_rss_gib(),
             "leiden_modularity": g.modularity(leiden.membership, weights=weights)}
    if multilevel:
        t = time.perf_counter()
        with seeded_igraph(0):
            louvain = g.community_multilevel(weights=weights)
        seconds["multilevel"] = time.perf_counter() - t
        found["multilevel_modularity"] = louvain.modularity
    queue.put(found)


def _process_tree(root: int) -> list[int]:
    """``root`` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def _rss_gib(pids: list[int]) -> float:
    """Resident memory of the processes together (VmRSS from /proc: cheap to read, unlike
    smaps, which stalls a large process while the kernel walks its pages)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total / 1024**2


def _in_process(target: Any, *args: Any, memory_limit: str | None = None) -> dict[str, Any]:
    """Run ``target`` in a fresh process; adds ``peak_gib``, the most its process tree
    (the stage and its worker) held at once, sampled every half second."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue, memory_limit))
    proc.start()
    peak = 0.0
    while True:
        try:
            result = queue.get(timeout=0.5)
            break
        except Empty:
            peak = max(peak, _rss_gib(_process_tree(proc.pid)))
    proc.join()
    result["peak_gib"] = peak
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--edges", type=int, default=10_000_000)
    parser.add_argument("--cdrs", type=int, default=10_000_000)
    parser.add_argument("--leiden-iterations", type=int, default=2)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/callcircle-bench-graph"))
    parser.add_argument("--duckdb-memory", default="5GB",
                        help="DuckDB memory_limit for both runs (DuckDB's default is 80%% of RAM)")
    parser.add_argument("--sequential", action="store_true",
                        help="compute the Leiden circles in the stage's process, not a worker")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the warehouse already generated in --dir")
    args = parser.parse_args(argv)

    path = args.dir / "warehouse.duckdb"
    if not (args.reuse and path.exists()):
        shutil.rmtree(args.dir, ignore_errors=True)
        args.dir.mkdir(parents=True)
        made = generate(path, nodes=args.nodes, edges=args.edges, cdrs=args.cdrs)
        print(f"synthetic operator: {args.nodes:,} numbers, {made['pairs']:,} call edges, "
              f"{args.cdrs:,} CDRs, {made['circles_planted']:,} planted circles "
              f"(numpy {made['generate_s']:.1f} s, DuckDB load {made['load_s']:.1f} s)",
              flush=True)
    else:
        print(f"reusing {path}", flush=True)
    for name in ("graph_features", "circles", "circle_members", "circle_lineage",
                 "prospects", "prospect_referrers", "behaviour_monthly"):
        with duckdb.connect(str(path)) as con:  # start from a warehouse without outputs
            con.execute(f"DROP TABLE IF EXISTS {name}")
    # the bare calls before and after the stage: the machine's pace drifts between runs
    before = _in_process(_run_bare, str(path), args.leiden_iterations, False,
                         memory_limit=args.duckdb_memory)
    stage = _in_process(_run_stage, str(path), args.leiden_iterations, not args.sequential,
                        memory_limit=args.duckdb_memory)
    after = _in_process(_run_bare, str(path), args.leiden_iterations, True,
                        memory_limit=args.duckdb_memory)

    print(f"\n{'graph stage step':<32}{'seconds':>10}")
    for step, sec in stage["seconds"].items():
        print(f"{step:<32}{sec:>10.1f}")
    print(f"{'total (wall)':<32}{stage['wall']:>10.1f}")
    if not args.sequential:
        print("(the worker's steps overlap the others)")
    print(f"nodes {stage['nodes']:,}, edges {stage['edges']:,}, subscribers "
          f"{stage['subscribers']:,}, circles {stage['circles']:,}, modularity "
          f"{stage['modularity']:.4f}; peak memory of the stage and its worker together "
          f"{stage['peak_gib']:.2f} GiB (peak RSS of the stage's process "
          f"{stage['peak_rss_gib']:.2f} GiB)")
    print(f"\n{'bare calls':<32}{'before':>10}{'after':>10}")
    for step, sec in after["seconds"].items():
        first = before["seconds"].get(step)
        print(f"{step:<32}{'' if first is None else f'{first:.1f}':>10}{sec:>10.1f}")
    print(f"Leiden modularity {after['leiden_modularity']:.4f}, multilevel "
          f"{after['multilevel_modularity']:.4f}, peak memory {after['peak_gib']:.2f} GiB")
    baselines = [sum(run["seconds"][k] for k in
                     ("call edges (DuckDB)", "igraph build", "pagerank", "leiden"))
                 for run in (before, after)]
    mean = sum(baselines) / 2
    print(f"\nstage / (aggregation + build + PageRank + Leiden) = {stage['wall']:.1f} / "
          f"{mean:.1f} = {stage['wall'] / mean:.2f}x (bare before {baselines[0]:.1f} s: "
          f"{stage['wall'] / baselines[0]:.2f}x, after {baselines[1]:.1f} s: "
          f"{stage['wall'] / baselines[1]:.2f}x)")


if __name__ == "__main__":
    main()
