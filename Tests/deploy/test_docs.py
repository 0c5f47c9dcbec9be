"""The documentation holds together: every relative link of the README, docs/, deploy/ and bench/
pages names a file that exists and, with an `#anchor`, one of that page's headings (GitHub's
slugs); the README stays a five-minute page with exactly two set-up commands."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from rendering import REPO_ROOT

PAGES = sorted({REPO_ROOT / "README.md", REPO_ROOT / "bench" / "README.md",
                REPO_ROOT / "Tests" / "kube-api-server" / "README.md",
                *(REPO_ROOT / "docs").glob("*.md"), *(REPO_ROOT / "deploy").rglob("*.md")})

# Pages another branch writes, linked here before they land: each link to one is allowed while
# the page is missing, and the test fails once it exists, so that the entry is removed.
PENDING: set[Path] = set()


def prose(text: str) -> str:
    """The text without its fenced code blocks, whose brackets are not links."""
    return re.sub(r"^ *```.*?^ *```$", "", text, flags=re.MULTILINE | re.DOTALL)


def slugs(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation but `-` and `_` dropped,
    spaces as `-`, and `-1`, `-2`, ... after a repeated one."""
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#+ +(.*?) *#*$", prose(page.read_text()), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        if count:
            seen[f"{slug}-{count}"] = 1
    return set(seen)


def links(page: Path) -> list[str]:
    """The page's inline link targets, less external ones."""
    targets = re.findall(r"\]\(([^)\s]+)(?: \"[^\"]*\")?\)", prose(page.read_text()))
    return [t for t in targets if not re.match(r"[a-z]+:", t)]


def test_the_pages_are_found() -> None:
    names = {str(page.relative_to(REPO_ROOT)) for page in PAGES}
    assert {"README.md", "docs/API.md", "deploy/README.md", "deploy/docs/ALERTS.md", "bench/README.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO_ROOT)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        resolved = Path(os.path.normpath(page.parent / path)) if path else page
        if resolved in PENDING and not resolved.exists():
            continue
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (resolved.suffix != ".md" or anchor not in slugs(resolved)):
            broken.append(f"{target}: no heading #{anchor} in {resolved.relative_to(REPO_ROOT)}")
    assert not broken, broken


def test_pending_pages_are_still_pending() -> None:
    """Once a pending page has landed, its entry goes: links to it are then checked like any."""
    landed = [str(page.relative_to(REPO_ROOT)) for page in PENDING if page.exists()]
    assert not landed, f"remove {landed} from PENDING in {Path(__file__).name}"


def test_readme_is_a_five_minute_page_with_two_commands() -> None:
    text = (REPO_ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 130
    section = text[text.index("\n## Two commands\n"):text.index("\n## ", text.index("\n## Two commands\n") + 1)]
    [block] = re.findall(r"^```sh\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    commands = [line.split("#")[0].strip() for line in block.splitlines()]
    assert commands == ["scripts/run-local.sh", "scripts/test.sh"], commands
    for command in commands:
        assert os.access(REPO_ROOT / command, os.X_OK), command
    # The quick start registers the site run-local.sh prepares, by the name it gives it.
    assert "http://127.0.0.1:8080/sites/edge-1" in text
    assert "edge-1" in (REPO_ROOT / "scripts" / "run-local.sh").read_text()
