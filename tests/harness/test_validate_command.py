"""`cognigy-harness validate`: every refusal printed as file, field and reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main
from tests.conftest import INTEGRATIONS
from tests.harness.test_models import REFUSED_CONFIGS, definition


def validate(capsys: pytest.CaptureFixture[str], *paths: Path) -> tuple[int, str]:
    code = main(["validate", *(str(path) for path in paths)])
    return code, capsys.readouterr().out


@pytest.mark.parametrize(
    ("config", "field", "reason"),
    list(REFUSED_CONFIGS.values()),
    ids=list(REFUSED_CONFIGS),
)
def test_each_refusal_names_file_field_and_reason(
    config: dict[str, Any],
    field: str,
    reason: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    file = tmp_path / "integration.yaml"
    file.write_text(yaml.safe_dump(definition(**config)), encoding="utf-8")

    code, out = validate(capsys, tmp_path)

    assert code == 1
    line = next(line for line in out.splitlines() if f": {field}: " in line)
    assert line.startswith(f"{file}: {field}: ")
    assert reason in line
    assert out.rstrip().endswith("0 of 1 valid")


def test_the_examples_are_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    examples = sorted(INTEGRATIONS.iterdir())
    code, out = validate(capsys, *examples)
    assert code == 0
    assert out.count(": ok (") == len(examples)
    assert f"{len(examples)} of {len(examples)} valid" in out


def test_one_bad_file_among_good_ones_fails_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "integration.yaml"
    bad.write_text(yaml.safe_dump(definition(method="fetch")), encoding="utf-8")
    code, out = validate(capsys, INTEGRATIONS / "account-balance", bad)
    assert code == 1
    assert f"{bad}: config.method: " in out
    assert "1 of 2 valid" in out


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            b"name: abc\nname: abd\nbot_id: b\nconfig: {url: 'https://h.example/'}\n",
            "invalid YAML: line 2, column 1: found the key 'name' twice",
        ),
        (
            b"name: abc\nbot_id: b\nconfig: {url: 'https://h.example/', url: x}\n",
            "found the key 'url' twice",
        ),
        (b"name: [unclosed\n", "invalid YAML: line 2, column 1: expected ','"),
        (b"\xff\xfe", "not UTF-8 text"),
    ],
)
def test_files_that_do_not_parse_are_refused_on_one_line(
    content: bytes, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "integration.yaml"
    file.write_bytes(content)
    code, out = validate(capsys, file)
    assert code == 1
    assert out.splitlines()[0].startswith(f"{file}: ")
    assert reason in out.splitlines()[0]


def test_a_missing_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = validate(capsys, tmp_path / "nowhere")
    assert code == 1
    assert "cannot read" in out


def test_yaml_anchors_and_merge_keys_still_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "integration.yaml"
    file.write_text(
        "common: &common {url: 'https://h.example/', method: GET}\n"
        "name: abc\nbot_id: b\n"
        "config: {<<: *common, method: DELETE}\n"
    )
    code, out = validate(capsys, file)
    # `common` is not a field: the merge worked and only that is refused.
    assert code == 1
    assert f"{file}: common: Extra inputs are not permitted" in out
    assert "twice" not in out
    assert ": config" not in out
