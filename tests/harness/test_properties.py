"""The rules of validation and transformation, stated as hypothesis properties.

`make test` runs the `fast` profile, `make test-deep` the `deep` one (see
tests/conftest.py). Every failing example hypothesis found is kept below as an
explicit `@example`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

import h11
import httpx
import jmespath
import yaml
from hypothesis import example, find, given, reject
from hypothesis import strategies as st
from pydantic import ValidationError

from harness.errors import (
    DefinitionError,
    ExtractionError,
    HarnessError,
    TransformError,
)
from harness.loader import load_definition
from harness.mapping import build_request, canonical_url, join_path
from harness.models import (
    IntegrationConfig,
    IntegrationDefinition,
    NormalizeMode,
    header_problem,
    jmespath_problem,
    url_problem,
)
from harness.transform import extract, flatten, map_keys, normal_key, normalize

URL = "https://api.example.com/v1"

# JSON values, as a parsed answer or a YAML file can hold them.
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    # Lone surrogates: Python text can hold them, UTF-8 cannot.
    | st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=2)
)
# Keys that collide after normalising are common, not a one-in-a-million draw.
keys = st.sampled_from(
    ["a", "b", "c", "A", "User Id", "user_id", "USER\tID"]
) | st.text(max_size=6)


def json_values(leaf: st.SearchStrategy[Any] = scalars) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaf,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4)
        ),
        max_leaves=12,
    )


anything = json_values()


def mixed(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly values close to valid, sometimes any JSON value at all."""
    return st.one_of(good, good, anything)


def _is_not_none(value: Any) -> bool:
    return value is not None


def _has_selector_keys(value: Any) -> bool:
    """True when a generated body uses `$input`/`transform` as plain keys."""
    if isinstance(value, list):
        return any(_has_selector_keys(item) for item in value)
    if not isinstance(value, dict):
        return False
    if value == {"$input": "bot.payload.q"}:
        return False
    return bool({"$input", "transform"} & set(value)) or any(
        _has_selector_keys(item) for item in value.values()
    )


