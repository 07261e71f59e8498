"""Prometheus metrics of one server instance (own registry, so tests can run several servers)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """Requests, interventions by category, request and filter latency."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "winnow_requests",
            "Requests by endpoint and outcome",
            ["endpoint", "outcome"],
            registry=self.registry,
        )
        self.interventions = Counter(
            "winnow_interventions",
            "Policy interventions by stage (prompt/output), category and action",
            ["stage", "category", "action"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "winnow_request_latency_seconds",
            "Request latency (to the last byte)",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.filter_latency = Histogram(
            "winnow_filter_latency_seconds",
            "Time spent in the policy per request (prompt check + stream guard)",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
