"""Build the distribution and prove that what a user installs from it works.

    python scripts/check_package.py [--keep DIR]

Run by ``python3 dev.py test`` (its last step), from the project's venv, which has ``build``:

1. ``python -m build`` makes the sdist, then the wheel *from that sdist* (so a file missing from
   the sdist fails here, not on a user's machine).
2. The wheel is checked: every import package ships with its ``py.typed``, and nothing that is
   not part of the library (tests, benchmarks, docs, scripts) is inside.
3. A fresh venv (no access to this checkout) installs the wheel with the ``trio`` extra, pinned
   by ``constraints.txt``, and runs ``lash demo`` on trio and on asyncio from a folder outside
   the checkout; each must finish its turn. The installed modules must come from the venv.

Exit status 0 when everything holds; otherwise 1, with what failed. Standard library only
(``build`` is run as a command).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import venv
import zipfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_SHIPPED = ("tests/", "benchmarks/", "docs/", "scripts/")
NEEDS_NO_EXTRA = ("lash_core", "lash_trio", "lash_asyncio", "lash_sqlite", "lash_sql")
"""Packages a user gets working with ``pip install 'lash-effects[trio]'`` alone."""


class CheckFailed(Exception):
    """One check did not hold; the message says which and why."""


def say(message: str) -> None:
    print(f"check_package: {message}", flush=True)


def import_packages() -> list[str]:
    """The top-level import packages the project ships, from pyproject's package list."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted(p.removesuffix("*") for p in patterns if not p.removesuffix("*").count("."))


def run(argv: Sequence[str | Path], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command; return its stdout, or raise CheckFailed with its output."""
    args = [str(a) for a in argv]
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CheckFailed(
            f"`{' '.join(args)}` exited {done.returncode}\n"
            f"{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    return done.stdout


def build(dist: Path) -> tuple[Path, Path]:
    """Build the sdist and, from it, the wheel; return their paths."""
    run([sys.executable, "-m", "build", "--outdir", dist, ROOT], cwd=ROOT)
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        raise CheckFailed(f"expected one wheel and one sdist in {dist}, found {os.listdir(dist)}")
    return wheels[0], sdists[0]


def check_wheel(wheel: Path, packages: Sequence[str]) -> None:
    """Each import package ships with py.typed; nothing but the library is inside."""
    names = zipfile.ZipFile(wheel).namelist()
    for package in packages:
        if f"{package}/__init__.py" not in names:
            raise CheckFailed(f"{wheel.name} lacks the package {package}")
        if f"{package}/py.typed" not in names:
            raise CheckFailed(f"{wheel.name} lacks {package}/py.typed (PEP 561)")
    stray = sorted(n for n in names if n.startswith(NOT_SHIPPED))
    if stray:
        raise CheckFailed(f"{wheel.name} ships files that are not the library: {stray[:5]}")


def install(wheel: Path, target: Path) -> Path:
    """A fresh venv with the wheel and its trio extra; returns the venv's bin folder."""
    venv.EnvBuilder(with_pip=True).create(target)
    bin_dir = target / ("Scripts" if os.name == "nt" else "bin")
    command: list[str | Path] = [bin_dir / "python", "-m", "pip", "install", "--quiet"]
    command += ["--disable-pip-version-check", f"{wheel}[trio]", "-c", ROOT / "constraints.txt"]
    run(command, cwd=target)
    return bin_dir


def clean_env(bin_dir: Path) -> dict[str, str]:
    """The environment of a user's shell with the new venv active and no trace of the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["VIRTUAL_ENV"] = str(bin_dir.parent)
    env["PATH"] = str(bin_dir) + os.pathsep + env.get("PATH", "")
    return env


def finished(demo_output: str) -> bool:
    """Whether `lash demo --json` printed a result line whose turn finished."""
    for line in demo_output.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("kind") == "result":
            data = row.get("data")
            outcome = data.get("outcome") if isinstance(data, dict) else None
            return isinstance(outcome, dict) and outcome.get("status") == "finished"
    return False


PROBE = """
import importlib, sys
for name in sys.argv[1:]:
    try:
        print("file", importlib.import_module(name).__file__)
    except ImportError as error:
        print("needs", name, str(error).replace("\\n", " "))
"""
"""Imports each package; prints its file, or the ImportError of one that needs an extra."""


def check_imports(probe_output: str, venv_root: Path) -> list[str]:
    """The packages that need an extra; each other package must come from ``venv_root``. A
    package missing its extra must say which ``pip install 'lash-effects[...]'`` adds it."""
    needs_extra = []
    for line in probe_output.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "file":
            if not Path(rest).resolve().is_relative_to(venv_root):
                raise CheckFailed(f"{rest} was imported from outside the fresh venv {venv_root}")
        elif kind == "needs":
            name, _, message = rest.partition(" ")
            if "pip install 'lash-effects[" not in message:
                raise CheckFailed(f"import {name} failed without naming its extra: {message}")
            needs_extra.append(name)
        else:
            raise CheckFailed(f"unexpected probe output: {line!r}")
    return needs_extra


def check_installed(bin_dir: Path, packages: Sequence[str], outside: Path) -> None:
    """The modules come from the venv (or say which extra they need), and the demo finishes
    its turn on both loops."""
    env = clean_env(bin_dir)
    out = run([bin_dir / "python", "-c", PROBE, *packages], cwd=outside, env=env)
    needs_extra = check_imports(out, bin_dir.parent.resolve())
    core = sorted(set(needs_extra) & set(NEEDS_NO_EXTRA))
    if core:
        raise CheckFailed(f"{', '.join(core)} must import with only the trio extra installed")
    if needs_extra:
        say(f"need an extra, and say which when it is missing: {', '.join(needs_extra)}")
    for loop in ("trio", "asyncio"):
        out = run([bin_dir / "lash", "demo", "--loop", loop, "--json"], cwd=outside, env=env)
        if not finished(out):
            raise CheckFailed(f"`lash demo --loop {loop}` did not finish its turn:\n{out[-2000:]}")
        say(f"lash demo --loop {loop} from the installed wheel: finished")


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--keep", type=Path, help="build into DIR and keep it (default: a temp folder)"
    )
    options = parser.parse_args(argv)
    work = Path(options.keep or tempfile.mkdtemp(prefix="lash-package-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        packages = import_packages()
        wheel, sdist = build(work / "dist")
        say(f"built {sdist.name} and, from it, {wheel.name}")
        check_wheel(wheel, packages)
        say(f"{wheel.name}: {', '.join(packages)}, each with py.typed; no tests or benchmarks")
        outside = work / "elsewhere"
        outside.mkdir(exist_ok=True)
        bin_dir = install(wheel, work / "venv")
        say(f"installed {wheel.name}[trio] into a fresh venv")
        check_installed(bin_dir, packages, outside)
    except CheckFailed as failure:
        say(f"FAILED: {failure}")
        return 1
    finally:
        if options.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    say("the wheel installs and runs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
