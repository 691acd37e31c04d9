"""Claims with four workers on Postgres: lash's ``claim_turn`` against DBOS's queues.

* ``postgres_claims_vs_dbos`` (full mode, when DBOS and PostgreSQL are installed):
  :data:`~benchmarks.bench_postgres.CLAIM_TURNS` turns of the 2-step scripted agent shared by
  :data:`~benchmarks.bench_postgres.CLAIM_WORKERS` lash worker processes (``postgres_claims``'
  run: ``claim_turn`` with ``FOR UPDATE SKIP LOCKED``, then ``resume_turn``) against as many
  DBOS workflows of the same agent (``bench_agent`` of :mod:`benchmarks.peer_agents`: one
  ``@DBOS.step`` per model and tool call) enqueued on a DBOS queue beforehand and run by as many
  DBOS worker processes, on the same server in the same run. Time per turn from the workers'
  start to the last turn done (lash: the last worker exits once no turn is left; DBOS: no
  workflow of the queue is enqueued or pending any more, read every 5 ms). The DBOS queue
  runs one workflow at a time per worker (``worker_concurrency=1``, as a lash worker resumes
  one turn at a time) and polls every :data:`DBOS_POLL_S` seconds (DBOS's default is 1 s,
  which would make it wait rather than work). Reported, not judged.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from benchmarks import bench_postgres, peer_agents
from benchmarks.catalog import benchmark
from benchmarks.harness import Context, Figure, Sample, require

DBOS_POLL_S: Final = 0.01
"""How often a DBOS worker polls its queue."""
QUEUE: Final = "lash_bench_claims"
ROOT: Final = Path(__file__).resolve().parent.parent


def _config(url: str) -> dict[str, Any]:
    return {
        "name": "lash-bench-claims",
        "system_database_url": url,
        "log_level": "WARNING",
        "run_admin_server": False,
    }


def _worker(url: str) -> int:
    """A DBOS worker process: launch with the queue declared, run its workflows until the
    parent closes stdin."""
    import dbos

    peer_agents.dbos_functions(dbos)
    dbos.DBOS(config=_config(url))  # type: ignore[arg-type]
    dbos.DBOS.launch()
    dbos.DBOS.register_queue(QUEUE, worker_concurrency=1, polling_interval_sec=DBOS_POLL_S)
    print("ready", flush=True)
    sys.stdin.read()
    dbos.DBOS.destroy()
    return 0


def _left(db: Any) -> int:
    """How many workflows of the queue are not done (enqueued or running), read on ``db``
    (one connection for the whole run: a new one per read would load the server DBOS uses)."""
    row = db.execute(
        "SELECT count(*) FROM dbos.workflow_status WHERE queue_name = %s "
        "AND status IN ('ENQUEUED', 'PENDING')",
        (QUEUE,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _dbos_run(dbos: Any, url: str, turns: int, workers: int) -> tuple[float, float]:
    """ns per turn for ``turns`` workflows enqueued, then run by ``workers`` DBOS processes;
    and the seconds the workers took to launch (included in the time)."""
    with tempfile.TemporaryDirectory(prefix="lash-bench-") as directory:
        # Launch once here (no queue declared: this process runs none of them) to create
        # the system database, then enqueue through a client.
        peer_agents.Dbos(dbos, Path(directory) / "unused.db", url=url).close()
    client = dbos.DBOSClient(system_database_url=url)
    for _ in range(turns):
        client.enqueue(
            {"queue_name": QUEUE, "workflow_name": "bench_agent"}, bench_postgres.CLAIM_STEPS
        )
    import psycopg

    db = psycopg.connect(url, autocommit=True)
    require(_left(db) == turns, "every workflow is enqueued")
    t0 = time.perf_counter_ns()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_dbos_claims", "worker", url],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                proc.kill()
                _, err = proc.communicate()
                raise RuntimeError(f"a DBOS worker did not launch: {err[-2000:]}")
        launched = (time.perf_counter_ns() - t0) / 1e9
        deadline = time.monotonic() + 600
        while _left(db) and time.monotonic() < deadline:
            time.sleep(0.005)
        elapsed = time.perf_counter_ns() - t0
        require(_left(db) == 0, "every DBOS workflow finished")
    finally:
        for proc in procs:
            proc.communicate(timeout=60)
        client.destroy()
        db.close()
    require(all(p.returncode == 0 for p in procs), "every DBOS worker exited cleanly")
    return elapsed / turns, launched


@benchmark("postgres_claims_vs_dbos")
def postgres_claims_vs_dbos(ctx: Context) -> list[Figure]:
    """lash's claims with 4 workers vs DBOS queues with 4 workers, time per turn."""
    dbos = None if ctx.smoke else peer_agents.import_optional("dbos")
    server = None if dbos is None else bench_postgres._server()
    if dbos is None or server is None:
        why = "smoke mode" if ctx.smoke else "dbos or PostgreSQL not installed"
        print(f"postgres_claims_vs_dbos: skipped ({why})", file=sys.stderr)
        return []
    turns = bench_postgres.CLAIM_TURNS
    workers = bench_postgres.CLAIM_WORKERS
    lash = bench_postgres._claim_run(server.dsn, turns, workers)
    url = f"postgresql://lash@127.0.0.1:{server.port}/dbos_{secrets.token_hex(4)}"
    per_turn, launched = _dbos_run(dbos, url, turns, workers)
    return [
        ctx.figure(
            "postgres_claims_vs_dbos",
            Sample(turns, (lash,)),
            f"DBOS queue, {workers} worker processes (Postgres)",
            Sample(turns, (per_turn,)),
            detail={
                "turns": turns,
                "workers": workers,
                "lash_turns_per_s": 1e9 / lash,
                "dbos_turns_per_s": 1e9 / per_turn,
                "dbos_workers_launch_s": launched,
                "dbos_poll_s": DBOS_POLL_S,
            },
        )
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        raise SystemExit(_worker(sys.argv[2]))
    raise SystemExit("usage: python -m benchmarks.bench_dbos_claims worker URL")
