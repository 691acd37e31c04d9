"""The ``lash`` command: ``lash demo`` shows the life of one key, in text and as JSON lines."""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import attrs
import pytest

import lash_core
from lash_cli import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    main,
    run_demo,
    run_sim,
    tamper_signature,
)
from lash_core import KeySigner, TurnScope, from_wire, to_json, to_wire
from lash_core.scope import Custom

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
        lash_core.TurnScope("s", "t"), lash_core.ToolCompletion("c-1")
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
    assert captured.err == ""  # not a terminal: no progress bar


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
    with pytest.raises(SystemExit) as info:
        main(["sim", "--seeds", "3", "--sessions", "0", "--faults", "120"])
    assert info.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert err == (
        "lash sim: error: argument --sessions: expected a whole number from 1 to 1000, "
        "got '0' (see lash sim --help)\n"
    )


# -- bad flags, pipes, encodings, terminals ---------------------------------------------------

SEEDS_RANGE = "expected a whole number from 1 to 18446744073709551616"


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one line a bad command line prints (its status is 2, no traceback): argparse's
    checks exit, the checks of flags together return."""
    try:
        status = main(argv)
    except SystemExit as exit:
        status = exit.code  # type: ignore[assignment]
    assert status == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.endswith("\n")
    assert "Traceback" not in captured.err
    return captured.err.rstrip("\n")


def test_sim_seeds_10_to_the_20_is_a_usage_error_not_an_overflow(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--seeds 100000000000000000000`` raised ``OverflowError`` (the seeds' ``len``)."""
    err = _usage_error(["sim", "--seeds", str(10**20)], capsys)
    assert err == f"lash sim: error: argument --seeds: {SEEDS_RANGE}, got '{10**20}' " + (
        "(see lash sim --help)"
    )
    # The whole seed space is a valid count: it starts, lazily (see the next test).


def test_sim_seeds_0_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """``--seeds 0`` reported success over no seeds."""
    err = _usage_error(["sim", "--seeds", "0"], capsys)
    assert err.startswith(f"lash sim: error: argument --seeds: {SEEDS_RANGE}, got '0'")


def test_sim_invalid_count_value_names_the_flag_and_its_range(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--seeds x`` said "invalid _count value: 'x'"."""
    err = _usage_error(["sim", "--seeds", "10**20"], capsys)
    assert "_count" not in err
    assert err == f"lash sim: error: argument --seeds: {SEEDS_RANGE}, got '10**20' " + (
        "(see lash sim --help)"
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["sim", "--start", "-1"], "argument --start: expected a whole number from 0 to "),
        (["sim", "--seed", "1.5"], "argument --seed: expected a whole number from 0 to "),
        (["sim", "--seed", str(2**64)], "argument --seed: expected a whole number from 0 to "),
        (["sim", "--latency", "-1"], "argument --latency: expected a whole number from 0 to "),
        (["sim", "--latency", "1000000001"], "argument --latency: expected a whole number"),
        (["sim", "--sessions", "1001"], "argument --sessions: expected a whole number from 1 "),
        (["sim", "--turns", "0"], "argument --turns: expected a whole number from 1 to 1000"),
        (["sim", "--steps", ""], "argument --steps: expected a whole number from 1 to 1000"),
        (["sim", "--tools", "9" * 5000], "argument --tools: expected a whole number from 1"),
        (["sim", "--faults", "101"], "argument --faults: expected a whole number from 0 to 100"),
        (["sim", "--offset", "nan"], "argument --offset: expected a number of ms at least 0"),
        (["sim", "--offset", "1"], "argument --offset: expected a number of ms at least 0 and"),
        (["sim", "--offset=-inf"], "argument --offset: expected a number of ms at least 0"),
        (["sim", "--seeds"], "argument --seeds: expected one argument"),
        (
            ["sim", "--start", str(2**64 - 1), "--seeds", "2"],
            "lash sim: error: argument --seeds: the last seed is 18446744073709551615, so at "
            "most 1 seeds run from --start 18446744073709551615, not 2 (see lash sim --help)",
        ),
        (["sim", "--seed", "3", "--seeds", "4"], "argument --seed: runs one seed, so --seeds"),
        (["sim", "--start", "3", "--seed", "4"], "argument --seed: runs one seed, so --start"),
        (["demo", "keys", "--loop", "trio"], "argument --loop: applies to the turn demo, not"),
        (["demo", "keys", "--virtual-time"], "argument --virtual-time: applies to the turn"),
        (["sim", "--what"], "unrecognized arguments: --what"),
        (["demo", "nope"], "argument what: invalid choice: 'nope'"),
        (["demo", "--loop", "curio"], "argument --loop: invalid choice: 'curio'"),
        (["demo", "--json=yes"], "argument --json: ignored explicit argument 'yes'"),
        (["nope"], "argument COMMAND: invalid choice: 'nope'"),
    ],
)
def test_every_bad_flag_value_exits_2_with_one_line(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _usage_error(argv, capsys)
    assert expected in err
    assert err.startswith("lash")
    assert err.endswith("--help)")


class _Interrupt:
    """A stand-in for ``simulate_seed`` that lets ``count`` seeds run, then presses Ctrl-C."""

    def __init__(self, count: int) -> None:
        from lash_core.sim.run import simulate_seed

        self.real = simulate_seed
        self.seen: list[int] = []
        self.count = count

    def __call__(self, seed: int, shape: Any) -> Any:
        if len(self.seen) == self.count:
            raise KeyboardInterrupt
        self.seen.append(seed)
        return self.real(seed, shape)


@pytest.mark.parametrize(("count", "start"), [(10**9, 5), (2**64, 0)])
def test_sim_seeds_1e9_iterates_lazily(
    count: int, start: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--seeds 1000000000`` built the list of every seed before running the first."""
    interrupt = _Interrupt(3)
    monkeypatch.setattr("lash_core.sim.run.simulate_seed", interrupt)
    assert main(["sim", "--seeds", str(count), "--start", str(start)]) == EXIT_INTERRUPTED
    assert interrupt.seen == [start, start + 1, start + 2]
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "\nlash: interrupted\n"


def test_sim_latency_0_runs_its_worlds(capsys: pytest.CaptureFixture[str]) -> None:
    """``--latency 0`` raised ``ValueError: below(n) needs n >= 1``."""
    assert main(["sim", "--seeds", "50", "--latency", "0"]) == 0
    assert _table(capsys.readouterr().out)["failures"] == 0


def test_sim_latency_100000_passes_every_oracle(capsys: pytest.CaptureFixture[str]) -> None:
    """``--latency 100000`` failed seeds 13, 23, 38, 85 and 91 (among 89 of 2,000): processes
    gave up on signals planned later than their fixed 60 s patience."""
    assert main(["sim", "--seeds", "100", "--latency", "100000"]) == 0
    assert _table(capsys.readouterr().out) | {"failures": 0} == _table_of_100_slow_seeds()


def _table_of_100_slow_seeds() -> dict[str, int]:
    from lash_core.sim.oracles import ORACLES
    from lash_core.sim.run import simulate_seed
    from lash_core.sim.world import WorldShape

    shape = WorldShape(max_latency_ms=100_000)
    reports = [simulate_seed(seed, shape) for seed in range(100)]
    assert not any(r.failed for r in reports)
    return {
        "seeds run": 100,
        "effects": sum(r.effects for r in reports),
        "faults injected": sum(r.faults for r in reports),
        "oracles checked": 100 * len(ORACLES),
        "failures": 0,
    }


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_sim_progress_bar_is_drawn_only_on_a_terminal() -> None:
    """The progress bar was written to stderr even when it was a file or a pipe."""
    from lash_core.sim.world import DEFAULT_SHAPE

    out, piped, terminal = io.StringIO(), io.StringIO(), _Terminal()
    assert run_sim(range(4), DEFAULT_SHAPE, out=out, err=piped) == 0
    assert piped.getvalue() == ""
    assert run_sim(range(4), DEFAULT_SHAPE, out=out, err=terminal) == 0
    assert terminal.getvalue().endswith("\r[" + "#" * 30 + "] 4/4 seeds, 0 failed\n")
    # Seeds whose number is not known up front: a count, no bar.
    counted = _Terminal()
    assert run_sim(iter(range(2)), DEFAULT_SHAPE, out=out, err=counted) == 0
    assert counted.getvalue() == "\r2 seeds, 0 failed\n"


def _lash(*argv: str) -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "lash")
    command = [script] if os.path.exists(script) else [sys.executable, "-m", "lash_cli"]
    return [*command, *argv]


