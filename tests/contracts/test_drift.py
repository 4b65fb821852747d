"""Fixture drift: recorded responses are held to their contracts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from contracts.documents import load_overlay
from contracts.drift import (
    check_all_fixtures,
    check_fixture_drift,
    check_integration_drift,
)
from tests.conftest import INTEGRATIONS

pytestmark = pytest.mark.contract

SIXTEEN_DAYS = Path(__file__).parent / "data" / "open-meteo-16-days.fixtures.yaml"


def test_every_recorded_fixture_matches_its_contract() -> None:
    reports = check_all_fixtures(INTEGRATIONS)

    assert {report.contract for report in reports} == {
        "account-balance",
        "open-meteo-forecast",
        "order-status",
    }
    assert all(report.ok for report in reports), [
        str(f) for r in reports for f in r.findings
    ]
    assert sum(report.interactions for report in reports) >= 4


def test_a_fixture_edited_to_break_its_schema_is_caught(tmp_path: Path) -> None:
    data = yaml.safe_load(
        (INTEGRATIONS / "account-balance" / "fixtures.yaml").read_text()
    )
    data["interactions"][0]["response"]["body"]["data"]["result"]["balance"] = "lots"
    broken = tmp_path / "fixtures.yaml"
    broken.write_text(yaml.safe_dump(data))

    report = check_fixture_drift(broken)

    assert not report.ok
    text = "\n".join(str(finding) for finding in report.findings)
    assert str(broken) in text
    assert "'account-balance'" in text
    assert "/components/schemas/DataAnswer" in text or "oneOf" in text


def test_an_undeclared_status_in_a_fixture_is_caught(tmp_path: Path) -> None:
    data = yaml.safe_load(
        (INTEGRATIONS / "account-balance" / "fixtures.yaml").read_text()
    )
    data["interactions"][2]["response"]["status"] = 418
    broken = tmp_path / "fixtures.yaml"
    broken.write_text(yaml.safe_dump(data))

    [finding] = check_fixture_drift(broken).findings
    assert finding.interaction == "unsupported-query"
    assert "status 418 is not declared" in str(finding)


def test_open_meteo_nulls_are_reported_as_drift() -> None:
    report = check_fixture_drift(SIXTEEN_DAYS)

    assert not report.ok
    nulls = {finding.instance_path for finding in report.findings}
    assert "/hourly/temperature_2m/0" in nulls
    assert "/daily/temperature_2m_max/1" in nulls
    assert all("null is not of type" in f.message for f in report.findings)
    assert all(
        f.schema_path.startswith("/paths/~1v1~1forecast/get") for f in report.findings
    )


def test_an_overlay_tolerates_the_nulls_but_still_lists_them() -> None:
    overlay = load_overlay("open-meteo-forecast")
    report = check_fixture_drift(SIXTEEN_DAYS, overlays=(overlay,))

    assert report.ok
    assert len(report.tolerated) == len(check_fixture_drift(SIXTEEN_DAYS).findings)
    assert all(overlay.reason in f.tolerated_by for f in report.tolerated)


def test_an_integration_names_its_overlay_in_contract_yaml(tmp_path: Path) -> None:
    (tmp_path / "fixtures.yaml").write_text(SIXTEEN_DAYS.read_text())
    (tmp_path / "contract.yaml").write_text(
        "contract: open-meteo-forecast\noverlays: [open-meteo-forecast]\n"
    )

    report = check_integration_drift(tmp_path)

    assert report.ok
    assert report.tolerated
    assert [o.name for o in report.overlays] == ["open-meteo-forecast"]


def test_an_overlay_never_hides_other_drift(tmp_path: Path) -> None:
    data = yaml.safe_load(SIXTEEN_DAYS.read_text())
    data["interactions"][0]["response"]["body"]["utc_offset_seconds"] = "zero"
    broken = tmp_path / "fixtures.yaml"
    broken.write_text(yaml.safe_dump(data))

    report = check_fixture_drift(
        broken, overlays=(load_overlay("open-meteo-forecast"),)
    )

    assert [f.instance_path for f in report.findings] == ["/utc_offset_seconds"]
