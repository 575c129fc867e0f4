"""What the documentation tests read in a Markdown file: its fenced blocks, its headings,
GitHub's anchors for them, and what may be cited as a section.

    from docfiles import FENCE, headings_of, sections_of, slug
"""

from __future__ import annotations

import re
from pathlib import Path

# A fenced code block, its body in group 1.
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but ``-`` and ``_`` dropped,
    spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings_of(path: Path) -> list[str]:
    """The headings of a Markdown file, outside its code blocks."""
    prose = FENCE.sub("", path.read_text(encoding="utf-8"))
    return [line.lstrip("#").strip() for line in prose.splitlines() if re.match(r"#+ ", line)]


def sections_of(path: Path) -> list[str]:
    """What a text may cite as a section of a Markdown file (``PROTOCOL.md, "Names"``): its
    headings, and the titles of its bold paragraphs (``**What the sender is told.**``)."""
    prose = FENCE.sub("", path.read_text(encoding="utf-8"))
    return headings_of(path) + [title.rstrip(".:") for title in re.findall(r"^\*\*([^*\n]+)\*\*", prose, re.MULTILINE)]
