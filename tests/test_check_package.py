"""The packaging check (scripts/check_package.py) refuses what it exists to catch.

The check itself runs as the last step of ``python3 dev.py test`` (it builds, installs and runs
the demo, which takes a network and ~20 s); here its judgements are exercised on small inputs.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_package", ROOT / "scripts" / "check_package.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_package"] = module
    spec.loader.exec_module(module)
    return module


check = load_check()


def make_wheel(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as wheel:
        for name in names:
            wheel.writestr(name, "")
    return path


def test_packages_are_read_from_pyproject() -> None:
    packages = check.import_packages()
    assert {"lash_core", "lash_trio", "lash_asyncio", "lash_sqlite"} <= set(packages)
    assert all("." not in p and "*" not in p for p in packages)


def test_every_shipped_package_has_its_py_typed() -> None:
    for package in check.import_packages():
        assert (ROOT / package / "py.typed").is_file(), package


def test_a_complete_wheel_passes(tmp_path: Path) -> None:
    names = [
        "lash_core/__init__.py",
        "lash_core/py.typed",
        "lash_trio/__init__.py",
        "lash_trio/py.typed",
    ]
    check.check_wheel(make_wheel(tmp_path / "ok.whl", names), ["lash_core", "lash_trio"])


def test_a_wheel_without_py_typed_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "w.whl", ["lash_core/__init__.py"])
    with pytest.raises(check.CheckFailed, match=r"lash_core/py\.typed"):
        check.check_wheel(wheel, ["lash_core"])


def test_a_wheel_missing_a_package_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "w.whl", ["lash_core/__init__.py", "lash_core/py.typed"])
    with pytest.raises(check.CheckFailed, match="lacks the package lash_trio"):
        check.check_wheel(wheel, ["lash_core", "lash_trio"])


def test_a_wheel_shipping_tests_is_refused(tmp_path: Path) -> None:
    names = ["lash_core/__init__.py", "lash_core/py.typed", "tests/test_x.py"]
    with pytest.raises(check.CheckFailed, match="not the library"):
        check.check_wheel(make_wheel(tmp_path / "w.whl", names), ["lash_core"])


def result_line(status: str) -> str:
    return json.dumps({"kind": "result", "data": {"outcome": {"status": status}}})


def test_demo_output_counts_only_a_finished_result() -> None:
    effect = json.dumps({"kind": "effect", "data": {"outcome": {"status": "finished"}}})
    assert check.finished("dev.py: banner\n" + effect + "\n" + result_line("finished"))
    assert not check.finished(effect)
    assert not check.finished(result_line("stopped"))
    assert not check.finished("not json at all")


def test_a_failing_command_raises_with_its_output(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]
    with pytest.raises(check.CheckFailed, match=r"exited 3\nboom"):
        check.run(argv, cwd=tmp_path)


def test_imports_from_the_venv_pass_and_extras_are_listed(tmp_path: Path) -> None:
    inside = tmp_path / "venv" / "lib" / "lash_core" / "__init__.py"
    out = (
        f"file {inside}\nneeds lash_postgres needs psycopg; pip install 'lash-effects[postgres]'\n"
    )
    assert check.check_imports(out, tmp_path / "venv") == ["lash_postgres"]


def test_an_import_from_the_checkout_is_refused(tmp_path: Path) -> None:
    out = f"file {ROOT / 'lash_core' / '__init__.py'}\n"
    with pytest.raises(check.CheckFailed, match="outside the fresh venv"):
        check.check_imports(out, tmp_path / "venv")


def test_an_import_error_that_names_no_extra_is_refused(tmp_path: Path) -> None:
    out = "needs lash_postgres No module named 'psycopg'\n"
    with pytest.raises(check.CheckFailed, match="without naming its extra"):
        check.check_imports(out, tmp_path / "venv")