# Pieces of definitions: valid choices, near misses, and random text.
urls = st.sampled_from(
    [
        "https://api.example.com/v1/data",
        "https://api.example.com",
        "https://api.example.com/",
        "https://api.example.com/users/{id}",
        "https://[::1]:8443/x",
        "http://api.example.com/",
        "https://u:p@api.example.com/",
        "https://api.example.com/a b",
        "https://api.example.com/#f",
        "https://{t}.example.com/",
        "https://h:99999/",
    ]
) | st.builds(
    "https://{}/{}".format,
    st.from_regex(r"[a-z0-9.-]{1,12}", fullmatch=True),
    st.text(max_size=10),
)
methods = st.sampled_from(["GET", "post", "Delete", "PUT", "patch", "FETCH", ""])
header_names = st.sampled_from(["Accept", "X-Trace", "accept", "Authorization", "X Y"])
header_maps = st.dictionaries(header_names | st.text(max_size=6), st.text(max_size=8))
selectors = st.sampled_from(
    ["bot.payload", "bot.payload.q", "user_id", "data.my-key", "a[?", "foo(@)", ""]
) | st.text(max_size=8)
selector_objects = st.fixed_dictionaries(
    {"$input": selectors},
    optional={
        "transform": st.sampled_from(["json_merge", "replace", "deep"]) | anything,
        "extra": scalars,
    },
)
templates = st.recursive(
    scalars | selector_objects,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["a", "$input", "transform"]) | keys, inner, max_size=3
        )
    ),
    max_leaves=8,
)
scalar_templates = scalars | st.fixed_dictionaries({"$input": selectors})
request_mappings = st.fixed_dictionaries(
    {},
    optional={
        "body": templates,
        "query": st.dictionaries(keys, scalar_templates, max_size=3),
        "path": st.dictionaries(
            st.sampled_from(["id", "x"]), scalar_templates, max_size=2
        ),
        "headers": st.dictionaries(header_names, scalar_templates, max_size=2),
    },
)
response_mappings = st.fixed_dictionaries(
    {},
    optional={
        "extract": selectors | st.none(),
        "normalize": st.sampled_from(["flatten", "map_keys", "none", "squash"]),
    },
)
configs = st.fixed_dictionaries(
    {"url": mixed(urls)},
    optional={
        "method": mixed(methods),
        "auth_type": mixed(st.sampled_from(["bearer", "api_key", "basic", "none"])),
        "auth_header_name": mixed(header_names),
        "secret_env": mixed(st.sampled_from(["EXTERNAL_API_KEY", "MY_KEY", "sk-1"])),
        "username": mixed(st.none() | st.sampled_from(["bot", "a:b"])),
        "headers": mixed(header_maps),
        "request_mapping": mixed(request_mappings),
        "response_mapping": mixed(response_mappings),
        "timeout_seconds": mixed(st.integers(-1, 130) | st.floats(0, 130)),
        "deadline_seconds": mixed(st.none() | st.floats(0, 700)),
        "idempotency_key": mixed(st.booleans()),
        "max_redirects": mixed(st.integers(-1, 11)),
        "retry": mixed(
            st.fixed_dictionaries({}, optional={"attempts": st.integers(0, 11)})
        ),
    },
)
definitions = st.fixed_dictionaries(
    {
        "name": mixed(st.text(min_size=2, max_size=8)),
        "bot_id": mixed(st.text(max_size=6)),
        "config": mixed(configs),
    },
    optional={
        "description": mixed(st.text(max_size=10)),
        "status": mixed(st.sampled_from(["ACTIVE", "INACTIVE", "active"])),
        "thresholds": mixed(st.fixed_dictionaries({}, optional={"p95_ms": scalars})),
        "cognigy_ai": mixed(
            st.fixed_dictionaries(
                {}, optional={"project_id": st.sampled_from(["a" * 24, "x"])}
            )
        ),
    },
)
# Definitions that are valid by construction, for the round-trip property.
valid_definitions = st.fixed_dictionaries(
    {
        "name": st.text(min_size=3, max_size=20),
        "bot_id": st.text(min_size=1, max_size=10),
        "config": st.fixed_dictionaries(
            {
                "url": st.sampled_from(
                    ["https://api.example.com/v1", "https://api.example.com"]
                )
            },
            optional={
                "method": st.sampled_from(["post", "PUT", "Patch"]),
                "auth_type": st.sampled_from(["bearer", "none"]),
                "headers": st.dictionaries(
                    st.sampled_from(["Accept", "X-Trace", "X-Tenant"]),
                    st.from_regex(r"[!-~]([ -~]{0,8}[!-~])?", fullmatch=True),
                    max_size=3,
                ),
                "request_mapping": st.fixed_dictionaries(
                    {},
                    optional={
                        "body": json_values(
                            scalars | st.just({"$input": "bot.payload.q"})
                        ).filter(lambda body: not _has_selector_keys(body)),
                        "query": st.dictionaries(keys, scalars.filter(_is_not_none)),
                    },
                ),
                "response_mapping": st.fixed_dictionaries(
                    {},
                    optional={
                        "extract": st.sampled_from(["data.result", 'a."b-c"[0]']),
                        "normalize": st.sampled_from(["flatten", "map_keys", "none"]),
                    },
                ),
                "timeout_seconds": st.floats(1, 120) | st.integers(1, 120),
                "max_redirects": st.integers(0, 10),
            },
        ),
        "description": st.text(max_size=30),
    },
    optional={
        "cognigy_ai": st.fixed_dictionaries(
            {}, optional={"flow_id": st.from_regex(r"[0-9a-f]{24}", fullmatch=True)}
        ),
    },
)


def leaves(value: Any) -> int:
    """The number of scalar values inside a JSON value."""
    if isinstance(value, list):
        return sum(leaves(item) for item in value)
    if isinstance(value, dict):
        return sum(leaves(item) for item in value.values())
    return 1


def has_collision(value: Any) -> bool:
    """An independent statement of when `map_keys` must refuse a value."""
    if isinstance(value, list):
        return any(has_collision(item) for item in value)
    if not isinstance(value, dict):
        return False
    mapped = [normal_key(key) for key in value]
    return len(set(mapped)) < len(mapped) or any(
        has_collision(v) for v in value.values()
    )


@given(definitions | anything)
@example(
    {
        "name": "00",
        "bot_id": "",
        "config": {"url": URL, "request_mapping": {"body": {"$input": "\ud800"}}},
    }
)
@example(
    {
        "name": "abc",
        "bot_id": "b",
        "config": {
            "url": URL,
            "request_mapping": {"body": {"\ud800\n": {"$input": 1}}},
        },
    }
)
@example({"name": "abc", "bot_id": "b", "config": {"url": "https://h.example/\ud800"}})
@example({"name": "abc", "bot_id": "b", "config": {"url": "https://[::1/"}})
@example({"name": "abc", "bot_id": "b", "config": {"url": "https://h:x/"}})
@example(
    {
        "name": "abc",
        "bot_id": "b",
        "config": {
            "url": "https://h.example/",
            "request_mapping": {"body": {"$input": "a", "transform": [1]}},
        },
    }
)
def test_any_json_is_accepted_or_refused_with_a_validation_error(data: Any) -> None:
    try:
        IntegrationDefinition.model_validate(data)
    except ValidationError as error:
        reasons = [item["msg"] for item in error.errors()]
    else:
        return
    # Each refusal says why, so `validate` can print a reason for it.
    assert reasons
    assert all(reasons)


