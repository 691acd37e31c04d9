"""Every ```python block of README.md and docs/*.md runs as written.

The blocks of one file run in order in one namespace, so a page can build on its earlier
blocks. A page that needs PostgreSQL says so (:data:`NEEDS_POSTGRES`) and reads the server's
connection string from ``LASH_POSTGRES_DSN``. A failing block is reported with its file and
the line where it starts, and the traceback points at the failing line of the Markdown file.
"""

from __future__ import annotations

import os
import re
import shutil
import traceback
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parent.parent

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")


@attrs.frozen
class Block:
    """A fenced code block: where its code starts (1-based line) and the code."""

    path: Path
    line: int
    code: str


def python_blocks(path: Path) -> list[Block]:
    """The ```python blocks of a Markdown file, in order."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence = opening.group("fence")
        start = index + 1
        end = start
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        if opening.group("info") == "python":
            blocks.append(Block(path, start + 1, "\n".join(lines[start:end]) + "\n"))
        index = end + 1
    return blocks


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def run_blocks(path: Path, root: Path = ROOT) -> int:
    """Run the python blocks of ``path`` in one namespace; returns how many ran."""
    relative = path.relative_to(root).as_posix()
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem.replace('-', '_')}"}
    blocks = python_blocks(path)
    for block in blocks:
        # Pad with blank lines so tracebacks carry the Markdown file's own line numbers.
        source = "\n" * (block.line - 1) + block.code
        try:
            exec(compile(source, relative, "exec", dont_inherit=True), namespace)
        except Exception as exc:
            detail = "".join(traceback.format_exception(exc, limit=-3))
            pytest.fail(
                f"{relative}:{block.line}: the python block starting here failed:\n{detail}",
                pytrace=False,
            )
    return len(blocks)


NEEDS_RESTATE = frozenset({"restate.md"})
"""Pages whose examples start a local Restate server (installed from npm when missing)."""


def _restate_missing() -> str | None:
    """Why a Restate server cannot run here (``None`` if it can, or must: with
    ``LASH_REQUIRE_RESTATE=1`` a missing server fails the page instead of skipping it)."""
    if os.environ.get("LASH_REQUIRE_RESTATE") == "1":
        return None
    try:
        import restate  # noqa: F401
    except ImportError:
        return "restate-sdk is not installed (the restate extra)"
    from lash_restate.server import server_binary

    if server_binary() is None and shutil.which("npm") is None:
        return "no Restate server and no npm to install one"
    return None


NEEDS_POSTGRES = "<!-- needs: postgres -->"
"""A page holding this line runs its blocks with ``LASH_POSTGRES_DSN`` set to the test
session's throwaway server (skipped, or failed under ``LASH_REQUIRE_POSTGRES``, without one)."""


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_python_blocks_run(
    path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert path.exists(), f"{path.relative_to(ROOT)} is missing"
    if path.name in NEEDS_RESTATE:
        missing = _restate_missing()
        if missing is not None:
            pytest.skip(missing)
    if NEEDS_POSTGRES in path.read_text(encoding="utf-8"):
        monkeypatch.setenv("LASH_POSTGRES_DSN", request.getfixturevalue("postgres_dsn"))
    run_blocks(path)


def test_pages_have_examples() -> None:
    for name in ("README.md", "docs/index.md", "docs/registry.md", "docs/wire-format.md"):
        assert python_blocks(ROOT / name), f"{name} has no python example"


def test_extraction(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n"
        "```python\n"
        "x = 1\n"
        "```\n"
        "```bash\n"
        "echo no\n"
        "```\n"
        "````markdown\n"
        "```python\n"
        "not = code\n"
        "```\n"
        "````\n"
        "```python\n"
        "assert x == 1\n"
        "y = x + 1\n"
        "```\n",
        encoding="utf-8",
    )
    blocks = python_blocks(page)
    assert [(b.line, b.code) for b in blocks] == [
        (3, "x = 1\n"),
        (14, "assert x == 1\ny = x + 1\n"),
    ]


def test_failure_names_file_and_line(tmp_path: Path) -> None:
    page = tmp_path / "bad.md"
    page.write_text(
        "text\n\n```python\nok = True\n```\n\n```python\nassert ok\nassert 1 == 2\n```\n",
        encoding="utf-8",
    )
    with pytest.raises(pytest.fail.Exception) as failure:
        run_blocks(page, root=tmp_path)
    message = str(failure.value)
    assert "bad.md:8: the python block starting here failed" in message
    assert 'File "bad.md", line 9' in message
