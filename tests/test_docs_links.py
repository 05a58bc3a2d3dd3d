"""README.md and docs/*.md: every relative link and image resolves, every anchor names a heading, README is short.

Pure Python, no network: links to http(s)://, mailto: and other URL schemes are not followed. A link's ``#anchor``
into a Markdown file (or a bare ``#anchor`` into its own file) must match one of that file's headings under GitHub's
slug rules: the heading's text lowercased, punctuation dropped except ``-`` and ``_``, spaces turned into ``-``,
and ``-1``, ``-2`` … appended to repeated headings.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 260

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target) and ![alt](target); the text may hold one level of brackets (an image inside a link)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+[\"'(][^)]*)?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ftp: …


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def raw_prose_lines(path: Path):
    """(line number, text) of the lines outside fenced code blocks, as written."""
    in_fence = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = FENCE.match(line)
        if m:
            if in_fence is None:
                in_fence = m.group(1)
            elif m.group(1) == in_fence:
                in_fence = None
            continue
        if in_fence is None:
            yield number, line


def prose_lines(path: Path):
    """As :func:`raw_prose_lines`, with inline code spans blanked (a link inside code is not a link)."""
    for number, line in raw_prose_lines(path):
        yield number, INLINE_CODE.sub(lambda c: " " * len(c.group(0)), line)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text, not its target
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor; a repeated heading's get -1, -2 … as on GitHub."""
    found: set[str] = set()
    counts: dict[str, int] = {}
    for _, line in raw_prose_lines(path):
        m = HEADING.match(line)
        if m:
            base = slug(m.group(2))
            n = counts.get(base, 0)
            counts[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def links(path: Path):
    """(line number, target) of every inline link, image and reference definition outside code."""
    for number, line in prose_lines(path):
        for m in INLINE_LINK.finditer(line):
            yield number, m.group(1).strip("<>")
        m = REFERENCE_DEF.match(line)
        if m:
            yield number, m.group(1).strip("<>")


def broken_links(files: list[Path], root: Path = ROOT) -> list[str]:
    """One line per broken link or image: file, line, the link as written, and what is wrong."""
    root = root.resolve()
    problems = []
    anchor_cache: dict[Path, set[str]] = {}
    for path in files:
        for number, target in links(path):
            if SCHEME.match(target):
                continue  # http(s)://, mailto: …: not checked (no network)
            file_part, _, anchor = target.partition("#")
            where = f"{path.relative_to(root)}:{number}: [{target}]"
            dest = (path.parent / unquote(file_part)).resolve() if file_part else path
            if file_part and not dest.exists():
                shown = dest.relative_to(root) if dest.is_relative_to(root) else dest
                problems.append(f"{where}: {shown} does not exist")
                continue
            if anchor and dest.suffix.lower() == ".md" and dest.is_file():
                if dest not in anchor_cache:
                    anchor_cache[dest] = anchors(dest)
                if unquote(anchor).lower() not in anchor_cache[dest]:
                    problems.append(f"{where}: no heading in {dest.relative_to(root)} has the anchor #{anchor}")
    return problems


def test_every_relative_link_resolves():
    files = markdown_files()
    assert len(files) > 1, "docs/*.md: no pages found"
    problems = broken_links(files)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_readme_is_a_front_door():
    n = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines (at most {README_MAX_LINES}: move detail to docs/)"


def test_the_checker_finds_what_is_broken(tmp_path):
    """The checker itself: a missing file, a missing anchor and a missing image are each reported; code is not read."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text(
        "# A page — with `code`, punctuation!\n\n## Repeated\n\n## Repeated\n\n"
        "[back](../README.md#title) [self](#repeated-1) [ok](#a-page--with-code-punctuation)\n"
        "```\n[not a link](nowhere.md)\n```\n`[not a link either](nowhere.md)`\n", encoding="utf-8")
    (tmp_path / "README.md").write_text(
        "# Title\n\n[page](docs/page.md) [web](https://example.org/x.md) [mail](mailto:a@b.c)\n"
        "[gone](docs/gone.md) ![img](docs/missing.png)\n[bad anchor](docs/page.md#nope)\n[ref]: docs/absent.md\n",
        encoding="utf-8")
    problems = broken_links([tmp_path / "README.md", tmp_path / "docs" / "page.md"], root=tmp_path)
    assert len(problems) == 4, problems
    assert problems[0].startswith("README.md:4: [docs/gone.md]") and "does not exist" in problems[0]
    assert problems[1].startswith("README.md:4: [docs/missing.png]")
    assert problems[2].startswith("README.md:5: [docs/page.md#nope]") and "#nope" in problems[2]
    assert problems[3].startswith("README.md:6: [docs/absent.md]")
