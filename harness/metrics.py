"""Latency and error-rate metrics, aggregated in bounded memory."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

# Histogram bucket bounds in milliseconds; the last bucket is unbounded.
_STEPS = (1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9)
_BOUNDS_MS = (
    *(step * scale for scale in (1, 10, 100, 1000) for step in _STEPS),
    10_000,
    15_000,
    20_000,
    30_000,
    60_000,
    120_000,
)


@dataclass
class IntegrationMetrics:
    """Counters and a latency histogram of one integration."""

    executions: int = 0
    failures: int = 0
    attempts: int = 0
    latency_sum_ms: float = 0.0
    latency_max_ms: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(_BOUNDS_MS) + 1))

    @property
    def error_rate(self) -> float:
        return self.failures / self.executions if self.executions else 0.0

    def percentile(self, fraction: float) -> float:
        """The latency below which `fraction` of executions fall (bucket bound)."""
        if not self.executions:
            return 0.0
        rank = fraction * self.executions
        seen = 0
        for index, count in enumerate(self.buckets):
            seen += count
            if seen >= rank and count:
                if index < len(_BOUNDS_MS):
                    return min(_BOUNDS_MS[index], self.latency_max_ms)
                return self.latency_max_ms
        return self.latency_max_ms


class Metrics:
    """Per-integration metrics; memory stays flat however many executions."""

    def __init__(self) -> None:
        self.by_integration: dict[str, IntegrationMetrics] = {}

    def observe(
        self, name: str, *, success: bool, latency_ms: float, attempts: int
    ) -> None:
        data = self.by_integration.setdefault(name, IntegrationMetrics())
        data.executions += 1
        data.failures += 0 if success else 1
        data.attempts += attempts
        data.latency_sum_ms += latency_ms
        data.latency_max_ms = max(data.latency_max_ms, latency_ms)
        data.buckets[bisect.bisect_left(_BOUNDS_MS, latency_ms)] += 1

    def snapshot(self, name: str) -> dict[str, Any]:
        """A JSON-ready summary of one integration."""
        data = self.by_integration.get(name, IntegrationMetrics())
        mean = data.latency_sum_ms / data.executions if data.executions else 0.0
        return {
            "integration": name,
            "executions": data.executions,
            "failures": data.failures,
            "error_rate": round(data.error_rate, 4),
            "attempts": data.attempts,
            "latency_mean_ms": round(mean, 3),
            "latency_p95_ms": round(data.percentile(0.95), 3),
            "latency_max_ms": round(data.latency_max_ms, 3),
        }
