"""Extraction and normalization (step 4)."""

from __future__ import annotations

import pytest

from harness.errors import ExtractionError, TransformError
from harness.models import NormalizeMode
from harness.transform import extract, flatten, map_keys, normalize, payload_size


def test_extract_follows_the_path() -> None:
    assert extract("data.result", {"data": {"result": {"a": 1}}}) == {"a": 1}


def test_extract_that_finds_nothing_names_the_expression() -> None:
    with pytest.raises(ExtractionError, match=r"data\.missing"):
        extract("data.missing", {"data": {}})


def test_extract_keeps_falsy_values() -> None:
    assert extract("ok", {"ok": False}) is False
    assert extract("n", {"n": 0}) == 0


def test_type_error_inside_jmespath_is_an_extraction_error() -> None:
    with pytest.raises(ExtractionError):
        extract("a[?b > 'x']", {"a": [{"b": 1}]})


def test_flatten() -> None:
    assert flatten([1, 2]) == {"items": [1, 2], "count": 2}
    assert flatten({"a": 1}) == {"a": 1}
    assert flatten(7) == {"value": 7}, "a scalar is never silently {}"


def test_map_keys_is_recursive_and_works_on_lists() -> None:
    data = [{"User Id": 1, "Nested": {"Inner Key": [{"X Y": 2}]}}]
    assert map_keys(data) == [{"user_id": 1, "nested": {"inner_key": [{"x_y": 2}]}}]


def test_map_keys_refuses_colliding_keys() -> None:
    with pytest.raises(TransformError, match="User Id"):
        map_keys({"User Id": 1, "user_id": 2})


def test_normalize_none_is_identity() -> None:
    assert normalize([1], NormalizeMode.NONE) == [1]


def test_payload_size_counts_utf8_bytes() -> None:
    assert payload_size({"n": "é"}) == len('{"n":"é"}'.encode())
    assert payload_size({"n": "é"}) == 10