def yaml_form(data: Any) -> str:
    """The YAML text of a definition, with non-ASCII characters escaped.

    PyYAML writes a NEL (U+0085) or U+2028 inside a quoted scalar literally
    when `allow_unicode` is on, and reads it back as a folded line break: the
    escaped form is the one that round-trips.
    """
    return yaml.safe_dump(data, sort_keys=False)


@given(valid_definitions)
@example({"name": "000", "bot_id": "0", "config": {"url": URL}, "description": "\x85"})
@example(
    {"name": "000", "bot_id": "0", "config": {"url": URL}, "description": "a\u2028"}
)
def test_accepted_definitions_round_trip_through_json_and_yaml(data: Any) -> None:
    try:
        parsed = IntegrationDefinition.model_validate(data)
    except ValidationError:
        reject()
    dumped = parsed.model_dump(mode="json")

    assert IntegrationDefinition.model_validate(dumped) == parsed
    assert IntegrationDefinition.model_validate_json(parsed.model_dump_json()) == parsed
    assert (
        IntegrationDefinition.model_validate(yaml.safe_load(yaml_form(dumped)))
        == parsed
    )


@given(definitions)
@example(
    {"name": "abc", "bot_id": "b", "config": {"url": URL}, "description": "\udc00"}
)
def test_whatever_is_accepted_also_round_trips(data: Any) -> None:
    try:
        parsed = IntegrationDefinition.model_validate(data)
    except ValidationError:
        return
    dumped = parsed.model_dump(mode="json")
    assert IntegrationDefinition.model_validate(dumped) == parsed
    assert IntegrationDefinition.model_validate_json(parsed.model_dump_json()) == parsed
    assert (
        IntegrationDefinition.model_validate(yaml.safe_load(yaml_form(dumped)))
        == parsed
    )


@given(anything, st.sampled_from(list(NormalizeMode)))
def test_normalize_is_total_and_never_loses_a_leaf(
    value: Any, mode: NormalizeMode
) -> None:
    try:
        result = normalize(value, mode)
    except TransformError:
        assert mode is NormalizeMode.MAP_KEYS
        assert has_collision(value)
        return
    assert leaves(result) >= leaves(value)


@given(anything)
def test_flatten_counts_its_items(value: Any) -> None:
    result = flatten(value)
    assert isinstance(result, dict)
    if isinstance(value, list):
        assert result["count"] == len(result["items"]) == len(value)
    elif not isinstance(value, dict):
        assert result == {"value": value}


@given(anything)
@example({"A\u0130": 1})  # "İ" lower-cases to two characters
def test_map_keys_is_idempotent_and_refuses_exactly_the_collisions(value: Any) -> None:
    try:
        once = map_keys(value)
    except TransformError:
        assert has_collision(value)
        return
    assert not has_collision(value)
    assert map_keys(once) == once
    assert leaves(once) == leaves(value)


expressions = st.sampled_from(
    [
        "a",
        "a.b",
        "a[*].b",
        "a[?b > `1`]",
        "a[?b > 'x']",
        "a[0]",
        "a[-1]",
        "a[::2]",
        "a[]",
        "*.a",
        "a | [0]",
        "{x: a, y: b}",
        "[a, b]",
        "a && b",
        "!a",
        "length(a)",
        "sort(a)",
        "max(a)",
        "sum(a)",
        "avg(a)",
        "abs(a)",
        "floor(a)",
        "ceil(a)",
        "to_number(a)",
        "to_string(a)",
        "join(',', a)",
        "keys(a)",
        "values(a)",
        "merge(a, b)",
        "contains(a, b)",
        "starts_with(a, b)",
        "sort_by(a, &b)",
        "max_by(a, &b)",
        "min_by(a, &b)",
        "map(&b, a)",
        "reverse(a)",
        "not_null(a, b)",
        "type(a)",
    ]
) | st.text(max_size=10)


@given(expressions, anything)
@example("floor(a)", {"a": 1e308})
@example("sort_by(a, &b)", {"a": [{"b": 1}, {"b": "x"}]})
def test_extract_is_total(expression: str, data: Any) -> None:
    try:
        result = extract(expression, data)
    except ExtractionError as error:
        message = str(error)
    else:
        assert result is not None
        return
    assert repr(expression) in message


@given(st.text(max_size=20))
@example("(" * 3000)
@example("`\ud800`")
def test_every_expression_compiles_or_gets_a_reason(expression: str) -> None:
    problem = jmespath_problem(expression)
    if problem is None:
        jmespath.compile(expression)
    else:
        assert repr(expression)[:10] in problem or "nested too deeply" in problem


