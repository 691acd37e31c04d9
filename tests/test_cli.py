"""The ``lash`` command: ``lash demo`` shows the life of one key, in text and as JSON lines."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import attrs
import pytest

import lash_core
from lash_core.cli import main, run_demo, tamper_signature
from lash_core.keys import KeySigner
from lash_core.scope import Custom, TurnScope
from lash_core.wire import from_wire, to_json, to_wire

ROOT = Path(__file__).resolve().parent.parent

ACCEPTED = '{"status":"accepted"}'
UNKNOWN = '{"status":"unknown_or_revoked"}'
REVOKED_CODE = "await_event_unknown_or_revoked"


def _positions(text: str, *needles: str) -> list[int]:
    positions = []
    start = 0
    for needle in needles:
        index = text.find(needle, start)
        assert index >= 0, f"{needle!r} not found (in order) in:\n{text}"
        positions.append(index)
        start = index + len(needle)
    return positions


def test_demo_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "keys"]) == 0
    out = capsys.readouterr().out
    first_terminal = '{"status":"ok","payload":{"city":"Oslo","temperature_c":21.5}}'
    already = '{"status":"already_resolved","terminal":' + first_terminal + "}"
    _positions(
        out,
        '"key_id":',
        "the waiter is parked",
        ACCEPTED,
        "woken: true",
        "terminal: " + first_terminal,
        already,
        UNKNOWN,
        "terminal: " + first_terminal,
        "revoke_session",
        REVOKED_CODE,
    )
    assert "secret" in out and "not shown" in out


def _lines(out: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.splitlines()]
    assert all(isinstance(line, dict) for line in lines)
    return lines


def test_demo_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "keys", "--json"]) == 0
    events = _lines(capsys.readouterr().out)
    steps = [e["step"] for e in events]
    assert steps == [
        "setup",
        "mint",
        "park",
        "resolve",
        "woken",
        "end_parked",
        "resolve_again",
        "resolve_tampered",
        "revoke_session",
        "mint_after_revoke",
    ]
    by_step = {e["step"]: e for e in events}

    key: lash_core.AwaitEventKey = from_wire(by_step["mint"]["key"], lash_core.AwaitEventKey)
    assert key.scope == TurnScope("session-1", "turn-1")
    assert key.wait == lash_core.ToolCompletion("call-1")

    assert by_step["park"]["woken"] is False
    resolved = by_step["resolve"]
    assert resolved["outcome"] == {"status": "accepted"}
    assert by_step["woken"]["woken"] is True
    first = resolved["resolution"]
    assert by_step["end_parked"]["terminal"] == first

    again = by_step["resolve_again"]
    assert again["resolution"] != first
    assert again["outcome"] == {"status": "already_resolved", "terminal": first}

    tampered = by_step["resolve_tampered"]
    assert tampered["outcome"] == {"status": "unknown_or_revoked"}
    assert tampered["terminal"] == first
    forged: lash_core.AwaitEventKey = from_wire(tampered["tampered_key"], lash_core.AwaitEventKey)
    assert forged.key_id == key.key_id and forged.scope == key.scope
    assert len(forged.signature) == len(key.signature)
    pairs = zip(forged.signature, key.signature, strict=True)
    assert sum(a != b for a, b in pairs) == 1

    assert by_step["revoke_session"]["newly_revoked"] is True
    assert by_step["mint_after_revoke"]["code"] == REVOKED_CODE


def test_demo_is_a_function_of_the_secret() -> None:
    one = run_demo(b"s" * 32)
    two = run_demo(b"s" * 32)
    assert one == two
    assert run_demo(b"t" * 32) != one


def test_tamper_changes_exactly_one_character() -> None:
    signer = KeySigner(b"k" * 32)
    key = signer.mint(TurnScope("s", "t"), Custom("x"))
    for first in "0123456789abcdef":
        variant = tamper_signature(attrs.evolve(key, signature=first + key.signature[1:]))
        assert variant.signature[0] != first
        assert variant.signature[1:] == key.signature[1:]
    assert not signer.verify(tamper_signature(key))


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "demo" in capsys.readouterr().err


def test_version_matches_pyproject(capsys: pytest.CaptureFixture[str]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert lash_core.__version__ == project["version"]
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"lash {project['version']}"


def test_public_api_reexports() -> None:
    for name in lash_core.__all__:
        assert hasattr(lash_core, name), name
    key = lash_core.KeySigner(b"k" * 32).mint(
        lash_core.TurnScope("s", "t"), lash_core.TurnTerminal()
    )
    assert lash_core.from_json(to_json(key), lash_core.AwaitEventKey) == key
    assert to_wire(lash_core.ok(1)) == {"status": "ok", "payload": 1}


@pytest.mark.parametrize("loop", ["trio", "asyncio"])
def test_turn_demo_runs_a_real_turn_with_a_webhook(
    loop: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--loop", loop, "--virtual-time"]) == 0
    out = capsys.readouterr().out
    assert "SCRIPTED model" in out
    assert "tool_batch:2:child:1:call-report:attempt:1" in out
    assert "0.200s  webhook resolved call-report: accepted" in out
    assert '"payload":{"delivered":true,"receipt":"r-1"}' in out
    assert "result: TurnCompleted" in out
    assert "answer: It is 21 °C in Oslo, and the report was delivered (receipt r-1)." in out


def test_turn_demo_json_lines_are_identical_on_trio_and_asyncio(
    capsys: pytest.CaptureFixture[str],
) -> None:
    traces = []
    for loop in ("trio", "asyncio"):
        assert main(["demo", "--loop", loop, "--virtual-time", "--json"]) == 0
        text = capsys.readouterr().out
        # Each run signs with a fresh secret: only the key signatures may differ.
        text = re.sub(r'"signature":"[0-9a-f]{64}"', '"signature":"..."', text)
        trace = [json.loads(line) for line in text.splitlines()]
        # Two tools finishing at the same instant may complete in either order (the machine
        # applies their results in call order either way): compare effects per instant.
        traces.append(sorted(trace, key=lambda line: (line["at"], line["kind"], line["text"])))
    assert traces[0] == traces[1]
    (result,) = [line for line in traces[0] if line["kind"] == "result"]
    assert result["data"]["outcome"]["status"] == "finished"


# -- lash sim ----------------------------------------------------------------------------------


def _table(out: str) -> dict[str, int]:
    rows = {}
    for line in out.splitlines():
        match = re.fullmatch(r"  ([a-z ]+?)\s+([\d,]+)", line)
        if match:
            rows[match.group(1)] = int(match.group(2).replace(",", ""))
    return rows


def test_sim_runs_seeds_and_prints_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    from lash_core.sim.oracles import ORACLES
    from lash_core.sim.run import simulate_seed

    assert main(["sim", "--seeds", "25", "--start", "100"]) == 0
    captured = capsys.readouterr()
    reports = [simulate_seed(seed) for seed in range(100, 125)]
    assert _table(captured.out) == {
        "seeds run": 25,
        "effects": sum(r.effects for r in reports),
        "faults injected": sum(r.faults for r in reports),
        "oracles checked": 25 * len(ORACLES),
        "failures": 0,
    }
    assert "25 seeds from 100" in captured.out
    assert captured.err.rstrip().endswith("[" + "#" * 30 + "] 25/25 seeds, 0 failed")


def test_sim_trace_is_byte_identical_and_is_the_reports(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lash_core.sim.run import simulate_seed

    assert main(["sim", "--seed", "7", "--trace"]) == 0
    first = capsys.readouterr().out
    assert main(["sim", "--seed", "7", "--trace"]) == 0
    assert capsys.readouterr().out == first
    assert first.encode() == simulate_seed(7).trace_bytes()
    assert all(isinstance(json.loads(line), dict) for line in first.splitlines())


def test_sim_reports_a_failing_seed_with_a_command_that_reproduces_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.sim.defects import DEFECTS

    apply, oracle = DEFECTS["last_writer_wins"]
    apply(monkeypatch)
    assert main(["sim", "--seeds", "60", "--sessions", "2", "--faults", "60"]) == 1
    out = capsys.readouterr().out
    assert _table(out)["failures"] > 0
    commands = re.findall(r"reproduce with: (lash sim .*)", out)
    assert commands and all("--sessions 2 --faults 60" in c for c in commands)
    assert f"{oracle}: " in out
    argv = commands[0].split()[1:]
    assert main(argv) == 1
    again = capsys.readouterr().out
    assert _table(again)["failures"] == 1
    assert f"reproduce with: {commands[0]}" in again


def test_sim_refuses_an_unusable_world(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--seeds", "3", "--sessions", "0", "--faults", "120"]) == 2
    err = capsys.readouterr().err
    assert "sim_world_shape_invalid" in err
    assert "max_sessions must be at least 1" in err and "fault_percent" in err
    with pytest.raises(SystemExit):
        main(["sim", "--seed", "-1"])
