"""The docs stand alone: a clone has no ../shared folder, so nothing may point there, and every
relative link in a committed Markdown file leads to a file in the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".venv", ".git", "node_modules", "test-results", "bench-results", "staticfiles", "media"}
TEXT_SUFFIXES = {".md", ".py", ".html", ".txt", ".css", ".js", ".toml", ".po", ".example"}
TEXT_NAMES = {"Makefile", "Dockerfile", "Procfile", ".dockerignore", ".gitignore", "run"}
OUTSIDE = re.compile(r"\.\./shared|/work/shared|(?<![\w/])shared/(?:DESIGN|STYLE|taisly-api)")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def repo_files() -> list[Path]:
    return sorted(
        path
        for path in ROOT.rglob("*")
        if path.is_file()
        and not SKIP.intersection(path.relative_to(ROOT).parts)
        and (path.suffix in TEXT_SUFFIXES or path.name in TEXT_NAMES)
    )


def test_the_files_are_found():
    names = {path.relative_to(ROOT).as_posix() for path in repo_files()}
    assert {"README.md", "docs/architecture.md", "sandbox/README.md", "Makefile"} <= names


def test_nothing_points_outside_the_repository():
    this = Path(__file__).resolve()
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in repo_files()
        if path != this
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1)
        if OUTSIDE.search(line)
    ]
    assert offenders == []


def test_every_relative_link_in_the_docs_leads_to_a_file_here():
    broken = []
    for path in repo_files():
        if path.suffix != ".md":
            continue
        for target in LINK.findall(path.read_text()):
            if re.match(r"[a-z]+:|#", target):  # https:, mailto:, an anchor on the same page
                continue
            resolved = (path.parent / target.split("#")[0]).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)} → {target}")
    assert broken == []


def test_the_readme_links_the_architecture_page():
    assert "(docs/architecture.md)" in (ROOT / "README.md").read_text()
