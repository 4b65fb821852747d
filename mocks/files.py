"""Reading the mocks' YAML/JSON files into models, with errors that name fields."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


def load_model_file(
    path: Path | str, model: type[Model], error: type[Exception], what: str
) -> Model:
    """Read `path` (YAML, or JSON, which YAML reads too) as `model`.

    Raises:
        error: with the path and, for a validation failure, every field
            that failed and why, e.g. `rules.0.kind: Input should be ...`.
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return model.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise error(f"{path}: cannot read the {what}: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise error(f"{path}: invalid {what}: {problems}") from None