def test_broken_pipe_into_head_exits_quietly() -> None:
    """``lash sim --trace | head`` ended with a ``BrokenPipeError`` traceback.

    The pipe holds less than the command writes (the demo's few kilobytes fit in a default
    pipe, so the pipe is shrunk to one page where the platform allows), so the writer is still
    writing when the reader goes away, however slowly the reader gets there."""
    cases = [["sim", "--seeds", "3000", "--trace"]]
    if hasattr(fcntl, "F_SETPIPE_SZ"):
        cases.append(["demo", "--virtual-time", "--json"])
    for argv in cases:
        read_end, write_end = os.pipe()
        if hasattr(fcntl, "F_SETPIPE_SZ"):
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
        with open(read_end, "rb", buffering=0) as reader:
            process = subprocess.Popen(_lash(*argv), stdout=write_end, stderr=subprocess.PIPE)
            os.close(write_end)
            assert process.stderr is not None
            first = reader.read(10)
            assert first.startswith(b"{")
        # the reader went away, as `head` does
        err = process.stderr.read()
        assert process.wait() == EXIT_BROKEN_PIPE, err
        assert err == b""


def test_ascii_output_encoding_degrades_instead_of_crashing() -> None:
    """Under ``PYTHONIOENCODING=ascii`` the demo crashed on the ``°`` of its answer."""
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}

    def run(*argv: str) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run(_lash(*argv), env=env, capture_output=True, check=False)
        assert done.returncode == 0, done.stderr.decode()
        assert done.stderr == b""
        done.stdout.decode("ascii")  # nothing but ASCII went out
        return done

    text = run("demo", "--virtual-time").stdout.decode()
    assert "answer: It is 21 ?C in Oslo" in text
    lines = run("demo", "--loop", "asyncio", "--virtual-time", "--json").stdout.decode()
    (result,) = [json.loads(x) for x in lines.splitlines() if '"kind":"result"' in x]
    (part,) = result["data"]["outcome"]["message"]["parts"]
    assert part["text"].startswith("It is 21 °C in Oslo")  # JSON escapes decode to the text
    assert "lash sim: 3 seeds from 0" in run("sim", "--seeds", "3").stdout.decode()


def test_degraded_json_escapes_any_character() -> None:
    from lash_cli.output import _Degrading

    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    _Degrading(stream, json_escapes=True).write(json.dumps({"t": "°C 🦊 ok"}, ensure_ascii=False))
    stream.flush()
    assert json.loads(raw.getvalue().decode("ascii")) == {"t": "°C 🦊 ok"}
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="latin-1")
    _Degrading(stream, json_escapes=False).write("°C 🦊 ok")
    stream.flush()
    assert raw.getvalue().decode("latin-1") == "°C ? ok"
