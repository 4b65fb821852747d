"""Requests built from the bot context (request_mapping)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.errors import DefinitionError, ExtractionError
from harness.executor import apply_host_override
from harness.mapping import build_request, join_path, render
from harness.models import IntegrationConfig
from harness.pipeline import bot_context


def config(**fields: Any) -> IntegrationConfig:
    return IntegrationConfig.model_validate(
        {"url": "https://api.example.com/v1/data"} | fields
    )


def test_json_merge_merges_the_payload_into_the_template() -> None:
    template = {"$input": "bot.payload", "transform": "json_merge", "source": "bot"}
    context = bot_context({"query": "x"})
    assert render(template, context) == {"source": "bot", "query": "x"}


def test_nested_selectors_are_replaced() -> None:
    template = {"user": {"$input": "bot.payload.user_id"}, "fixed": [1, 2]}
    assert render(template, bot_context({"user_id": "u1"})) == {
        "user": "u1",
        "fixed": [1, 2],
    }


def test_path_values_are_percent_encoded() -> None:
    cfg = config(
        url="https://api.example.com/v1/phones/{phone}",
        method="GET",
        request_mapping={"path": {"phone": {"$input": "bot.payload.phone"}}},
    )
    spec = build_request(cfg, bot_context({"phone": "+49 30/123"}))
    assert spec.url == "https://api.example.com/v1/phones/%2B49%2030%2F123"


def test_get_sends_no_body_and_maps_the_query() -> None:
    cfg = config(
        method="GET",
        request_mapping={"query": {"q": {"$input": "bot.payload.q"}, "n": 5}},
    )
    spec = build_request(cfg, bot_context({"q": "rain"}))
    assert spec.has_body is False
    assert spec.params == {"q": "rain", "n": "5"}


def test_a_template_without_input_keeps_every_key() -> None:
    template = {"a": {"b": [1, {"$input": "bot.payload.x"}]}, "c": None}
    assert render(template, bot_context({"x": 2})) == {"a": {"b": [1, 2]}, "c": None}


def test_a_body_selector_that_finds_nothing_gives_null() -> None:
    assert render({"u": {"$input": "bot.payload.missing"}}, bot_context({})) == {
        "u": None
    }


@pytest.mark.parametrize("payload", [None, [1], "text"])
def test_json_merge_needs_an_object(payload: Any) -> None:
    template = {"$input": "bot.payload", "transform": "json_merge"}
    with pytest.raises(ExtractionError, match="json_merge needs an object"):
        render(template, bot_context(payload))


def test_a_selector_that_cannot_be_evaluated_is_an_extraction_error() -> None:
    template = {"$input": "bot.payload[?n > 'x']"}
    with pytest.raises(ExtractionError, match=r"request_mapping\.body\.\$input"):
        render(template, bot_context([{"n": 1}]))


@pytest.mark.parametrize("url", ["https://api.example.com", "https://api.example.com/"])
def test_root_url_is_sent_as_slash(url: str) -> None:
    assert build_request(config(url=url), bot_context({})).url == (
        "https://api.example.com/"
    )


@pytest.mark.parametrize(
    ("base", "path", "joined"),
    [
        ("http://127.0.0.1:8000", "", "http://127.0.0.1:8000/"),
        ("http://127.0.0.1:8000", "/", "http://127.0.0.1:8000/"),
        ("http://127.0.0.1:8000/", "/v1", "http://127.0.0.1:8000/v1"),
        ("/mock/", "v1/x", "/mock/v1/x"),
        ("/mock", "//v1", "/mock//v1"),
    ],
)
def test_join_path_puts_one_slash_at_the_joint(
    base: str, path: str, joined: str
) -> None:
    assert join_path(base, path) == joined


@pytest.mark.parametrize("definition_url", ["https://h.example", "https://h.example/"])
@pytest.mark.parametrize("base", ["http://127.0.0.1:9000", "http://127.0.0.1:9000/m/"])
def test_host_override_joins_the_same_for_both_root_forms(
    definition_url: str, base: str
) -> None:
    overridden = apply_host_override(definition_url, {"h.example": base})
    assert overridden == base.rstrip("/") + "/"


def test_missing_path_value_is_an_error() -> None:
    cfg = config(
        url="https://api.example.com/users/{user_id}",
        request_mapping={"path": {"user_id": {"$input": "bot.payload.user_id"}}},
    )
    with pytest.raises(ExtractionError, match="user_id"):
        build_request(cfg, bot_context({}))


def test_missing_query_and_header_values_are_left_out() -> None:
    cfg = config(
        method="GET",
        request_mapping={
            "query": {"q": {"$input": "bot.payload.q"}, "lang": "en"},
            "headers": {"X-Session": {"$input": "session_id"}},
        },
    )
    spec = build_request(cfg, bot_context({}))
    assert spec.params == {"lang": "en"}
    assert "X-Session" not in spec.headers

    spec = build_request(cfg, bot_context({"q": "x"}, session_id="s1"))
    assert spec.params == {"q": "x", "lang": "en"}
    assert spec.headers["X-Session"] == "s1"


def test_objects_are_refused_in_query_values() -> None:
    cfg = config(request_mapping={"query": {"q": {"$input": "bot.payload"}}})
    with pytest.raises(ExtractionError, match=r"query\.q.*dict"):
        build_request(cfg, bot_context({"a": 1}))


def test_header_values_from_the_bot_context_are_checked() -> None:
    cfg = config(request_mapping={"headers": {"X-Name": {"$input": "bot.payload"}}})
    with pytest.raises(DefinitionError, match="X-Name: value carries CR, LF or NUL"):
        build_request(cfg, bot_context("a\r\nInjected: 1"))


def test_delete_sends_no_body() -> None:
    spec = build_request(config(method="delete"), bot_context({"a": 1}))
    assert spec.method == "DELETE"
    assert spec.has_body is False
    assert spec.json_body is None


def test_json_merge_body_and_literal_defaults() -> None:
    cfg = config(
        request_mapping={
            "body": {"$input": "bot.payload", "transform": "json_merge", "v": 1}
        }
    )
    spec = build_request(cfg, bot_context({"v": 2, "q": "x"}))
    assert spec.has_body is True
    assert spec.json_body == {"v": 2, "q": "x"}


def test_text_utf8_cannot_carry_is_an_extraction_error() -> None:
    cfg = config(
        request_mapping={"body": {"$input": "bot.payload", "transform": "json_merge"}}
    )
    with pytest.raises(ExtractionError, match=r"request_mapping\.body\.a\[1\]"):
        build_request(cfg, bot_context({"a": ["x", "\ud800"]}))
