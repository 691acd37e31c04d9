"""The overview's "Where next" and the README's documentation list name every page of the
site, in the order of the site's navigation."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _nav_pages() -> list[str]:
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    return re.findall(r"^\s+- [^:]+: (\S+\.md)$", text, flags=re.MULTILINE)


def _linked_pages(text: str, prefix: str = "") -> list[str]:
    pages: list[str] = re.findall(r"\]\(" + prefix + r"([a-z-]+\.md)\)", text)
    return pages


def test_index_where_next_lists_every_page() -> None:
    """It once omitted Turns, Stopping turns and Durable steps (and more)."""
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    where_next = index.split("## Where next", 1)[1]
    pages = [page for page in _nav_pages() if page != "index.md"]
    assert _linked_pages(where_next) == pages


def test_readme_documentation_lists_every_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documentation = readme.split("## Documentation", 1)[1].split("\n## ", 1)[0]
    assert _linked_pages(documentation, "docs/") == _nav_pages()


def test_readme_first_example_runs_a_turn_with_a_webhook_in_under_40_lines() -> None:
    """The README's quick start was for contributors and its example never ran a turn."""
    from tests.test_docs import python_blocks

    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    first = python_blocks(readme)[0]
    lines = first.code.splitlines()
    assert len(lines) < 40
    for needed in (
        "run_turn(",
        "ScriptedModel(",
        "@tool",
        "ctx.pending(",
        "resolve_await_event(",
        "trio.run(",
    ):
        assert needed in first.code, needed
    # The two commands a newcomer needs come before any example.
    commands = text.index("python3 dev.py demo"), text.index("python3 dev.py test")
    assert max(commands) < text.index("```python")


def test_readme_second_example_resumes_a_crashed_turn_in_under_60_lines() -> None:
    """The README showed no durable turn: a crash lost everything, as far as it told."""
    from tests.test_docs import python_blocks

    second = python_blocks(ROOT / "README.md")[1]
    assert len(second.code.splitlines()) < 60
    for needed in ("SqliteStore(", "open_durable_host(", ".resolve(", "resume_turn(", "ran =="):
        assert needed in second.code, needed
