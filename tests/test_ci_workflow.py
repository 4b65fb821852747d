"""The CI example: its script finds the changed integrations, then gates them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import INTEGRATIONS, ROOT

WORKFLOW = ROOT / "docs" / "ci" / "github-actions.yml"
GIT = shutil.which("git")
BASH = shutil.which("bash")


def steps() -> dict[str, dict[str, str]]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    return {step.get("name", ""): step for step in workflow["jobs"]["gate"]["steps"]}


def git(cwd: Path, *args: str) -> str:
    assert GIT is not None
    done = subprocess.run(  # noqa: S603 - fixed git arguments in a temp repo
        [GIT, *args], cwd=cwd, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


@pytest.mark.skipif(
    GIT is None or BASH is None,
    reason="the workflow's change-detection step is a bash script over git; "
    "this machine has no git or bash to run it",
)
def test_the_workflow_gates_only_the_changed_integration_directories(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    for name in ("account-balance", "weather-forecast"):
        shutil.copytree(INTEGRATIONS / name, repo / "integrations" / name)
    (repo / "README.md").write_text("docs\n")
    git(repo, "init", "-q")
    git(repo, "-c", "user.name=ci", "-c", "user.email=ci@x", "add", ".")
    git(repo, "-c", "user.name=ci", "-c", "user.email=ci@x", "commit", "-qm", "base")
    base = git(repo, "rev-parse", "HEAD")
    # One integration changes, another file changes, one integration is removed.
    golden = repo / "integrations/weather-forecast/samples/new-york.expected.json"
    golden.write_text(golden.read_text() + "\n")
    (repo / "README.md").write_text("more docs\n")
    shutil.rmtree(repo / "integrations/account-balance")
    git(repo, "-c", "user.name=ci", "-c", "user.email=ci@x", "commit", "-qam", "x")
    script = steps()["Find the changed integration directories"]["run"]
    output = tmp_path / "github-output"

    assert BASH is not None
    subprocess.run(  # noqa: S603 - the workflow's own script, in a temp repo
        [BASH, "-eo", "pipefail", "-c", script],
        cwd=repo,
        env={"BASE": base, "GITHUB_OUTPUT": str(output), "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
    )

    assert output.read_text().strip() == "dirs=integrations/weather-forecast"


def test_the_workflow_runs_the_gate_with_junit_output() -> None:
    command = steps()["Gate the changed integrations"]["run"]

    assert command.startswith("cognigy-harness gate ")
    assert "--junit gate-results.xml" in command
