"""What locust's statistics do not count: attempts, retries, error kinds.

Locust counts executions, failures and response times. A `RetryTally` adds
the attempts of each execution and the kind of each failure. In a
distributed run every worker sends its tally with its stats report and the
master merges them, so the counts stay consistent with locust's own.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from harness.pipeline import SUCCESS, ExecutionReport


class Rates:
    """The two ratios a load report gives, from executions, failures, retries."""

    executions: int
    failures: int
    retries: int

    @property
    def error_rate(self) -> float:
        return self.failures / self.executions if self.executions else 0.0

    @property
    def retries_per_execution(self) -> float:
        return self.retries / self.executions if self.executions else 0.0


@dataclass
class RetryTally(Rates):
    """Executions, attempts and failure kinds, mergeable across processes."""

    executions: int = 0
    failures: int = 0
    attempts: int = 0
    retries: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def observe(self, report: ExecutionReport) -> None:
        """Count one execution of the pipeline."""
        self.executions += 1
        self.attempts += report.attempts
        self.retries += max(report.attempts - 1, 0)
        if report.status != SUCCESS:
            self.failures += 1
            kind = report.error.kind if report.error else "unknown"
            self.errors[kind] += 1

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for locust's worker reports and the summary file."""
        return {
            "executions": self.executions,
            "failures": self.failures,
            "attempts": self.attempts,
            "retries": self.retries,
            "errors": dict(self.errors),
        }

    def merge(self, data: dict[str, Any]) -> None:
        """Add another tally's `to_dict` to this one."""
        self.executions += int(data.get("executions", 0))
        self.failures += int(data.get("failures", 0))
        self.attempts += int(data.get("attempts", 0))
        self.retries += int(data.get("retries", 0))
        self.errors.update({str(k): int(v) for k, v in data.get("errors", {}).items()})

    def drain(self) -> dict[str, Any]:
        """This tally's counts, then zero them (a worker's report is a delta)."""
        data = self.to_dict()
        self.executions = self.failures = self.attempts = self.retries = 0
        self.errors = Counter()
        return data
