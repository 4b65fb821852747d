"""The CLI's error messages speak to the user: they name the file or the
option, never an internal function, and count in correct English."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from tests.conftest import INTEGRATIONS


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--p95-ms", "abc", "'abc' is not a number"),
        ("--p95-ms", "-1", "'-1' must be more than 0"),
        ("--users", "x", "'x' is not a whole number"),
        ("--max-error-rate", "y", "'y' is not a number"),
        ("--max-error-rate", "2", "'2' must be between 0 and 1"),
    ],
)
def test_a_bad_load_number_names_the_option_not_a_function(
    capsys: pytest.CaptureFixture[str], option: str, value: str, words: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["load", str(INTEGRATIONS / "account-balance"), option, value])

    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert f"argument {option}: {words}" in err
    assert "invalid" not in err


@pytest.mark.parametrize(
    ("content", "words"), [("{bad", "not valid JSON"), (None, "No such file")]
)
def test_a_bad_record_payload_names_its_file(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: str | None,
    words: str,
) -> None:
    payload = tmp_path / "bad.json"
    if content is not None:
        payload.write_text(content)

    code = main(
        ["record", str(INTEGRATIONS / "account-balance"), "--payload", str(payload)]
    )

    err = capsys.readouterr().err
    assert code == 2
    assert f"--payload {payload}: {words}" in err
    assert err.count("\n") == 1


def test_audit_verify_of_a_directory_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["audit", "verify", str(tmp_path)])

    assert code == 2
    assert f"{tmp_path} is a directory" in capsys.readouterr().err
