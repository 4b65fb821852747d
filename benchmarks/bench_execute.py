"""`make bench`: what the pipeline costs, and that its memory stays flat.

Part 1, in one run against the same loopback mock (uvicorn, in a child
process so the mock does not share this process's CPU and GIL): executions
per second of

- the full pipeline (execute with retries, extract, webhook, metrics, audit),
- step 3 alone (`Executor`: retries, timing, typed parsing, no webhook),
- a raw pooled `httpx.AsyncClient` sending the same request (the floor),
- the naive pattern, a new client per call (DESIGN.md pitfall 2),

each with httpx's own transport and with the aiohttp transport
(`httpx-aiohttp`), and the ratios between them.

Part 2: 20,000 in-process executions (respx, no sockets), printing the
resident set size (RSS) as they go; the growth after the warm-up must stay
flat. The mocks' own records (respx's call list, the webhook receiver's
events, the request journals) are test instruments that keep what they see,
so they are cleared at each checkpoint: what is measured is the pipeline.

Absolute numbers depend on the machine and its load; compare the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import httpx

from harness.executor import (
    Executor,
    apply_host_override,
    credential_headers,
    pooled_client,
)
from harness.loader import IntegrationDir, load_integration
from harness.pipeline import SUCCESS, Pipeline, bot_context
from harness.settings import HarnessSettings
from mocks.environment import MockEnvironment
from mocks.transport import BackgroundServer

EXAMPLE = Path(__file__).resolve().parents[1] / "integrations" / "account-balance"
PAYLOAD = {"user_id": "u_998877", "query": "account_balance"}
# RSS growth after the warm-up above this is reported as a leak.
FLAT_LIMIT_MB = 8.0

ROUNDS = 4
LABELS = {
    "pipeline": "pipeline",
    "executor": "step 3 alone, Executor",
    "raw": "raw pooled client",
    "naive": "new client per call",
}

Call = Callable[[], Awaitable[bool]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per measurement")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--executions", type=int, default=20_000, help="part 2")
    parser.add_argument(
        "--keep-mock-records",
        action="store_true",
        help="part 2: let the mocks keep every request they saw (shows their cost)",
    )
    parser.add_argument("--skip-throughput", action="store_true", help="part 2 only")
    args = parser.parse_args()

    integration = load_integration(EXAMPLE)
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        base = bench_settings(Path(scratch))
        rates = {}
        if not args.skip_throughput:
            rates = throughput(integration, base, args.seconds, args.concurrency)
        leak = memory(
            integration, base, args.executions, keep_records=args.keep_mock_records
        )
    if rates:
        print_ratios(rates)
    return 1 if leak else 0


def bench_settings(scratch: Path) -> HarnessSettings:
    # Grouped audit commits: an fsync per execution would measure the disk.
    return HarnessSettings(
        audit_log_path=scratch / "audit.jsonl",
        audit_durability="group",
        max_connections=50,
    )


# --- part 1: throughput on loopback ---------------------------------------------


def throughput(
    integration: IntegrationDir, base: HarnessSettings, seconds: float, users: int
) -> dict[str, float]:
    print(
        f"part 1: executions/s, {users} concurrent, {seconds:g} s per mode "
        f"in {ROUNDS} rounds"
    )
    context = multiprocessing.get_context("spawn")
    ready: multiprocessing.Queue[str] = context.Queue()
    stop = context.Event()
    server = context.Process(target=serve, args=(ready, stop), daemon=True)
    server.start()
    try:
        base_url = ready.get(timeout=60)
        settings = MockEnvironment([integration], base).port_settings(base_url)
        return asyncio.run(measure_all(integration, settings, seconds, users))
    finally:
        stop.set()
        server.join(timeout=10)


def serve(ready: multiprocessing.Queue[str], stop: Event) -> None:
    """The child process: every mock on one loopback port until told to stop."""
    environment = MockEnvironment([load_integration(EXAMPLE)])
    with BackgroundServer(environment.asgi_app()) as server:
        ready.put(server.base_url)
        stop.wait()


async def measure_all(
    integration: IntegrationDir, settings: HarnessSettings, seconds: float, users: int
) -> dict[str, float]:
    """Every mode in turn, in short rounds: load from other work on the machine
    then falls on all of them alike instead of on whichever ran during it."""
    async with AsyncExitStack() as stack:
        modes: dict[str, Call] = {}
        for transport in ("httpx", "aiohttp"):
            chosen = settings.model_copy(update={"http_transport": transport})
            pipeline = await stack.enter_async_context(Pipeline(chosen))
            client = await stack.enter_async_context(pooled_client(chosen))
            modes[f"pipeline/{transport}"] = pipeline_call(pipeline, integration)
            modes[f"executor/{transport}"] = executor_call(
                Executor(client, chosen), integration
            )
            modes[f"raw/{transport}"] = raw_call(client, integration, chosen)
            modes[f"naive/{transport}"] = naive_call(integration, chosen)

        totals = {name: Tally() for name in modes}
        for round_number in range(1, ROUNDS + 1):
            for name, call in modes.items():
                totals[name].add(await run_for(call, seconds / ROUNDS, users))
            print(f"  round {round_number}/{ROUNDS} done")

    for name, tally in totals.items():
        kind, transport = name.split("/")
        label = f"{LABELS[kind]} ({transport})"
        print(f"  {label:<38} {tally}")
    return {name: tally.rate for name, tally in totals.items()}


def pipeline_call(pipeline: Pipeline, integration: IntegrationDir) -> Call:
    async def call() -> bool:
        report = await pipeline.run(integration.definition, bot_context(PAYLOAD))
        return report.status == SUCCESS

    return call


def executor_call(executor: Executor, integration: IntegrationDir) -> Call:
    """Step 3 only: the same request with retries, timing and parsing."""

    async def call() -> bool:
        config = integration.definition.config
        return (await executor.execute(config, bot_context(PAYLOAD))).ok

    return call


def raw_call(
    client: httpx.AsyncClient, integration: IntegrationDir, settings: HarnessSettings
) -> Call:
    """The same request the pipeline sends, with nothing around it."""
    config = integration.definition.config
    url = apply_host_override(config.url, settings.host_overrides)
    headers = {**config.headers, **credential_headers(config, settings)}

    async def call() -> bool:
        response = await client.post(url, json=PAYLOAD, headers=headers)
        return response.status_code == 200 and "data" in response.json()

    return call


def naive_call(integration: IntegrationDir, settings: HarnessSettings) -> Call:
    async def call() -> bool:
        async with pooled_client(settings) as client:
            return await raw_call(client, integration, settings)()

    return call


@dataclass
class Tally:
    """Executions, failures and time summed over the rounds of one mode."""

    done: int = 0
    failed: int = 0
    elapsed: float = 0.0

    def add(self, other: Tally) -> None:
        self.done += other.done
        self.failed += other.failed
        self.elapsed += other.elapsed

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed else 0.0

    def __str__(self) -> str:
        failed = f", {self.failed} FAILED" if self.failed else ""
        return f"{self.rate:8.1f} /s   ({self.done} in {self.elapsed:.1f} s{failed})"


async def run_for(call: Call, seconds: float, users: int) -> Tally:
    """`users` concurrent loops of `call` for `seconds`, after a warm-up."""
    await asyncio.gather(*(call() for _ in range(users)))
    tally = Tally()
    stop_at = time.monotonic() + seconds

    async def user() -> None:
        while time.monotonic() < stop_at:
            ok = await call()
            tally.done += 1
            tally.failed += 0 if ok else 1

    began = time.monotonic()
    await asyncio.gather(*(user() for _ in range(users)))
    tally.elapsed = time.monotonic() - began
    return tally


def print_ratios(rates: dict[str, float]) -> None:
    print("ratios (one run, same mock; an execution is 2 requests: the call")
    print("and its webhook event, plus audit and metrics):")
    for transport in ("httpx", "aiohttp"):
        pipeline = rates[f"pipeline/{transport}"]
        raw = rates[f"raw/{transport}"]
        naive = rates[f"naive/{transport}"]
        step3 = rates[f"executor/{transport}"]
        print(
            f"  {transport:<8} pipeline/raw {pipeline / raw:5.2f}   "
            f"step 3/raw {step3 / raw:5.2f}   "
            f"raw/naive {raw / naive:5.1f}   pipeline/naive {pipeline / naive:5.1f}"
        )
    for kind in ("pipeline", "raw"):
        speedup = rates[f"{kind}/aiohttp"] / rates[f"{kind}/httpx"]
        print(f"  aiohttp/httpx transport, {kind}: {speedup:5.2f}")


# --- part 2: memory over many executions ----------------------------------------


def memory(
    integration: IntegrationDir,
    base: HarnessSettings,
    total: int,
    *,
    keep_records: bool = False,
) -> bool:
    """Run `total` in-process executions; True when RSS kept growing (a leak)."""
    print(f"part 2: RSS over {total:,} in-process executions")
    return asyncio.run(_memory(integration, base, total, keep_records))


async def _memory(
    integration: IntegrationDir, base: HarnessSettings, total: int, keep_records: bool
) -> bool:
    environment = MockEnvironment([integration], base)
    checkpoint = max(1, total // 10)
    context = bot_context(PAYLOAD)
    samples: list[float] = []
    lap = time.monotonic()

    with environment.in_process() as router:
        async with Pipeline(environment.settings, sleep=_no_sleep) as pipeline:
            for done in range(1, total + 1):
                report = await pipeline.run(integration.definition, context)
                if report.status != SUCCESS:
                    raise SystemExit(f"execution {done} failed: {report.error}")
                if done % checkpoint == 0:
                    if not keep_records:
                        clear_mock_records(environment, router)
                    samples.append(rss_mb())
                    now = time.monotonic()
                    rate, lap = checkpoint / (now - lap), now
                    print(
                        f"  {done:>7,} executions   RSS {samples[-1]:7.1f} MB   "
                        f"{rate:6.0f} /s"
                    )
            snapshot = pipeline.metrics.snapshot(integration.definition.name)

    growth = samples[-1] - samples[0]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"  metrics hold {snapshot['executions']:,} executions in fixed memory; "
        f"webhook outbox: {len(pipeline.webhook.outbox)} event(s)"
    )
    verdict = "flat" if growth <= FLAT_LIMIT_MB else "GROWING (leak?)"
    print(
        f"  peak RSS {peak:.1f} MB; growth after the first checkpoint "
        f"{growth:+.1f} MB: {verdict}"
    )
    return growth > FLAT_LIMIT_MB


def clear_mock_records(environment: MockEnvironment, router: Any) -> None:
    """Forget what the mocks saw (they are instruments, not the pipeline)."""
    router.reset()
    environment.webhook.events.clear()
    for mock in (environment.platform, environment.webhook, environment.external()):
        mock.journal.clear()


def rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / (1024 * 1024)


async def _no_sleep(seconds: float) -> None:
    return None


if __name__ == "__main__":
    sys.exit(main())
