"""Extraction and normalization (step 4)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ExtractionError, TransformError
from harness.models import NormalizeMode, ResponseMapping
from harness.transform import (
    apply_response_mapping,
    extract,
    flatten,
    map_keys,
    normal_key,
    normalize,
    payload_size,
    search,
)

README = Path(__file__).resolve().parents[2] / "README.md"


def test_extract_follows_the_path() -> None:
    assert extract("data.result", {"data": {"result": {"a": 1}}}) == {"a": 1}


def test_no_expression_keeps_the_whole_body() -> None:
    assert extract(None, [1]) == [1]


@pytest.mark.parametrize("data", [{"data": {}}, {"data": {"missing": None}}, []])
def test_missing_and_null_both_find_nothing(data: Any) -> None:
    with pytest.raises(ExtractionError, match=r"data\.missing.*missing or null"):
        extract("data.missing", data)


def test_extract_keeps_falsy_values() -> None:
    assert extract("ok", {"ok": False}) is False
    assert extract("n", {"n": 0}) == 0
    assert extract("s", {"s": ""}) == ""
    assert extract("a", {"a": []}) == []


def test_projections_drop_nulls_and_a_multiselect_keeps_them() -> None:
    rows = {"rows": [{"v": 1}, {"v": None}, {}, {"v": 3}]}
    assert extract("rows[*].v", rows) == [1, 3]
    assert extract("rows[*].{v: v}", rows) == [
        {"v": 1},
        {"v": None},
        {"v": None},
        {"v": 3},
    ]


@pytest.mark.parametrize(
    ("expression", "data"),
    [
        ("a[?b > 'x']", {"a": [{"b": 1}]}),  # jmespath: bare TypeError
        ("floor(a)", {"a": float("inf")}),  # OverflowError
        ("length(a)", {"a": 1}),  # JMESPathTypeError
        ("sort(a)", {"a": [1, "x"]}),
        ("foo(a)", {"a": 1}),  # unknown function, found at run time
    ],
)
def test_evaluation_failures_are_extraction_errors(expression: str, data: Any) -> None:
    with pytest.raises(ExtractionError, match="cannot be evaluated"):
        extract(expression, data)


def test_deep_expression_is_an_extraction_error_not_a_recursion_error() -> None:
    expression = "(" * 3000 + "a" + ")" * 3000
    with pytest.raises(ExtractionError, match="nested too deeply"):
        search(expression, {})


def test_flatten() -> None:
    assert flatten([1, 2]) == {"items": [1, 2], "count": 2}
    assert flatten([]) == {"items": [], "count": 0}
    assert flatten({"a": 1}) == {"a": 1}
    assert flatten(7) == {"value": 7}, "a scalar is never silently {}"
    assert flatten(None) == {"value": None}


def test_map_keys_is_recursive_and_works_on_lists() -> None:
    data = [{"User Id": 1, "Nested": {"Inner Key": [{"X Y": 2}, [{"A\tB": 3}]]}}]
    assert map_keys(data) == [
        {"user_id": 1, "nested": {"inner_key": [{"x_y": 2}, [{"a_b": 3}]]}}
    ]


def test_map_keys_leaves_values_alone() -> None:
    assert map_keys({"Key": "Value With Spaces"}) == {"key": "Value With Spaces"}
    assert map_keys("Top Level") == "Top Level"


def test_map_keys_refuses_colliding_keys_naming_both() -> None:
    with pytest.raises(TransformError) as caught:
        map_keys({"outer": [{"User Id": 1, "user_id": 2}]})
    message = str(caught.value)
    assert "'User Id'" in message
    assert "'user_id'" in message
    assert "$.outer[0]" in message


def test_map_keys_on_deep_data_is_a_transform_error() -> None:
    deep: Any = {}
    for _ in range(5000):
        deep = {"K": deep}
    with pytest.raises(TransformError, match="nested too deeply"):
        map_keys(deep)


def test_normal_key() -> None:
    assert normal_key("User  Id") == "user__id"
    assert normal_key("ÄB\u00a0C") == "äb_c"


def test_normalize_none_is_identity() -> None:
    assert normalize([1], NormalizeMode.NONE) == [1]


def test_unknown_normalize_mode_is_a_transform_error() -> None:
    with pytest.raises(TransformError, match="squash"):
        normalize([1], "squash")


def test_results_that_are_not_standard_json_fail_the_transform() -> None:
    mapping = ResponseMapping(extract="v")
    with pytest.raises(TransformError, match="standard JSON"):
        apply_response_mapping(mapping, {"v": float("nan")})
    with pytest.raises(TransformError, match="standard JSON"):
        apply_response_mapping(mapping, {"v": "\ud800"})


def test_payload_size_counts_utf8_bytes() -> None:
    assert payload_size({"n": "é"}) == len('{"n":"é"}'.encode())
    assert payload_size({"n": "é"}) == 10


def _readme_table() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Normalize modes by JSON type", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [
        [cell.strip().strip("`") for cell in row.strip("|").split("|")] for row in rows
    ]


def test_readme_table_lists_every_json_type_and_is_true() -> None:
    rows = _readme_table()
    modes = [NormalizeMode.FLATTEN, NormalizeMode.MAP_KEYS, NormalizeMode.NONE]
    kinds = {type(json.loads(row[0])).__name__ for row in rows}
    assert kinds >= {"dict", "list", "str", "int", "float", "bool", "NoneType"}

    for value, *results in rows:
        for mode, expected in zip(modes, results, strict=True):
            data = json.loads(value)
            if expected.startswith("TransformError"):
                with pytest.raises(TransformError):
                    normalize(data, mode)
            else:
                assert normalize(data, mode) == json.loads(expected), (value, mode)


def test_readme_table_has_a_column_per_mode() -> None:
    header = README.read_text(encoding="utf-8").split(
        "### Normalize modes by JSON type"
    )[1]
    assert re.search(
        r"\| *JSON value *\| *`flatten` *\| *`map_keys` *\| *`none` *\|", header
    )
