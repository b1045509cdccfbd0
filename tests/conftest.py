"""Suite-wide hygiene: no leaked asyncio tasks, and paths every test can rely on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"


@pytest.fixture
def repo_root() -> Path:
    """The repository root, for tests that read config/ or examples/."""
    return REPO


@pytest.fixture
def corpus_dir() -> Path:
    """The shared CloudTrail corpus; tests that need it skip when it is absent."""
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present beside the checkout")
    return CORPUS


@pytest.fixture(autouse=True)
def _no_leaked_tasks() -> Iterator[None]:
    """Fail a test that leaves asyncio tasks running after it returns."""
    yield
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    leaked = [t for t in asyncio.all_tasks(loop) if t is not asyncio.current_task() and not t.done()]
    assert not leaked, f"leaked asyncio tasks: {leaked}"
