from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import CORPUS, ROOT, SEED, SEED_ENV, clean_env, copy_manuscript, run_manuscript


@pytest.fixture(scope="session")
def bundled_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The bundled manuscript built once, as CI builds it (seed environment, no network)."""
    root = copy_manuscript(ROOT, tmp_path_factory.mktemp("fm-survey"))
    completed = run_manuscript(root, "build", env=clean_env(**SEED_ENV))
    return root, completed.stderr


@pytest.fixture
def needs_shared() -> Path:
    if not SEED.is_file() or not CORPUS.is_dir():
        pytest.skip("../shared (seed and corpus) is not present beside the project")
    return SEED.parent.parent
