"""The result of a load run as data, its threshold checks and its table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.models import Thresholds
from loadtests.stats import Rates


@dataclass(frozen=True)
class LoadSummary(Rates):
    """The figures of one load run, over all users and workers.

    Latencies are the pipeline's execution latency (all attempts and
    backoff waits, as the audit entry records it) in milliseconds; locust
    keeps them rounded to two significant digits above 100 ms.
    """

    integration: str
    profile: str
    duration_s: float
    executions: int
    failures: int
    executions_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    attempts: int
    retries: int
    errors: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadSummary:
        """Read the summary the locustfile writes (`to_dict` of this class)."""
        return cls(
            integration=str(data["integration"]),
            profile=str(data["profile"]),
            duration_s=float(data["duration_s"]),
            executions=int(data["executions"]),
            failures=int(data["failures"]),
            executions_per_s=float(data["executions_per_s"]),
            p50_ms=float(data["p50_ms"]),
            p95_ms=float(data["p95_ms"]),
            p99_ms=float(data["p99_ms"]),
            max_ms=float(data["max_ms"]),
            attempts=int(data["attempts"]),
            retries=int(data["retries"]),
            errors={str(k): int(v) for k, v in data.get("errors", {}).items()},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "integration": self.integration,
            "profile": self.profile,
            "duration_s": round(self.duration_s, 3),
            "executions": self.executions,
            "failures": self.failures,
            "executions_per_s": round(self.executions_per_s, 3),
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "max_ms": round(self.max_ms, 3),
            "attempts": self.attempts,
            "retries": self.retries,
            "error_rate": round(self.error_rate, 5),
            "retries_per_execution": round(self.retries_per_execution, 5),
            "errors": dict(self.errors),
        }


@dataclass(frozen=True)
class ThresholdCheck:
    """One service level: its limit, what the run measured, and the verdict."""

    name: str
    limit: float
    measured: float
    unit: str

    @property
    def passed(self) -> bool:
        return self.measured <= self.limit

    def describe(self) -> str:
        verdict = "ok" if self.passed else "BREACHED"
        return (
            f"{self.name}: measured {_number(self.measured, self.unit)}, "
            f"limit {_number(self.limit, self.unit)}: {verdict}"
        )


def _number(value: float, unit: str) -> str:
    if unit == "ratio":
        return f"{value:.2%}"
    return f"{value:.0f} {unit}"


def merge_thresholds(base: Thresholds | None, **overrides: float | None) -> Thresholds:
    """The definition's thresholds with command-line values taking precedence."""
    data = base.model_dump() if base else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    return Thresholds.model_validate(data)


def check_thresholds(
    summary: LoadSummary, thresholds: Thresholds
) -> list[ThresholdCheck]:
    """Every threshold that is set, checked against the run."""
    measured: dict[str, tuple[float, str]] = {
        "p95_ms": (summary.p95_ms, "ms"),
        "p99_ms": (summary.p99_ms, "ms"),
        "max_error_rate": (summary.error_rate, "ratio"),
        # The turn budget bounds every execution: all attempts and waits.
        "turn_budget_ms": (summary.max_ms, "ms"),
    }
    checks = []
    for name, (value, unit) in measured.items():
        limit = getattr(thresholds, name)
        if limit is not None:
            checks.append(ThresholdCheck(name, float(limit), value, unit))
    return checks


def format_table(summary: LoadSummary) -> str:
    """The summary as a small aligned table for the terminal."""
    rows = [
        ("integration", summary.integration),
        ("profile", summary.profile),
        ("duration", f"{summary.duration_s:.1f} s"),
        ("executions", str(summary.executions)),
        ("executions/s", f"{summary.executions_per_s:.1f}"),
        ("p50", f"{summary.p50_ms:.0f} ms"),
        ("p95", f"{summary.p95_ms:.0f} ms"),
        ("p99", f"{summary.p99_ms:.0f} ms"),
        ("max", f"{summary.max_ms:.0f} ms"),
        ("error rate", f"{summary.error_rate:.2%} ({summary.failures} failed)"),
        ("retries/execution", f"{summary.retries_per_execution:.3f}"),
    ]
    for kind, count in sorted(summary.errors.items()):
        rows.append((f"  {kind}", str(count)))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)
