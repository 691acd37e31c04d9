#!/usr/bin/env python3
"""Bootstrap and check the project on a fresh machine (Python 3.11+ and PyPI access only).

    python3 dev.py demo [args...]   set up .venv if needed, then run `lash demo [args...]`
    python3 dev.py test             set up .venv if needed, then run every check in order
    python3 dev.py setup            only set up .venv

Setup creates ``.venv`` when it is missing and (re)installs the project with
``pip install -e .[test,docs,trio] -c constraints.txt`` whenever ``pyproject.toml`` or
``constraints.txt`` changed since the last install (a hash is kept in ``.venv/.lash-installed``).
``test`` also needs PostgreSQL's server binaries (the Postgres store's tests start a throwaway
server): as root on Debian it runs ``apt-get install -y postgresql`` when ``initdb`` is missing,
and it sets ``LASH_REQUIRE_POSTGRES=1`` so those tests fail rather than skip without it.
It never deletes anything. Standard library only.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".lash-installed"
EXTRAS = "test,docs,trio"
INSTALL_INPUTS = ("pyproject.toml", "constraints.txt")
MIN_PYTHON = (3, 11)

USAGE = """\
usage: python3 dev.py demo [args...]   run the demo (sets up .venv first)
       python3 dev.py test             run ruff, mypy, the docs build, pytest, the benchmark
                                       smoke run and the packaging check, stopping at the first
                                       failure
       python3 dev.py setup            only create or refresh .venv"""


def say(message: str) -> None:
    print(f"dev.py: {message}", flush=True)


def bin_dir() -> Path:
    return VENV / ("Scripts" if os.name == "nt" else "bin")


def venv_python() -> Path:
    return bin_dir() / ("python.exe" if os.name == "nt" else "python")


def venv_script(name: str) -> Path:
    return bin_dir() / (f"{name}.exe" if os.name == "nt" else name)


def venv_env() -> dict[str, str]:
    """The environment of a command run inside the venv."""
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = str(VENV)
    env["PATH"] = str(bin_dir()) + os.pathsep + env.get("PATH", "")
    env.pop("PYTHONHOME", None)
    return env


def run(argv: Sequence[str | Path]) -> int:
    """Run a command from the repository root and return its exit status."""
    args = [str(a) for a in argv]
    return subprocess.run(args, cwd=ROOT, env=venv_env(), check=False).returncode


def install_hash() -> str:
    """A hash of everything that decides what gets installed."""
    digest = hashlib.sha256(f"extras={EXTRAS}\n".encode())
    for name in INSTALL_INPUTS:
        path = ROOT / name
        digest.update(f"{name}\n".encode())
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
    return digest.hexdigest()


def ensure_venv() -> int:
    """Create or refresh ``.venv``; returns 0 or the failing pip's exit status."""
    if not venv_python().exists():
        say(f"creating {VENV.relative_to(ROOT)} with {sys.executable}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = install_hash()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return 0
    command: list[str | Path] = [venv_python(), "-m", "pip", "install", "-e", f".[{EXTRAS}]"]
    if (ROOT / "constraints.txt").exists():
        command += ["-c", "constraints.txt"]
    say("installing: " + " ".join(str(c) for c in command[1:]))
    status = run(command)
    if status != 0:
        say(f"pip failed with exit status {status}")
        return status
    STAMP.write_text(wanted + "\n")
    return 0


def cmd_demo(args: Sequence[str]) -> int:
    return run([venv_script("lash"), "demo", *args])


def ensure_postgres() -> None:
    """Make PostgreSQL's server binaries available to the tests (installed with apt-get when
    missing and we are root on Debian), and make the tests needing it fail instead of skip."""
    found = shutil.which("initdb") or glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found and os.name != "nt" and os.geteuid() == 0 and shutil.which("apt-get"):
        say("installing PostgreSQL for the tests: apt-get install -y postgresql")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        command = ["apt-get", "install", "-y", "-q", "postgresql"]
        if subprocess.run(command, env=env, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, check=False)
            subprocess.run(command, env=env, check=False)
    os.environ.setdefault("LASH_REQUIRE_POSTGRES", "1")


def cmd_test(args: Sequence[str]) -> int:
    if args:
        say(f"`test` takes no arguments (got {' '.join(args)})")
        return 2
    ensure_postgres()
    python = venv_python()
    # The Restate tests fail (instead of skipping) when their server cannot start.
    os.environ.setdefault("LASH_REQUIRE_RESTATE", "1")
    with tempfile.TemporaryDirectory(prefix="lash-site-") as site_dir:
        steps: list[tuple[str, list[str | Path]]] = [
            ("ruff check .", [python, "-m", "ruff", "check", "."]),
            ("ruff format --check .", [python, "-m", "ruff", "format", "--check", "."]),
            ("mypy", [python, "-m", "mypy"]),
            (
                "mkdocs build --strict",
                [python, "-m", "mkdocs", "build", "--strict", "--site-dir", site_dir],
            ),
            ("pytest", [python, "-m", "pytest"]),
            ("python -m benchmarks --smoke", [python, "-m", "benchmarks", "--smoke"]),
            (
                "package: build sdist and wheel, install the wheel in a fresh venv, run the demo",
                [python, "scripts/check_package.py"],
            ),
        ]
        for number, (title, command) in enumerate(steps, 1):
            say(f"[{number}/{len(steps)}] {title}")
            status = run(command)
            if status != 0:
                say(f"FAILED: {title} (exit status {status})")
                return status
    say("all checks passed")
    return 0


def main(argv: Sequence[str]) -> int:
    if sys.version_info < MIN_PYTHON:
        wanted = ".".join(str(n) for n in MIN_PYTHON)
        say(f"Python {wanted}+ is required, this is {sys.version.split()[0]}")
        return 2
    if not argv or argv[0] not in ("demo", "test", "setup"):
        print(USAGE, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    status = ensure_venv()
    if status != 0:
        return status
    if command == "demo":
        return cmd_demo(rest)
    if command == "test":
        return cmd_test(rest)
    say(f"{VENV.relative_to(ROOT)} is ready")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
