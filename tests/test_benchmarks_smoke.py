"""The benchmarks run (in smoke mode) and report every figure, so they cannot rot."""

from __future__ import annotations

import importlib.util
import json
import math
import os
from pathlib import Path

from benchmarks.runner import main
from lash_postgres.throwaway import postgres_unavailable

POSTGRES_FIGURES = {
    "postgres_wake_p50",
    "postgres_wake_p99",
    "postgres_wake_async_p50",
    "postgres_wake_async_p99",
    "postgres_durable_effect",
    "postgres_claims",
}
"""Reported when PostgreSQL is installed (the benchmarks start a throwaway server)."""

FIGURES = {
    "key_mint",
    "key_verify",
    "envelope_canonical",
    "registry_resolve",
    "revoke_scaling",
    "mint_scaling",
    "registry_retired_memory",
    "turn_core_per_effect",
    "turn_linearity",
    "store_durable_effect",
    "store_durable_effect_normal",
    "store_wake_p50",
    "store_wake_p99",
    "store_wake_normal_p50",
    "store_wake_normal_p99",
    "durable_turn_step",
    "durable_turn_step_normal",
    "durable_turn_growth",
    "peers_step_lash",
    "peers_step_lash_normal",
    # The peers, where the test extra installed them (peers_wake is skipped in smoke mode).
    *(
        (
            "peers_step_vs_langgraph",
            "peers_step_vs_langgraph_async",
            "peers_step_normal_vs_langgraph",
        )
        if importlib.util.find_spec("langgraph") is not None
        else ()
    ),
    *(
        ("peers_step_vs_dbos", "peers_step_normal_vs_dbos")
        if importlib.util.find_spec("dbos") is not None
        else ()
    ),
    "journal_replay_hit",
    "journal_load_line",
    "wire_decode_long_keys",
    "wire_decode_long_keys_memory",
    "wire_decode_long_array",
    "wire_decode_long_array_memory",
    "process_append_event",
    "process_list_grants_10k",
    "process_signal_scaling",
    "store_process_save_scaling",
    "sim_host_effect",
    "sim_turn_effect",
    "sim_seeds",
    "handlers_toolbox",
    "handlers_scripted_model",
    "provider_openai_request",
    "provider_anthropic_request",
    "provider_openai_stream",
    *(
        f"{driver}_{figure}"
        for driver in ("trio", "asyncio")
        for figure in (
            "resolve_to_wake",
            "await_resolved",
            "parked_memory",
            "revoke_among_parked",
            "sleep0_effect",
            "run_turn_overhead",
            "process_await_terminal",
        )
    ),
}


RESTATE_FIGURES = {"restate_turn", "restate_resolve_to_wake", "restate_process"}
"""Reported only when a Restate server can start (required, so checked, under dev.py test)."""
if os.environ.get("LASH_REQUIRE_RESTATE") == "1":
    FIGURES |= RESTATE_FIGURES
    if os.environ.get("LASH_REQUIRE_POSTGRES") == "1":
        FIGURES.add("restate_turn_vs_postgres")


def test_smoke_run_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    assert main(["--smoke", "--out", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["mode"] == "smoke"
    assert report["errors"] == {}
    figures = {f["name"]: f for f in report["figures"]}
    assert set(figures) >= FIGURES
    if postgres_unavailable() is None:
        assert set(figures) >= POSTGRES_FIGURES
    for name, figure in figures.items():
        assert figure["baseline_us"] > 0, name
        assert isinstance(figure["ratio"], float) and math.isfinite(figure["ratio"]), name
        if name.endswith("_run_turn_overhead"):
            # A difference of two timings (run_turn minus a hand-written loop): on a loaded
            # machine, at smoke sizes, noise can make it zero or negative.
            assert math.isfinite(figure["median_us"]), name
        else:
            assert figure["median_us"] > 0, name
            assert figure["ratio"] > 0, name
        assert figure["status"] in {"ok", "OVER", "-"}, name


def test_only_runs_a_subset(tmp_path: Path) -> None:
    out = tmp_path / "subset.json"
    assert main(["--smoke", "--only", "key_mint", "--out", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [f["name"] for f in report["figures"]] == ["key_mint"]
