"""Fault plans: what a mock does instead of (or before) its normal answer.

A plan has rules; each rule matches a mock (`external` by default, or
`platform`, `webhook`, or one external host) and a route (method and path,
both optional; the path may hold `*` wildcards) and injects faults either by
sequence (one per matching request, in order, then the normal answer) or by
rate (a seeded fraction of matching requests). The CLI's `--fault` shorthand
is a sequence rule on every route of the external services. The README
documents the file format (`--fault-plan FILE`).
"""

from __future__ import annotations

import random
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from mocks.files import load_model_file

FaultKind = Literal[
    "status",
    "latency",
    "timeout",
    "reset",
    "empty",
    "html",
    "badjson",
    "truncated",
    "wrong_content_type",
    "redirect",
    "slow_body",
]


class Latency(BaseModel):
    """Added latency: fixed, uniform between two bounds, or log-normal."""

    model_config = ConfigDict(extra="forbid")

    fixed_ms: float | None = None
    uniform_ms: tuple[float, float] | None = None
    # Log-normal: the median in ms and the sigma of the underlying normal.
    lognormal_median_ms: float | None = None
    lognormal_sigma: float = 0.5

    def draw(self, rng: random.Random) -> float:
        """A latency in milliseconds."""
        if self.fixed_ms is not None:
            return self.fixed_ms
        if self.uniform_ms is not None:
            return rng.uniform(*self.uniform_ms)
        if self.lognormal_median_ms is not None:
            return self.lognormal_median_ms * rng.lognormvariate(
                0, self.lognormal_sigma
            )
        return 0.0


class Fault(BaseModel):
    """One injected answer (or non-answer).

    `latency` delays the answer; with kind `latency` the normal answer
    follows the delay, with any other kind the fault's own answer does.
    """

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind = "status"
    status: int = 503
    retry_after: float | None = None
    # Retry-After as an HTTP-date this many seconds ahead of the answer.
    retry_after_date: float | None = None
    latency: Latency | None = None
    location: str | None = None


#: The mocks a rule may target besides an external host name.
MOCK_NAMES = ("external", "platform", "webhook")


class FaultRule(BaseModel):
    """Faults for one route of one mock, by sequence and/or by rate."""

    model_config = ConfigDict(extra="forbid")

    # `external` (every external service), `platform`, `webhook`, or a host.
    mock: str = "external"
    method: str | None = None
    path: str | None = None
    sequence: list[Fault] = Field(default_factory=list)
    rate: float | None = Field(default=None, ge=0, le=1)
    fault: Fault | None = None
    seed: int | None = None

    _served: int = PrivateAttr(default=0)
    _rng: random.Random = PrivateAttr(default_factory=random.Random)

    def model_post_init(self, context: object) -> None:
        self._rng = random.Random(self.seed)

    @field_validator("mock")
    @classmethod
    def _known_mock(cls, value: str) -> str:
        # A misspelt mock name would silently inject nothing.
        if value not in MOCK_NAMES and "." not in value:
            names = ", ".join(MOCK_NAMES)
            raise ValueError(f"mock must be one of {names} or a host name")
        return value

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path is None:
            return True
        return fnmatchcase(path.rstrip("/") or "/", self.path.rstrip("/") or "/")

    def targets(self, mock: str, host: str | None = None) -> bool:
        """Whether this rule belongs to the mock named (and host, if external)."""
        if self.mock == mock:
            return True
        return mock == "external" and host is not None and self.mock == host

    def next_fault(self) -> Fault | None:
        if self._served < len(self.sequence):
            self._served += 1
            return self.sequence[self._served - 1]
        drawn = self.rate is not None and self._rng.random() < self.rate
        return self.fault if drawn else None


class FaultPlan(BaseModel):
    """The faults of one mock; state (sequence position, RNG) lives here."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    rules: list[FaultRule] = Field(default_factory=list)
    # Latency added to every normal answer.
    latency: Latency | None = None

    _rng: random.Random = PrivateAttr(default_factory=lambda: random.Random(0))

    def next_fault(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if any rule injects one."""
        for rule in self.rules:
            if rule.matches(method, path):
                fault = rule.next_fault()
                if fault is not None:
                    return fault
        return None

    def base_latency_ms(self) -> float:
        return self.latency.draw(self._rng) if self.latency else 0.0

    def for_mock(self, mock: str, host: str | None = None) -> FaultPlan:
        """The rules of one mock; they stay shared, and so does their state.

        The plan-wide `latency` belongs to the external services.
        """
        plan = FaultPlan(rules=[r for r in self.rules if r.targets(mock, host)])
        if mock == "external":
            plan.latency = self.latency
        return plan


