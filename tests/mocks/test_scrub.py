"""What the scrubber masks, and the echoes it hunts down."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from mocks.scrub import MASK, Scrubbed, Scrubber, ScrubPathError, parse_json_path


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("$.customer.email", ["customer", "email"]),
        ("items[*].phone", ["items", "*", "phone"]),
        ("a.*.b", ["a", "*", "b"]),
        ("rows[0][1]", ["rows", 0, 1]),
    ],
)
def test_json_paths_parse(path: str, steps: list[str | int]) -> None:
    assert parse_json_path(path) == steps


@pytest.mark.parametrize("path", ["", "$", "a..b", "a[x]"])
def test_a_bad_json_path_is_refused_when_configured(path: str) -> None:
    with pytest.raises(ScrubPathError):
        Scrubber(json_paths=(path,))


def test_json_paths_mask_only_their_place() -> None:
    body: dict[str, Any] = {
        "items": [{"phone": "+1 555 0100", "id": 1}, {"phone": "+1 555 0101"}],
        "customer": {"email": "a@example.com", "name": "Ann"},
        "refresh_token": "r-123456789",
        "nested": [{"id_token": "i-123456789"}],
    }
    scrubber = Scrubber().extended(json_paths=["items[*].phone", "customer.email"])

    scrubbed = scrubber.scrub_json(body, Scrubbed())

    assert scrubbed == {
        "items": [{"phone": MASK, "id": 1}, {"phone": MASK}],
        "customer": {"email": MASK, "name": "Ann"},
        "refresh_token": MASK,
        "nested": [{"id_token": MASK}],
    }
    assert body["customer"]["email"] == "a@example.com", "the input is not changed"


def test_headers_are_masked_and_their_secrets_remembered() -> None:
    basic = base64.b64encode(b"user:pa55word-xyz").decode()
    seen = Scrubbed()
    headers = (
        Scrubber()
        .extended(headers=["X-Tenant-Secret"])
        .scrub_headers(
            {
                "Authorization": f"Basic {basic}",
                "Cookie": "a=cookie-one-123; b=cookie-two-456",
                "X-Tenant-Secret": "tenant-secret-789",
                "Accept": "application/json",
            },
            seen,
        )
    )

    assert headers == {
        "authorization": MASK,
        "cookie": MASK,
        "x-tenant-secret": MASK,
        "accept": "application/json",
    }
    echoed = f"user pa55word-xyz used cookie-two-456 and {basic}"
    assert seen.replace_echoes(echoed) == f"user {MASK} used {MASK} and {MASK}"


def test_form_and_query_secrets() -> None:
    seen = Scrubbed()
    scrubber = Scrubber().extended(query_params=["email"])
    form = scrubber.scrub_form("grant_type=password&password=hunter2x&user=a", seen)
    query = scrubber.scrub_query({"email": "a@example.com", "q": "x"}, seen)

    assert form == "grant_type=password&password=***&user=a"
    assert query == {"email": MASK, "q": "x"}
    assert seen.replace_echoes({"note": ["hunter2x"]}) == {"note": [MASK]}


def test_short_values_are_masked_but_not_hunted() -> None:
    seen = Scrubbed()
    assert Scrubber().scrub_query({"token": "abc"}, seen) == {"token": MASK}
    assert seen.replace_echoes("abc") == "abc", "three characters match anywhere"
