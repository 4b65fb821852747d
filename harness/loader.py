"""Integration directories: the definition, fixtures, samples and scenarios."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harness.errors import DefinitionError
from harness.models import IntegrationDefinition

DEFINITION_FILE = "integration.yaml"
FIXTURES_FILE = "fixtures.yaml"
SAMPLES_DIR = "samples"


@dataclass(frozen=True)
class Sample:
    """A bot payload and the normalized result expected from it (golden)."""

    name: str
    payload: Any
    expected: Any
    payload_path: Path
    expected_path: Path


@dataclass(frozen=True)
class IntegrationDir:
    """An integration directory, loaded and validated."""

    root: Path
    definition: IntegrationDefinition
    samples: list[Sample] = field(default_factory=list)

    @property
    def fixtures_path(self) -> Path:
        return self.root / FIXTURES_FILE


@dataclass(frozen=True)
class FieldProblem:
    """One validation problem: which file, which field, why."""

    file: Path
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"


class InvalidIntegration(DefinitionError):
    """A definition file failed validation; `problems` lists each field."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def definition_path(path: Path | str) -> Path:
    """The `integration.yaml` of a directory, or the file itself."""
    path = Path(path)
    return path / DEFINITION_FILE if path.is_dir() else path


def _problems(file: Path, error: ValidationError) -> list[FieldProblem]:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in item["loc"]) or "(definition)"
        reason = item["msg"].removeprefix("Value error, ")
        problems.append(FieldProblem(file, location, reason))
    return problems


def read_yaml(path: Path) -> Any:
    """Parse a YAML file, turning syntax errors into a clear DefinitionError."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DefinitionError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise DefinitionError(f"{path}: invalid YAML: {exc}") from None


def load_definition(path: Path | str) -> IntegrationDefinition:
    """Load and validate one definition; never reads a secret."""
    file = definition_path(path)
    data = read_yaml(file)
    try:
        return IntegrationDefinition.model_validate(data)
    except ValidationError as exc:
        raise InvalidIntegration(_problems(file, exc)) from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DefinitionError(f"{path}: not readable JSON: {exc}") from None


def load_samples(root: Path) -> list[Sample]:
    """`samples/NAME.payload.json` with its golden `samples/NAME.expected.json`."""
    folder = root / SAMPLES_DIR
    samples = []
    for payload_path in sorted(folder.glob("*.payload.json")):
        name = payload_path.name.removesuffix(".payload.json")
        expected_path = folder / f"{name}.expected.json"
        if not expected_path.exists():
            raise DefinitionError(
                f"{payload_path}: no golden file {expected_path.name}"
            )
        samples.append(
            Sample(
                name=name,
                payload=_read_json(payload_path),
                expected=_read_json(expected_path),
                payload_path=payload_path,
                expected_path=expected_path,
            )
        )
    return samples


def load_integration(path: Path | str) -> IntegrationDir:
    """Load an integration directory (or the directory of an `integration.yaml`)."""
    file = definition_path(path)
    root = file.parent
    return IntegrationDir(
        root=root, definition=load_definition(file), samples=load_samples(root)
    )


def find_integrations(paths: list[Path]) -> list[Path]:
    """Every integration directory at or below the given paths, sorted."""
    found: set[Path] = set()
    for path in paths:
        if path.is_file():
            found.add(path.parent)
        elif (path / DEFINITION_FILE).exists():
            found.add(path)
        else:
            found.update(p.parent for p in path.rglob(DEFINITION_FILE))
    return sorted(found)
