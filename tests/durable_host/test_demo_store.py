"""``lash demo --store PATH``: the demo turn on a durable host, killed while it waits for its
webhook, the key resolved while no process runs, then ``--resume`` finishes it in a fresh
process without running any recorded model or tool call again."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lash_cli import main
from lash_core.keys import AwaitEventKey
from lash_core.resolution import ok
from lash_core.wire import from_json
from lash_sqlite import SqliteStore

ROOT = Path(__file__).resolve().parent.parent.parent


def _lash(*args: str) -> list[str]:
    return [sys.executable, "-m", "lash_cli", *args]


@pytest.mark.parametrize("loop", ["trio", "asyncio"])
def test_a_killed_durable_demo_resumes_without_repeating_a_call(tmp_path: Path, loop: str) -> None:
    path = str(tmp_path / "demo.db")
    first = subprocess.Popen(
        _lash("demo", "--store", path, "--loop", loop),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert first.stdout is not None
    key_json = None
    recorded = 0
    while recorded < 2:  # both tool outcomes recorded: the turn now waits for the webhook
        line = first.stdout.readline()
        assert line, "the demo ended early"
        if line.startswith("key: "):
            key_json = line[len("key: ") :].strip()
        if "effect  tool_attempt" in line:
            recorded += 1
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    assert first.returncode == -signal.SIGKILL
    assert key_json is not None
    # The webhook, while no process runs (what `lash store resolve` does).
    with SqliteStore(path) as store:
        key = from_json(key_json, AwaitEventKey)
        assert store.resolve(key, ok({"delivered": True, "receipt": "r-1"})).status == "accepted"
    resumed = subprocess.run(
        _lash("demo", "--store", path, "--loop", loop, "--resume"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "the report was delivered (receipt r-1)" in resumed.stdout
    # Only the final answer ran here; the first model call and both tools were replayed.
    assert "ran in this process: 1 model calls, 0 tool calls (3 outcomes replayed" in (
        resumed.stdout
    )


def test_resume_needs_a_store(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--resume"]) == 2
    assert "--resume: needs --store PATH" in capsys.readouterr().err


def test_a_store_does_not_apply_to_the_keys_demo(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["demo", "keys", "--store", str(tmp_path / "x.db")]) == 2
    assert "does not apply with keys" in capsys.readouterr().err
