"""Mock Cognigy platform, external services and webhook receiver.

Each mock is one ASGI app, served in-process through respx or on a loopback
port through uvicorn (see `mocks.transport`).
"""

from mocks.cognigy import CognigyMock, RateLimit
from mocks.cognigy_v2 import CognigyAiMock
from mocks.environment import MockEnvironment
from mocks.external import ExternalMock
from mocks.faults import (
    Fault,
    FaultPlan,
    FaultPlanError,
    FaultRule,
    Latency,
    load_fault_plan,
    parse_fault_spec,
)
from mocks.fixtures import (
    FixtureError,
    FixtureFile,
    Interaction,
    RequestInfo,
    RequestMatch,
    dump_fixture_file,
    load_fixture_file,
    register_matcher,
)
from mocks.journal import Journal, JournalEntry
from mocks.record import Recorder, RecordingError, RecordMode
from mocks.scrub import Scrubber
from mocks.transport import BackgroundServer, asgi_side_effect
from mocks.webhook import WebhookMock

__all__ = [
    "BackgroundServer",
    "CognigyAiMock",
    "CognigyMock",
    "ExternalMock",
    "Fault",
    "FaultPlan",
    "FaultPlanError",
    "FaultRule",
    "FixtureError",
    "FixtureFile",
    "Interaction",
    "Journal",
    "JournalEntry",
    "Latency",
    "MockEnvironment",
    "RateLimit",
    "RecordMode",
    "Recorder",
    "RecordingError",
    "RequestInfo",
    "RequestMatch",
    "Scrubber",
    "WebhookMock",
    "asgi_side_effect",
    "dump_fixture_file",
    "load_fault_plan",
    "load_fixture_file",
    "parse_fault_spec",
    "register_matcher",
]
