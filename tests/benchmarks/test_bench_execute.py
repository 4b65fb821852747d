"""`make bench` keeps working: a short run prints every mode and the ratios."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_a_short_bench_run_measures_every_mode_and_stays_flat() -> None:
    script = ROOT / "benchmarks" / "bench_execute.py"
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(script), "--seconds", "0.4", "--executions", "500"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for line in (
        "pipeline (httpx)",
        "raw pooled client (aiohttp)",
        "new client per call (httpx)",
        "pipeline/raw",
        "raw/naive",
        ": flat",
    ):
        assert line in done.stdout
    assert "FAILED" not in done.stdout
