"""Fixtures for the process-level tests: a throwaway project, the CLI as a user runs it, and the stub model server."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / "bench"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    "A copy of the bundled prompts, datasets and settings in a fresh folder, with its own MLflow store."
    for name in ("prompts", "datasets"): shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "settings.ini", tmp_path / "settings.ini")
    return tmp_path


@pytest.fixture
def cli(project: Path):
    "Run `llmops-wb` in `project` as a user would: a separate process, its output and exit code."
    def run(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMOPS_WB_"))}
        full_env.update(env or {})
        return subprocess.run([str(BIN / "llmops-wb"), *args], cwd=project, env=full_env, capture_output=True,
                              text=True, timeout=timeout)
    return run


@pytest.fixture
def stub():
    "The OpenAI-compatible stub server on a free loopback port; yields its base URL."
    from stub_openai import serve
    server = serve(0)
    yield server
    server.shutdown()
    server.server_close()


def base_url(server) -> str:
    return f"http://127.0.0.1:{server.server_port}/v1"


REDIS_URL = "redis://127.0.0.1:6379/15"  # the machine's Redis; the tests keep to this database


@pytest.fixture
def prefix():
    "A key prefix of this test's own in the machine's Redis (database 15), its keys removed afterwards."
    import redis
    name = f"llmops-wb-test-{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{name}:*"))
    if keys: client.delete(*keys)
    client.close()

