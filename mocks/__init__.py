"""Mock Cognigy platform, external services and webhook receiver.

Each mock is one ASGI app, served in-process through respx or on a loopback
port through uvicorn (see `mocks.transport`).
"""

from mocks.cognigy import CognigyMock, RateLimit
from mocks.cognigy_v2 import CognigyAiMock
from mocks.environment import MockEnvironment
from mocks.external import ExternalMock
from mocks.faults import Fault, FaultPlan, FaultRule, parse_fault_spec
from mocks.fixtures import FixtureFile, Interaction, load_fixture_file
from mocks.journal import Journal, JournalEntry
from mocks.transport import BackgroundServer, asgi_side_effect
from mocks.webhook import WebhookMock

__all__ = [
    "BackgroundServer",
    "CognigyAiMock",
    "CognigyMock",
    "ExternalMock",
    "Fault",
    "FaultPlan",
    "FaultRule",
    "FixtureFile",
    "Interaction",
    "Journal",
    "JournalEntry",
    "MockEnvironment",
    "RateLimit",
    "WebhookMock",
    "asgi_side_effect",
    "load_fixture_file",
    "parse_fault_spec",
]
