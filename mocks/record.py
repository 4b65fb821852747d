"""Record and replay: a mock that passes requests to the real server.

`Recorder` is an external mock (an ASGI app like the others, so it serves
in-process through respx and on a port) over one fixture file. Its record
mode, named as the established record/replay tools name theirs, decides what
happens to each request:

- `none`: replay only; an unmatched request fails with the near-miss message.
- `once`: replay when the file existed at start; otherwise record everything.
- `new_episodes`: replay what matches, record what does not.
- `all`: record every request, replay nothing; `save()` rewrites the file
  with this session's interactions only: the file's interactions, recorded
  or hand-written, are dropped (`dropped` lists them).

Every interaction is scrubbed (see `mocks.scrub`) before it is kept, so no
secret reaches the file. Usage (the pytest plugin's `--record-mode` does
exactly this):

    recorder = Recorder(path, upstream="https://api.example.com", mode="once")
    with respx.mock() as router:
        recorder.install(router, host="api.example.com")
        ...  # exercise the code under test
    recorder.save()
    await recorder.aclose()
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx
import respx
from starlette.requests import Request
from starlette.responses import Response

from mocks.base import SYNTHESIZED_HEADER
from mocks.external import UNMATCHED_STATUS, ExternalMock, replay, request_info
from mocks.faults import FaultPlan
from mocks.fixtures import (
    FixtureFile,
    Interaction,
    Matcher,
    Miss,
    RecordedResponse,
    RequestInfo,
    RequestMatch,
    dump_fixture_file,
    find_match,
    load_fixture_file,
)
from mocks.journal import decode_body
from mocks.scrub import Scrubbed, Scrubber
from mocks.transport import PASS_THROUGH, asgi_side_effect, pass_marked_through

logger = logging.getLogger(__name__)

#: Request headers kept as match rules of a recorded interaction.
MATCH_HEADERS = ("content-type",)

#: Response headers that describe one transfer, not the answer: not kept.
_TRANSFER_HEADERS = frozenset(
    {
        "connection",
        "content-encoding",
        "content-length",
        "date",
        "keep-alive",
        "server",
        "transfer-encoding",
    }
)


class RecordMode(StrEnum):
    """What a recorder does with requests (as vcrpy and pytest-recording)."""

    NONE = "none"
    ONCE = "once"
    NEW_EPISODES = "new_episodes"
    ALL = "all"


class RecordingError(RuntimeError):
    """The upstream could not be reached while recording.

    Raised, not answered: a test that meant to record must fail, not go on
    with an invented answer. On a port, the client sees the server's 500.
    """


class Recorder(ExternalMock):
    """An external mock over one fixture file that records what it lacks.

    Args:
        path: the fixture file (`.yaml`/`.yml`, or `.json`); it need not exist.
        upstream: the real server's base URL, e.g. `https://api.example.com`.
        mode: a `RecordMode` or its name.
        scrubber: what to mask; the default masks credentials and tokens,
            `Scrubber().extended(...)` adds customer-data fields.
        client: the client that reaches the upstream (default: one of its own,
            closed by `aclose`).
        fault_plan, matchers: as for `ExternalMock`.
    """

    def __init__(
        self,
        path: Path | str,
        upstream: str,
        mode: RecordMode | str = RecordMode.NONE,
        *,
        scrubber: Scrubber | None = None,
        client: httpx.AsyncClient | None = None,
        fault_plan: FaultPlan | None = None,
        matchers: list[Matcher] | None = None,
    ) -> None:
        self.path = Path(path)
        self.mode = RecordMode(mode)
        self.upstream = upstream.rstrip("/")
        existed = self.path.exists()
        fixtures = load_fixture_file(self.path) if existed else FixtureFile()
        #: The file's interactions that `all` leaves out when it rewrites it
        #: (`all` re-records everything, hand-written interactions included).
        self.dropped: list[Interaction] = []
        if self.mode is RecordMode.ALL:
            self.dropped = fixtures.interactions
            fixtures = FixtureFile(base_url=fixtures.base_url)
        fixtures.base_url = fixtures.base_url or _origin(self.upstream)
        super().__init__(fixtures, fault_plan, matchers=matchers or ())

        self.scrubber = scrubber or Scrubber()
        self.journal.scrubber = self.scrubber
        self.recording = self.mode in (RecordMode.NEW_EPISODES, RecordMode.ALL) or (
            self.mode is RecordMode.ONCE and not existed
        )
        self.recorded: list[Interaction] = []
        # Requests that could not be recorded: the upstream was unreachable.
        self.errors: list[str] = []
        self._client = client
        self._own_client = client is None

    async def handle(self, request: Request, body: bytes) -> Response:
        info = request_info(request, body)
        if self.mode is not RecordMode.ALL:
            found = self._match(info)
            if isinstance(found, Interaction):
                self.used.add(id(found))
                return await replay(found.response)
            if not self.recording:
                return self.unmatched(info, found)
        return await self._record(request, body)

    def _match(self, info: RequestInfo) -> Interaction | Miss | None:
        return find_match(self.fixtures, info, self.matchers)

    async def _record(self, request: Request, body: bytes) -> Response:
        """Pass the request upstream, keep it scrubbed, answer with what came."""
        what = f"recording {request.method} {request.url.path}"
        try:
            upstream = await self._forward(request, body)
        except httpx.HTTPError as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            message = f"{what}: cannot reach {self.upstream} ({reason})"
            self.errors.append(message)
            raise RecordingError(message) from None
        made_up = synthesized(upstream)
        if made_up is not None:
            # Passed on, so the client sees it, but never kept: it is what a
            # mock (a fault, another recorder's near miss) made up, not the
            # service's answer, and replaying it would hide the gap.
            self.errors.append(
                f"{what}: {self.upstream} answered {upstream.status_code} "
                f"{made_up}, made up by a mock: not recorded"
            )
            return _passed_on(upstream)
        interaction = self._scrubbed(request, body, upstream)
        self.fixtures.interactions.append(interaction)
        self.used.add(id(interaction))
        self.recorded.append(interaction)
        logger.info("recorded %s -> %s", interaction.label, interaction.response.status)
        return _passed_on(upstream)

    async def _forward(self, request: Request, body: bytes) -> httpx.Response:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=30.0)
        url = self.upstream + request.url.path
        # httpx sets both for the upstream request itself.
        skipped = ("host", "content-length")
        headers = [(k, v) for k, v in request.headers.items() if k not in skipped]
        outgoing = self._client.build_request(
            request.method,
            url,
            params=list(request.query_params.multi_items()),
            headers=headers,
            content=body,
            extensions={PASS_THROUGH: True},
        )
        return await self._client.send(outgoing)

    def _scrubbed(
        self, request: Request, body: bytes, upstream: httpx.Response
    ) -> Interaction:
        """The interaction as it may be written: every secret masked."""
        seen = Scrubbed()
        headers = self.scrubber.scrub_headers(request.headers.items(), seen)
        content_type = headers.get("content-type", "")
        decoded = decode_body(body, content_type)
        match = RequestMatch(
            method=request.method,
            path=request.url.path,
            query=self.scrubber.scrub_query(dict(request.query_params), seen) or None,
            headers={k: headers[k] for k in MATCH_HEADERS if k in headers} or None,
        )
        scrubbed_body = self.scrubber.scrub_body(decoded, content_type, seen)
        if isinstance(scrubbed_body, dict | list):
            match.body = scrubbed_body
        elif isinstance(scrubbed_body, str) and "form-urlencoded" in content_type:
            match.form = dict(parse_qsl(scrubbed_body, keep_blank_values=True))

        response = self._scrubbed_response(upstream, seen)
        interaction = Interaction(
            name=f"{request.method} {request.url.path} #{len(self.recorded) + 1}",
            request=match,
            response=response,
            recorded={"at": _now(), "from": self.upstream},
        )
        # Last pass: a secret echoed anywhere else is masked too.
        cleaned = seen.replace_echoes(interaction.model_dump(mode="json"))
        return Interaction.model_validate(cleaned)

    def _scrubbed_response(
        self, upstream: httpx.Response, seen: Scrubbed
    ) -> RecordedResponse:
        headers = self.scrubber.scrub_headers(upstream.headers.multi_items(), seen)
        headers = {k: v for k, v in headers.items() if k not in _TRANSFER_HEADERS}
        content_type = headers.get("content-type", "")
        decoded = decode_body(upstream.content, content_type)
        recorded = RecordedResponse(status=upstream.status_code, headers=headers)
        if isinstance(decoded, dict | list):
            recorded.body = self.scrubber.scrub_json(decoded, seen)
        elif decoded is not None:
            # Kept as text: a binary answer (an image, a PDF) loses the bytes
            # that are not UTF-8, so its replay is not byte-identical. The
            # services an integration calls answer JSON or text.
            recorded.text = str(self.scrubber.scrub_body(decoded, content_type, seen))
        return recorded

    def save(self) -> Path | None:
        """Write the fixture file if anything was recorded; its path, or None."""
        if not self.recorded:
            return None
        dump_fixture_file(self.fixtures, self.path)
        logger.info("wrote %d interaction(s) to %s", len(self.recorded), self.path)
        return self.path

    def install(self, router: respx.MockRouter, host: str | None = None) -> None:
        """Intercept `host` (the upstream's by default) on a respx router.

        The recorder's own upstream calls are marked to pass through, so it
        can record the very host it intercepts.
        """
        router.route().mock(side_effect=pass_marked_through)
        target = host or urlsplit(self.upstream).hostname or ""
        router.route(host=target).mock(side_effect=asgi_side_effect(self))

    async def aclose(self) -> None:
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None


def synthesized(response: httpx.Response) -> str | None:
    """What a mock made this answer up as, or None for a real answer.

    Marked answers say so in `SYNTHESIZED_HEADER`; an unmarked 599 (the
    status of an unmatched request, which no real service sends) counts too.
    """
    marker: str | None = response.headers.get(SYNTHESIZED_HEADER)
    if marker:
        return marker
    if response.status_code == UNMATCHED_STATUS:
        return "unmatched_request"
    return None


def _passed_on(upstream: httpx.Response) -> Response:
    headers = {k: v for k, v in upstream.headers.items() if k not in _TRANSFER_HEADERS}
    return Response(upstream.content, upstream.status_code, headers)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
