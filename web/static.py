"""Static files: URL path -> file under a root, content types, response headers.

``resolve_static`` is the only place a URL becomes a filesystem path; it is
deliberately strict (it refuses rather than normalises anything odd), because
every normalisation step is a chance for a traversal bypass.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

# Sent with every response of the gateway, not only static files.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml; charset=utf-8",
    # RFC 8259 11: application/json has no charset parameter; it is UTF-8.
    ".json": "application/json",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"

_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ENTITY_TAG = re.compile(r'(?:W/)?"([^"]*)"')


def _decode_segment(raw: str) -> str | None:
    """Percent-decode one path segment; None if malformed or not UTF-8."""
    if _BAD_PERCENT.search(raw):
        return None
    try:
        data = _PERCENT.sub(lambda m: chr(int(m.group(1), 16)), raw).encode("latin-1")
        return data.decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None


def _segments(url_path: str) -> list[str] | None:
    """Split and decode ``url_path`` into safe file-name segments, or None."""
    if not url_path.startswith("/") or not url_path.isascii():
        return None
    if any(ch in url_path for ch in "\\\x00?#") or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url_path):
        return None
    raw_segments = url_path[1:].split("/")
    if raw_segments[-1] == "":
        raw_segments[-1] = "index.html"  # "/" and "/dir/" serve the directory index
    segments = []
    for raw in raw_segments:
        name = _decode_segment(raw)
        # Decoded separators or dot segments could climb out of root; dotfiles
        # (.git, .env) are never served; empty segments ("//") are refused.
        if not name or name.startswith(".") or any(ch in name for ch in "/\\\x00"):
            return None
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
            return None
        segments.append(name)
    return segments


def resolve_static(root: Path, url_path: str) -> Path | None:
    """Map a raw (percent-encoded) URL path to a regular file strictly inside ``root``.

    "/" and paths ending in "/" map to "index.html" in that directory.
    Returns the resolved path, or None for anything else: traversal attempts
    (``..``, ``%2e%2e``, ``%2f``, backslashes, NUL, empty segments, paths
    not starting with "/"), dotfiles, malformed percent-escapes, missing
    files, directories, special files, and symlinks resolving outside
    ``root``. Never raises for any ``url_path`` string.
    """
    segments = _segments(url_path)
    if segments is None:
        return None
    try:
        real_root = Path(root).resolve(strict=True)
        # resolve() follows every symlink, so the containment check below
        # sees where the file really is.
        real = real_root.joinpath(*segments).resolve(strict=True)
        if real == real_root or not real.is_relative_to(real_root):
            return None
        if not stat.S_ISREG(real.stat().st_mode):
            return None
    except (OSError, RuntimeError, ValueError):
        # Missing, unreadable, name too long, symlink loop, ...
        return None
    return real


def content_type(path: Path) -> str:
    """Content-Type for ``path`` by extension; text types carry ``charset=utf-8``."""
    return _CONTENT_TYPES.get(Path(path).suffix.lower(), DEFAULT_CONTENT_TYPE)


def etag_for(path: Path) -> str:
    """Strong entity tag built from the file's size and mtime (ns). Raises OSError."""
    info = os.stat(path)
    return f'"{info.st_size:x}-{info.st_mtime_ns:x}"'


def is_not_modified(if_none_match: str | None, etag: str) -> bool:
    """True if a request's If-None-Match value matches ``etag`` (answer 304).

    Uses the weak comparison RFC 9110 13.1.2 prescribes for If-None-Match;
    "*" matches any existing representation; None/empty never matches.
    """
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = _ENTITY_TAG.fullmatch(etag.strip())
    if wanted is None:
        return False
    return any(match.group(1) == wanted.group(1) for match in _ENTITY_TAG.finditer(if_none_match))


def static_response_headers(path: Path, content_type: str) -> list[tuple[str, str]]:
    """Headers for serving ``path``: type, revalidation caching, security.

    ``Cache-Control: no-cache`` lets browsers keep a copy but revalidate it
    each time with If-None-Match (see ``is_not_modified``). Content-Length is
    left to ``render_response``. Raises OSError if the file vanished.
    """
    return [
        ("Content-Type", content_type),
        ("Cache-Control", "no-cache"),
        ("ETag", etag_for(path)),
        *SECURITY_HEADERS,
    ]
