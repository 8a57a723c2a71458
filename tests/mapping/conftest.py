"""Fixtures of the mapping tests; the helpers themselves are in mapping_support."""

from __future__ import annotations

import pytest

from mapping import MemoryDirectory
from store.domain import User
from tests.mapping.mapping_support import load, make_directory


@pytest.fixture
def directory() -> MemoryDirectory:
    return make_directory()


@pytest.fixture
def owner(directory: MemoryDirectory) -> User:
    return directory.user(1)


@pytest.fixture
def payload() -> object:
    """``payload(name)``: the text of tests/data/<name>."""
    return load
