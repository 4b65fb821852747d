"""Requests built from the bot context (request_mapping)."""

from __future__ import annotations

from typing import Any

from harness.mapping import build_request, render
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
