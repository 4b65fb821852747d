"""`mock serve` prints the environment a client pastes to run against it."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import CLI, INTEGRATIONS

BALANCE = INTEGRATIONS / "account-balance"
PAYLOAD = BALANCE / "samples" / "balance.payload.json"


@contextmanager
def served(environment: dict[str, str], cwd: Path) -> Iterator[list[str]]:
    """`mock serve --port 0` in a process; the lines it printed at start."""
    serve = [*CLI, "mock", "serve", str(BALANCE), "--port", "0"]
    # Our own CLI with fixed arguments.
    server = subprocess.Popen(  # noqa: S603
        serve, stdout=subprocess.PIPE, text=True, env=environment, cwd=cwd
    )
    assert server.stdout is not None
    printed: list[str] = []
    try:
        for line in server.stdout:
            printed.append(line)
            if line.startswith("serving;"):
                break
        yield printed
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()


def exports_of(printed: list[str]) -> dict[str, str]:
    """The `export NAME=VALUE` lines, as the shell would read them."""
    exports = {}
    for line in printed:
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").strip().partition("=")
            exports[name] = shlex.split(value)[0] if value else ""
    return exports


def test_a_run_with_the_printed_environment_succeeds(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COGNIGY_")}
    with served(clean, tmp_path) as printed:
        exports = exports_of(printed)
        finished = subprocess.run(  # noqa: S603 - our own CLI
            [*CLI, "run", str(BALANCE), "--payload", str(PAYLOAD), "--json"],
            env={**clean, **exports},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert "webhook signing secret: demo-webhook-secret (demo;" in "".join(printed)
    assert json.loads(exports["HOST_OVERRIDES"])["api.external-service.com"]
    assert finished.returncode == 0, finished.stderr
    document = json.loads(finished.stdout)
    assert document["status"] == "SUCCESS"
    assert document["webhook_delivered"] is True


def test_a_secret_set_for_mock_serve_is_named_not_shown(tmp_path: Path) -> None:
    secret = "sentinel-signing-secret-61d0"
    environment = {**os.environ, "WEBHOOK_SIGNING_SECRET": secret}
    with served(environment, tmp_path) as printed:
        text = "".join(printed)

    assert "webhook signing secret: WEBHOOK_SIGNING_SECRET (as set)" in text
    assert secret not in text
    assert "WEBHOOK_SIGNING_SECRET" not in exports_of(printed)