class FaultPlanError(ValueError):
    """A fault-plan file that cannot be read or does not validate."""


def load_fault_plan(path: Path | str) -> FaultPlan:
    """Read a YAML (or JSON) fault-plan file, with errors that name the field."""
    return load_model_file(path, FaultPlan, FaultPlanError, "fault plan")


_SIMPLE_KINDS: dict[str, Fault] = {
    "timeout": Fault(kind="timeout"),
    "reset": Fault(kind="reset"),
    "empty": Fault(kind="empty", status=200),
    "html": Fault(kind="html", status=502),
    "badjson": Fault(kind="badjson", status=200),
    "truncated": Fault(kind="truncated", status=200),
    "wrong-content-type": Fault(kind="wrong_content_type", status=200),
    "slow-body": Fault(kind="slow_body", status=200),
}

FAULT_SPEC_HELP = """\
SPEC is a comma-separated sequence of upstream answers, used in order before
the recorded fixture answers:
  503                      any status code
  429:retry-after=2        with Retry-After in seconds
  429:retry-after-date=+2  with Retry-After as an HTTP-date 2 s ahead
  302:location=URL         a redirect
  delay:MS                 wait MS milliseconds, then the normal answer
  timeout                  no answer (the attempt times out)
  reset                    the connection closes mid-response
  empty                    200 with an empty body
  html                     502 with an HTML error page
  badjson                  200 application/json with invalid JSON
  truncated                200 application/json cut in the middle
  wrong-content-type       200 text/plain
  slow-body                200 whose body trickles in slowly"""


class FaultSpecError(ValueError):
    """A `--fault` shorthand that does not parse."""


def parse_fault(item: str) -> Fault:
    """One element of the `--fault` shorthand."""
    head, _, option = item.strip().partition(":")
    if head in _SIMPLE_KINDS and not option:
        return _SIMPLE_KINDS[head].model_copy()
    if head == "delay":
        try:
            return Fault(kind="latency", latency=Latency(fixed_ms=float(option)))
        except ValueError:
            raise FaultSpecError(f"fault {item!r}: delay needs milliseconds") from None
    if not head.isdigit() or not 100 <= int(head) <= 599:
        raise FaultSpecError(f"unknown fault {item!r}; see --help for the grammar")
    fault = Fault(kind="status", status=int(head))
    if not option:
        return fault
    key, _, value = option.partition("=")
    try:
        if key == "retry-after":
            fault.retry_after = float(value)
        elif key == "retry-after-date":
            fault.retry_after_date = float(value.lstrip("+"))
        elif key == "location":
            fault.location = value
        else:
            raise FaultSpecError(f"unknown option {key!r} in fault {item!r}")
    except ValueError as exc:
        if isinstance(exc, FaultSpecError):
            raise
        raise FaultSpecError(f"fault {item!r}: {value!r} is not a number") from None
    return fault


def parse_fault_spec(spec: str) -> FaultPlan:
    """`503,429:retry-after=1,timeout` as a plan with one sequence rule."""
    items = spec.split(",")
    if any(not item.strip() for item in items):
        raise FaultSpecError(
            f"fault spec {spec!r} has an empty item; write e.g. 503,503"
        )
    return FaultPlan(rules=[FaultRule(sequence=[parse_fault(i) for i in items])])


def build_fault_plan(
    spec: str | None = None, path: Path | str | None = None
) -> FaultPlan | None:
    """The plan of `--fault-plan FILE` and `--fault SPEC` together, or None.

    The file's rules come first; the shorthand's sequence rule follows.

    Raises:
        FaultPlanError: the file cannot be read or does not validate.
        FaultSpecError: the shorthand does not parse.
    """
    if spec is None and path is None:
        return None
    plan = load_fault_plan(path) if path is not None else FaultPlan()
    if spec is not None:
        plan.rules.extend(parse_fault_spec(spec).rules)
    return plan
