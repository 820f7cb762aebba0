"""Prometheus metrics of one app instance (own registry, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from api.snapshots import OpenSnapshot

PATHS = frozenset({"/graphql", "/sparql", "/healthz", "/readyz", "/metrics"})


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "callcircle_http_requests", "HTTP requests by path, method and status.",
            ["path", "method", "status"], registry=self.registry)
        self.latency = Histogram(
            "callcircle_http_request_duration_seconds", "Request latency by path.", ["path"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry)
        self.errors = Counter(
            "callcircle_errors", "Failed requests: 5xx responses and GraphQL errors, by kind.",
            ["kind"], registry=self.registry)
        self.warehouse_queries = Counter(
            "callcircle_warehouse_queries", "Queries sent to the snapshot warehouse.",
            registry=self.registry)
        self.snapshot = Gauge(
            "callcircle_snapshot_info", "The snapshot being served (value 1).", ["snapshot_id"],
            registry=self.registry)
        self.snapshot_loaded = Gauge(
            "callcircle_snapshot_loaded_timestamp_seconds", "When the served snapshot was opened.",
            registry=self.registry)
        self.snapshot_switches = Counter(
            "callcircle_snapshot_switches", "Snapshots swapped in since start.",
            registry=self.registry)

    @staticmethod
    def path_label(path: str) -> str:
        return path if path in PATHS else "other"

    def snapshot_switched(self, opened: OpenSnapshot) -> None:
        self.snapshot.clear()
        self.snapshot.labels(snapshot_id=opened.id).set(1)
        self.snapshot_loaded.set(opened.loaded_at)
        self.snapshot_switches.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