@given(st.text(max_size=6), st.text(max_size=8))
@example("X", " a")
@example("X", "a\x0b")
@example("Host", "")
def test_accepted_headers_go_on_the_wire(name: str, value: str) -> None:
    if header_problem(name, value) is not None:
        return
    # h11 is what writes HTTP/1.1 headers for httpx: it must take them. The
    # request's own Host is left out when the header drawn is a Host itself.
    own_host = [] if name.lower() == "host" else [("Host", "h")]
    h11.Request(method="GET", target="/", headers=[*own_host, (name, value)])
    httpx.Headers({name: value})


@given(urls | st.text(max_size=20))
def test_accepted_urls_are_https_without_user_info(url: str) -> None:
    if url_problem(url) is not None:
        return
    parsed = httpx.URL(url)
    assert parsed.scheme == "https"
    assert parsed.host
    assert not parsed.userinfo
    assert canonical_url(url).split("://", 1)[1].count("/") >= 1


@given(st.sampled_from(["", "/", "/m", "/m/"]), st.text(alphabet="/ab", max_size=6))
def test_join_path_keeps_the_path_and_one_joint_slash(base: str, path: str) -> None:
    joined = join_path(base, path)
    assert joined.startswith(base.rstrip("/") + "/")
    assert joined.endswith(path)
    assert join_path(base.rstrip("/"), path) == join_path(base.rstrip("/") + "/", path)


def test_the_definition_strategy_reaches_accepted_definitions() -> None:
    """Guard the properties above: the strategies must produce valid cases too."""

    def accepted(data: Any) -> bool:
        try:
            IntegrationDefinition.model_validate(data)
        except ValidationError:
            return False
        return True

    found = find(definitions, accepted)
    assert IntegrationDefinition.model_validate(found).config.url


MAPPED = {
    "url": "https://api.example.com/users/{id}",
    "request_mapping": {
        "path": {"id": {"$input": "bot.payload.id"}},
        "query": {"q": {"$input": "bot.payload.q"}, "n": 1},
        "headers": {"X-Q": {"$input": "bot.payload.h"}},
    },
}
POSTED = IntegrationConfig.model_validate(
    MAPPED
    | {
        "request_mapping": MAPPED["request_mapping"]
        | {"body": {"$input": "bot.payload", "transform": "json_merge", "src": 1}}
    }
)
FETCHED = IntegrationConfig.model_validate(MAPPED | {"method": "GET"})
payloads = anything | st.dictionaries(
    st.sampled_from(["id", "q", "h", "src"]), anything, min_size=1
)


@given(payloads, st.sampled_from([POSTED, FETCHED]))
@example({"id": "+49 30/1"}, POSTED)
@example({"id": "\ud800"}, FETCHED)
@example({"id": 1, "src": ["\udc00"]}, POSTED)
@example({"id": 1, "h": "a\nb"}, POSTED)
def test_request_mapping_is_total_over_bot_payloads(
    payload: Any, config: IntegrationConfig
) -> None:
    try:
        spec = build_request(config, {"bot": {"payload": payload}})
    except HarnessError:
        return

    # The path value fills exactly one segment, and decodes back to its text.
    value = payload["id"]
    segment = spec.url.removeprefix("https://api.example.com/users/")
    assert "/" not in segment
    if isinstance(value, bool):
        assert unquote(segment) == ("true" if value else "false")
    else:
        assert unquote(segment) == str(value)
    if config is FETCHED:
        assert spec.has_body is False
        assert spec.json_body is None
    else:
        assert spec.json_body == {"src": 1} | payload


# YAML values that are not JSON, or not what they look like.
yaml_values = st.sampled_from(
    [
        "2024-01-01",
        "2024-01-01T10:00:00Z",
        "!!binary aGk=",
        "!!set {a, b}",
        "!!python/object:os.system {}",
        ".nan",
        "-.inf",
        "0x1F",
        "1_000",
        "~",
        "yes",
        "&a [*a]",
        "{a: 1, a: 2}",
        "{? [a]: 1}",
        "[unclosed",
        "'\\x85'",
        '"\\ud800"',
    ]
) | st.text(alphabet="{}[],:'\"&*!|>-?#% \nab1", max_size=12)
YAML_TEMPLATE = (
    "name: abc\nbot_id: b\nconfig:\n  url: https://h.example/\n"
    "  request_mapping:\n    body: {value}\n"
)


@given(value=yaml_values, where=st.sampled_from(["body", "top"]))
def test_any_yaml_text_is_loaded_or_refused_with_a_definition_error(
    value: str, where: str, tmp_path: Path
) -> None:
    file = tmp_path / "integration.yaml"
    text = YAML_TEMPLATE.format(value=value) if where == "body" else value
    file.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_definition(file)
    except DefinitionError as error:
        message = str(error)
    else:
        return
    # Every refusal names the file, so `validate` can print it.
    assert message.startswith(str(file))
