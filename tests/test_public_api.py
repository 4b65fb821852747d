"""Each package's `__all__` is sorted and names only what exists."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["harness", "mocks", "contracts", "loadtests"])
def test_all_is_sorted_unique_and_importable(package: str) -> None:
    module = importlib.import_module(package)
    names = list(module.__all__)
    assert names == sorted(names, key=lambda n: (not n.isupper(), n))
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(module, name), f"{package}.{name} is in __all__ but missing"
