"""Integration directories: the definition, fixtures, samples and scenarios."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import DefinitionError
from harness.models import IntegrationDefinition, located

if TYPE_CHECKING:
    from mocks.faults import FaultPlan

DEFINITION_FILE = "integration.yaml"
FIXTURES_FILE = "fixtures.yaml"
SAMPLES_DIR = "samples"
SCENARIOS_FILE = "scenarios.yaml"


@dataclass(frozen=True)
class Sample:
    """A bot payload and the normalized result expected from it (golden)."""

    name: str
    payload: Any
    expected: Any
    payload_path: Path
    expected_path: Path


class ScenarioExpectation(BaseModel):
    """What a fault scenario must end in."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["SUCCESS", "FAILURE"]
    # Every attempt counts, the failed ones included.
    attempts: Annotated[int, Field(ge=1)] | None = None
    # The error's `kind` (e.g. `upstream_status`, `timeout`) on FAILURE.
    error: str | None = None
    # The last HTTP status the execution saw, on FAILURE.
    http_status: Annotated[int, Field(ge=100, le=599)] | None = None
    # On SUCCESS with a `sample`, compare the result with the sample's golden.
    golden: bool = True


class Scenario(BaseModel):
    """A named fault plan, the bot payload it runs with and its expected outcome.

    `faults` is the `--fault` shorthand (`"503,503"`) or a full fault plan in
    the `mocks.faults.FaultPlan` format; the external mock plays it.
    """

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\w.-]+$")]
    description: str = ""
    sample: str | None = None
    payload: Any = None
    faults: str | dict[str, Any] | None = None
    expect: ScenarioExpectation

    @model_validator(mode="after")
    def _one_payload_and_a_valid_plan(self) -> Self:
        if (self.sample is None) == (self.payload is None):
            raise ValueError(
                "give exactly one of `sample` (a sample name) or `payload`"
            )
        if self.expect.status == "SUCCESS" and (
            self.expect.error or self.expect.http_status
        ):
            raise ValueError("`expect.error` and `http_status` need status FAILURE")
        self.fault_plan()
        return self

    def fault_plan(self) -> FaultPlan | None:
        """A fresh plan on every call: a plan remembers how far it has played."""
        # Imported here: the mocks package imports this module.
        from mocks.faults import FaultPlan, parse_fault_spec

        if self.faults is None:
            return None
        if isinstance(self.faults, str):
            return parse_fault_spec(self.faults)
        try:
            return FaultPlan.model_validate(self.faults)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"faults.{where}: {first['msg']}") from None


class ScenarioFile(BaseModel):
    """`scenarios.yaml`: version 1, a list of uniquely named scenarios."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    scenarios: list[Scenario] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names_unique(self) -> Self:
        names = [s.name for s in self.scenarios]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"scenario names must be unique: {repeated}")
        return self


@dataclass(frozen=True)
class IntegrationDir:
    """An integration directory, loaded and validated."""

    root: Path
    definition: IntegrationDefinition
    samples: list[Sample] = field(default_factory=list)
    scenarios: list[Scenario] = field(default_factory=list)

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
        location = ".".join(str(part) for part in item["loc"])
        # Rules across fields name their field at the start of the message.
        location, reason = located(location, item["msg"].removeprefix("Value error, "))
        problems.append(FieldProblem(file, location or "(definition)", reason))
    return problems


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key written twice in one mapping.

    PyYAML keeps the last value of a repeated key without a word: half of
    what a person wrote would be silently lost.
    """

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults`: explicit keys override merged ones
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, list | dict):
                continue  # unhashable: the base loader refuses it with its own error
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"found the key {key!r} twice",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file, turning syntax errors into a clear DefinitionError."""
    try:
        text = path.read_text(encoding="utf-8")
        # S506: the loader is a SafeLoader subclass, it builds no objects.
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506
    except OSError as exc:
        raise DefinitionError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise DefinitionError(f"{path}: not UTF-8 text: {exc.reason}") from None
    except yaml.YAMLError as exc:
        raise DefinitionError(f"{path}: invalid YAML: {_yaml_problem(exc)}") from None


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's error on one line: where, then what."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None)
    if mark is None or problem is None:
        return " ".join(str(error).split())
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"


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


def load_scenarios(root: Path, samples: list[Sample]) -> list[Scenario]:
    """`scenarios.yaml` of a directory (none when absent), samples cross-checked."""
    file = root / SCENARIOS_FILE
    if not file.exists():
        return []
    try:
        scenarios = ScenarioFile.model_validate(read_yaml(file) or {}).scenarios
    except ValidationError as exc:
        raise InvalidIntegration(_problems(file, exc)) from None

    known = {sample.name for sample in samples}
    problems = [
        FieldProblem(
            file,
            f"scenarios.{index}.sample",
            f"no sample {scenario.sample!r} in {SAMPLES_DIR}/ (known: {sorted(known)})",
        )
        for index, scenario in enumerate(scenarios)
        if scenario.sample is not None and scenario.sample not in known
    ]
    if problems:
        raise InvalidIntegration(problems)
    return scenarios


def load_integration(path: Path | str) -> IntegrationDir:
    """Load an integration directory (or the directory of an `integration.yaml`)."""
    file = definition_path(path)
    root = file.parent
    definition = load_definition(file)
    samples = load_samples(root)
    return IntegrationDir(
        root=root,
        definition=definition,
        samples=samples,
        scenarios=load_scenarios(root, samples),
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
