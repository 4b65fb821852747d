"""Validation rules of the definition (step 1), one test per rule.

Refusals go through the loader, as `cognigy-harness validate` does, so each
one is checked for the field it names and the reason it gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from harness.loader import InvalidIntegration, load_definition
from harness.models import (
    IntegrationConfig,
    IntegrationDefinition,
    Method,
    header_problem,
    jmespath_problem,
    located,
    url_problem,
)

URL = "https://api.example.com/v1/data"
SECRET = "sk-live-0123456789abcdef"


def definition(**config: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"url": URL}
    base.update(config)
    return {"name": "example", "bot_id": "bot_1", "config": base}


def problems(data: Any, tmp_path: Path) -> dict[str, str]:
    """Field -> reason of every refusal, read back from a YAML file."""
    file = tmp_path / "integration.yaml"
    file.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(InvalidIntegration) as caught:
        load_definition(file)
    assert all(p.file == file for p in caught.value.problems)
    return {p.field: p.reason for p in caught.value.problems}


def accepted(**config: Any) -> IntegrationConfig:
    return IntegrationDefinition.model_validate(definition(**config)).config


def test_defaults_follow_the_design() -> None:
    parsed = IntegrationDefinition.model_validate(definition())
    assert parsed.config.method is Method.POST
    assert parsed.config.auth_type.value == "bearer"
    assert parsed.config.timeout_seconds == 30
    assert parsed.status.value == "ACTIVE"


# (config fields, field named, words the reason must hold)
REFUSED_CONFIGS = {
    "http url": ({"url": "http://api.example.com/x"}, "config.url", "https://"),
    "no host": ({"url": "https:///v1"}, "config.url", "host"),
    "user and password": ({"url": "https://u:p@h.example/"}, "config.url", "user-info"),
    "token as user": ({"url": "https://tok@h.example/"}, "config.url", "user-info"),
    "space": ({"url": "https://h.example/a b"}, "config.url", "whitespace"),
    "newline": ({"url": "https://h.example/\n"}, "config.url", "whitespace"),
    "control": ({"url": "https://h.example/\x07"}, "config.url", "control"),
    "zero width": ({"url": "https://h.example/\u200b"}, "config.url", "control"),
    "fragment": ({"url": "https://h.example/#top"}, "config.url", "fragment"),
    "port": ({"url": "https://h.example:99999/"}, "config.url", "Port out of range"),
    "ipv6": ({"url": "https://[::1/"}, "config.url", "IPv6"),
    "host placeholder": ({"url": "https://{t}.h.example/"}, "config.url", "path"),
    "stray brace": ({"url": "https://h.example/{a-b}"}, "config.url", "placeholder"),
    "method": ({"method": "FETCH"}, "config.method", "GET"),
    "timeout 0": ({"timeout_seconds": 0}, "config.timeout_seconds", "1"),
    "timeout 0.5": ({"timeout_seconds": 0.5}, "config.timeout_seconds", "1"),
    "timeout 121": ({"timeout_seconds": 121}, "config.timeout_seconds", "120"),
    "header name space": ({"headers": {"X Trace": "1"}}, "config.headers", "9110"),
    "header name newline": ({"headers": {"X-Trace\n": "1"}}, "config.headers", "9110"),
    "header CRLF": (
        {"headers": {"X-Trace": "a\r\nEvil: 1"}},
        "config.headers.X-Trace",
        "CR, LF or NUL",
    ),
    "header NUL": ({"headers": {"X-T": "a\x00"}}, "config.headers.X-T", "NUL"),
    "header non-ASCII": (
        {"headers": {"X-City": "Köln"}},
        "config.headers.X-City",
        "ASCII",
    ),
    "header control": ({"headers": {"X-T": "a\x01b"}}, "config.headers.X-T", "control"),
    "header padded": ({"headers": {"X-T": " a"}}, "config.headers.X-T", "either end"),
    "auth header name": (
        {"auth_header_name": "X Key"},
        "config.auth_header_name",
        "9110",
    ),
    "normalize": (
        {"response_mapping": {"normalize": "squash"}},
        "config.response_mapping.normalize",
        "'flatten', 'map_keys' or 'none'",
    ),
    "normalize case": (
        {"response_mapping": {"normalize": "Flatten"}},
        "config.response_mapping.normalize",
        "flatten",
    ),
    "transform": (
        {"request_mapping": {"body": {"$input": "bot.payload", "transform": "deep"}}},
        "config.request_mapping.body.transform",
        "unknown mode 'deep' (known: json_merge, replace)",
    ),
    "transform not text": (
        {"request_mapping": {"body": {"$input": "bot.payload", "transform": [1]}}},
        "config.request_mapping.body.transform",
        "unknown mode",
    ),
    "transform alone": (
        {"request_mapping": {"body": {"transform": "json_merge", "a": 1}}},
        "config.request_mapping.body.transform",
        "beside $input",
    ),
    "replace drops keys": (
        {"request_mapping": {"body": {"$input": "bot.payload", "keep": 1}}},
        "config.request_mapping.body",
        "json_merge",
    ),
    "selector not text": (
        {"request_mapping": {"body": {"$input": 3}}},
        "config.request_mapping.body.$input",
        "JMESPath string",
    ),
    "body selector": (
        {"request_mapping": {"body": {"user": {"$input": "bot.payload.user-id"}}}},
        "config.request_mapping.body.user.$input",
        "quoted",
    ),
    "query selector": (
        {"request_mapping": {"query": {"q": {"$input": "bot[?"}}}},
        "config.request_mapping.query.q.$input",
        "incomplete expression",
    ),
    "query object": (
        {"request_mapping": {"query": {"q": {"a": 1}}}},
        "config.request_mapping.query.q",
        "a string, a number, a boolean",
    ),
    "query null": (
        {"request_mapping": {"query": {"q": None}}},
        "config.request_mapping.query.q",
        "a string, a number, a boolean",
    ),
    "mapped header name": (
        {"request_mapping": {"headers": {"X Y": {"$input": "bot.payload"}}}},
        "config.request_mapping.headers",
        "9110",
    ),
    "mapped header value": (
        {"request_mapping": {"headers": {"X-Y": "a\nb"}}},
        "config.request_mapping.headers.X-Y",
        "CR, LF",
    ),
    "basic without user": ({"auth_type": "basic"}, "config.username", "basic"),
    "user without basic": ({"username": "bot"}, "config.username", "only"),
    "user with colon": (
        {"auth_type": "basic", "username": "a:b"},
        "config.username",
        "':'",
    ),
    "api key without header": (
        {"auth_type": "api_key"},
        "config.auth_header_name",
        "X-API-Key",
    ),
    "authorization literal": (
        {"headers": {"Authorization": "Bearer abc"}},
        "config.headers.Authorization",
        "never holds a credential",
    ),
    "authorization literal, auth none": (
        {"auth_type": "none", "headers": {"authorization": "Basic abc"}},
        "config.headers.authorization",
        "never holds a credential",
    ),
    "api key header literal": (
        {
            "auth_type": "api_key",
            "auth_header_name": "X-Key",
            "headers": {"x-key": "k"},
        },
        "config.headers.x-key",
        "credential",
    ),
    "cookie mapped": (
        {"request_mapping": {"headers": {"Cookie": {"$input": "bot.payload.c"}}}},
        "config.request_mapping.headers.Cookie",
        "credential",
    ),
    "header twice": (
        {"headers": {"Accept": "a/b", "accept": "c/d"}},
        "config.headers.accept",
        "same header as headers.Accept",
    ),
    "header in both": (
        {"headers": {"Accept": "a/b"}, "request_mapping": {"headers": {"ACCEPT": "x"}}},
        "config.request_mapping.headers.ACCEPT",
        "same header",
    ),
    "placeholder unmapped": (
        {"url": "https://h.example/users/{user_id}"},
        "config.request_mapping.path",
        "not mapped: ['user_id']",
    ),
    "mapping without placeholder": (
        {"request_mapping": {"path": {"user_id": "u1"}}},
        "config.request_mapping.path",
        "not in url: ['user_id']",
    ),
    "inline secret field": ({"api_key": SECRET}, "config.api_key", "Extra inputs"),
}


@pytest.mark.parametrize(
    ("config", "field", "reason"),
    list(REFUSED_CONFIGS.values()),
    ids=list(REFUSED_CONFIGS),
)
def test_refused_with_field_and_reason(
    config: dict[str, Any], field: str, reason: str, tmp_path: Path
) -> None:
    found = problems(definition(**config), tmp_path)
    assert field in found, found
    assert reason in found[field]


@pytest.mark.parametrize("method", ["GET", "get", "DELETE", "Delete"])
@pytest.mark.parametrize("method_first", [True, False])
def test_bodyless_method_with_body_is_refused_whatever_the_field_order(
    method: str, method_first: bool, tmp_path: Path
) -> None:
    mapping = {"body": {"$input": "bot.payload"}}
    config: dict[str, Any] = {"url": URL}
    if method_first:
        config |= {"method": method, "request_mapping": mapping}
    else:
        config |= {"request_mapping": mapping, "method": method}
    assert list(config)[1] == ("method" if method_first else "request_mapping")

    found = problems({"name": "example", "bot_id": "b", "config": config}, tmp_path)
    assert method.upper() in found["config.request_mapping.body"]


@pytest.mark.parametrize(
    ("top", "field", "reason"),
    [
        ({"name": "ab"}, "name", "at least 3"),
        ({"name": "x" * 101}, "name", "at most 100"),
        ({"bot_id": ""}, "bot_id", "at least 1"),
        ({"status": "BROKEN"}, "status", "ACTIVE"),
        ({"config": None}, "config", "dictionary"),
    ],
)
def test_definition_fields_are_refused(
    top: dict[str, Any], field: str, reason: str, tmp_path: Path
) -> None:
    found = problems(definition() | top, tmp_path)
    assert reason in found[field]


def test_a_document_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    assert "dictionary" in problems(["name", "x"], tmp_path)["(definition)"]


def test_yaml_values_that_are_not_json_are_refused(tmp_path: Path) -> None:
    file = tmp_path / "integration.yaml"
    file.write_text(
        f"name: example\nbot_id: b\nconfig:\n  url: {URL}\n"
        "  request_mapping:\n    body: {when: 2024-01-01}\n"
    )
    with pytest.raises(InvalidIntegration) as caught:
        load_definition(file)
    assert "JSON" in str(caught.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_body_numbers_must_be_finite(value: float) -> None:
    body = {"ratio": value}
    with pytest.raises(ValidationError, match="not a JSON number"):
        accepted(request_mapping={"body": body})


@pytest.mark.parametrize(
    "config",
    [
        {"method": "patch"},
        {"timeout_seconds": 1},
        {"timeout_seconds": 120},
        {"url": "https://api.example.com"},
        {"url": "https://bücher.example/katalog"},
        {"url": "https://[2001:db8::1]:8443/v1"},
        {"url": "https://h.example/v1?format=json"},
        {"auth_type": "api_key", "auth_header_name": "X-API-Key"},
        {"auth_type": "basic", "username": "bot"},
        {"auth_type": "none", "secret_env": "UNUSED"},
        {"headers": {"Accept": "application/json", "X-Empty": ""}},
        {"headers": {"X-Tab": "a\tb"}},
        {
            "url": "https://h.example/users/{user_id}/phones/{phone}",
            "method": "GET",
            "request_mapping": {
                "path": {"user_id": {"$input": "user_id"}, "phone": "+4930"},
                "query": {"n": 5, "all": True, "q": {"$input": "bot.payload.q"}},
                "headers": {"X-Session": {"$input": "session_id"}},
            },
        },
        {
            "request_mapping": {
                "body": {"$input": "bot.payload", "transform": "json_merge", "v": 2}
            }
        },
        {"request_mapping": {"body": [{"$input": "bot.payload"}, "literal", None]}},
        {"method": "GET", "request_mapping": {"body": None}},
    ],
)
def test_accepted(config: dict[str, Any]) -> None:
    parsed = accepted(**config)
    assert parsed.method.value == parsed.method.value.upper()


def test_method_is_upper_case_once_parsed() -> None:
    assert accepted(method="pAtCh").method is Method.PATCH


def test_empty_path_and_root_path_are_both_accepted() -> None:
    assert accepted(url="https://h.example").url == "https://h.example"
    assert accepted(url="https://h.example/").url == "https://h.example/"


def test_secret_env_never_echoes_a_pasted_secret(tmp_path: Path) -> None:
    found = problems(definition(secret_env=SECRET), tmp_path)
    assert "environment variable" in found["config.secret_env"]
    assert SECRET not in str(found)


def test_no_error_message_repeats_the_input() -> None:
    data = definition(headers={"X-Token": SECRET + "\n"}, secret_env=SECRET)
    with pytest.raises(ValidationError) as caught:
        IntegrationDefinition.model_validate(data)
    assert SECRET not in str(caught.value)
    assert "X-Token" in str(caught.value)


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("data.my-key", ["'data.my-key'", "at character 8", "'-'", "quoted"]),
        ("data.2fa", ["at character 6", "quoted"]),
        ("a[?", ["at character 4", "incomplete expression"]),
        ('"a', ["at character 1", "Unclosed"]),
        ("", ["cannot be empty"]),
        ("foo(@)", ["unknown function foo()"]),
        ("length(a, b)", ["length() takes 1 argument(s), got 2"]),
        ("merge()", ["merge() takes at least 1 argument(s), got 0"]),
        ("a.b[0].{x: length(c)}", None),
        ('data."my-key"', None),
        ("not_null(a, b, c)", None),
    ],
)
def test_jmespath_problems(expression: str, words: list[str] | None) -> None:
    problem = jmespath_problem(expression)
    if words is None:
        assert problem is None
    else:
        assert problem is not None
        for word in words:
            assert word in problem


def test_quoting_hint_only_when_it_applies() -> None:
    problem = jmespath_problem("data[?")
    assert problem is not None
    assert "quoted" not in problem


def test_deeply_nested_expression_is_a_clear_error(tmp_path: Path) -> None:
    expression = "(" * 3000 + "a" + ")" * 3000
    found = problems(definition(response_mapping={"extract": expression}), tmp_path)
    assert "nested too deeply" in found["config.response_mapping.extract"]


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("X-Ok", "value with spaces", None),
        ("X-Ok", "", None),
        ("X-Trace\n", None, "RFC 9110"),
        ("", None, "RFC 9110"),
        ("X(1)", None, "RFC 9110"),
        ("X", "a\r", "CR, LF or NUL"),
        ("X", "é", "not ASCII"),
        ("X", "a\x7f", "control"),
        ("X", "a\t", "either end"),
    ],
)
def test_header_rules(name: str, value: str | None, problem: str | None) -> None:
    found = header_problem(name, value)
    assert found == problem if problem is None else problem in (found or "")


def test_url_problem_names_the_scheme() -> None:
    assert url_problem("ftp://h.example/") == "must use https:// (got ftp)"
    assert url_problem("h.example/v1") == "must use https:// (got no scheme)"


def test_located_splits_nested_fields() -> None:
    assert located("config", "headers: X-A: value carries CR") == (
        "config.headers.X-A",
        "value carries CR",
    )
    assert located("config.url", "url must use https://") == (
        "config.url",
        "url must use https://",
    )
    assert located("", "name: too short") == ("name", "too short")


@pytest.mark.parametrize(
    ("top", "field"),
    [
        ({"description": "\udc00"}, "description"),
        (
            {
                "config": {
                    "url": URL,
                    "request_mapping": {"body": {"a": ["x", "\ud800"]}},
                }
            },
            "config.request_mapping.body.a[1]",
        ),
    ],
)
def test_text_that_utf8_cannot_carry_is_refused(
    top: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        IntegrationDefinition.model_validate(definition() | top)
    (error,) = caught.value.errors()
    location = ".".join(str(part) for part in error["loc"])
    reason = error["msg"].removeprefix("Value error, ")
    assert located(location, reason) == (
        field,
        "text with a lone surrogate cannot be sent as UTF-8",
    )
