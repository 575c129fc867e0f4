"""Tests for web.static: path resolution (traversal), content types, headers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from web.static import (
    CONTENT_SECURITY_POLICY,
    content_type,
    etag_for,
    is_not_modified,
    resolve_static,
    static_response_headers,
)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """tmp/root holds the site; tmp/secret.txt and tmp/private/ lie outside it."""
    root = tmp_path / "root"
    (root / "css").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "css" / "app.css").write_text("body{}")
    (root / "docs" / "index.html").write_text("docs")
    (root / "hello world.txt").write_text("hi")
    (root / "café.txt").write_text("coffee")
    (root / ".env").write_text("TOKEN=1")
    (tmp_path / "secret.txt").write_text("SECRET")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "key.txt").write_text("KEY")
    return root


@pytest.mark.parametrize(
    "url,relative",
    [
        ("/", "index.html"),
        ("/index.html", "index.html"),
        ("/css/app.css", "css/app.css"),
        ("/docs/", "docs/index.html"),
        ("/hello%20world.txt", "hello world.txt"),
        ("/caf%C3%A9.txt", "café.txt"),
        ("/%63ss/app.css", "css/app.css"),
    ],
)
def test_resolves_files_inside_root(site, url, relative):
    assert resolve_static(site, url) == (site / relative).resolve()


@pytest.mark.parametrize(
    "url",
    [
        "/missing.html",
        "/css",  # a directory, not a file
        "/css/",  # directory without index.html
        "/.env",  # dotfiles are never served
        "/%2eenv",
        "/./index.html",
        "/css/./app.css",
        "/caf\u00e9.txt",  # raw non-ASCII is not a valid request target
        "/index.html?x=1",
        "/index.html#top",
        "",
        "index.html",
    ],
)
def test_refuses_non_files_and_odd_paths(site, url):
    assert resolve_static(site, url) is None


TRAVERSALS = [
    "/../secret.txt",
    "/css/../../secret.txt",
    "/css/../index.html",  # stays inside, but ".." is refused outright
    "/..",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/.%2e/secret.txt",
    "/%2e./secret.txt",
    "/..%2fsecret.txt",
    "/..%2Fsecret.txt",
    "/%2e%2e%2fsecret.txt",
    "/css%2f..%2f..%2fsecret.txt",
    "/%252e%252e/secret.txt",  # double encoding is decoded once only
    "/..\\secret.txt",
    "/css\\..\\..\\secret.txt",
    "/..%5csecret.txt",
    "/css%5c..%5c..%5csecret.txt",
    "/index.html\x00.png",
    "/index.html%00.png",
    "/index.html%00",
    "//secret.txt",
    "//etc/passwd",
    "/%2fetc/passwd",
    "/%2Fetc%2Fpasswd",
    "/etc/passwd",
    "/../private/key.txt",
    "/%2e%2e/private/key.txt",
    "/%",
    "/%2",
    "/%zz",
    "/%ff",  # not UTF-8
    "/%c0%ae%c0%ae/secret.txt",  # overlong UTF-8 dots
    "/\u2025/secret.txt",
]


@pytest.mark.parametrize("url", TRAVERSALS)
def test_path_traversal_is_refused(site, url):
    assert resolve_static(site, url) is None


def test_absolute_path_of_a_real_file_is_refused(site):
    secret = site.parent / "secret.txt"
    assert resolve_static(site, str(secret)) is None
    assert resolve_static(site, "/" + str(secret).lstrip("/")) is None


def test_symlink_escaping_root_is_refused(site):
    (site / "leak.txt").symlink_to(site.parent / "secret.txt")
    (site / "outside").symlink_to(site.parent / "private", target_is_directory=True)
    assert (site / "leak.txt").read_text() == "SECRET"  # the link itself works
    assert resolve_static(site, "/leak.txt") is None
    assert resolve_static(site, "/outside/key.txt") is None


def test_symlink_inside_root_is_allowed(site):
    (site / "style.css").symlink_to(site / "css" / "app.css")
    assert resolve_static(site, "/style.css") == (site / "css" / "app.css").resolve()


def test_symlink_loop_is_refused(site):
    (site / "loop").symlink_to(site / "loop")
    assert resolve_static(site, "/loop") is None


def test_root_given_through_a_symlink(site, tmp_path):
    alias = tmp_path / "alias"
    alias.symlink_to(site, target_is_directory=True)
    assert resolve_static(alias, "/css/app.css") == (site / "css" / "app.css").resolve()
    assert resolve_static(alias, "/../secret.txt") is None


def test_special_files_are_refused(site):
    os.mkfifo(site / "pipe.txt")
    assert resolve_static(site, "/pipe.txt") is None


def test_overlong_name_is_refused_without_raising(site):
    assert resolve_static(site, "/" + "a" * 5000) is None


@pytest.mark.parametrize(
    "name,expected",
    [
        ("index.html", "text/html; charset=utf-8"),
        ("INDEX.HTM", "text/html; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("logo.svg", "image/svg+xml; charset=utf-8"),
        ("logo.png", "image/png"),
        ("favicon.ico", "image/x-icon"),
        ("data.json", "application/json"),
        ("notes.txt", "text/plain; charset=utf-8"),
        ("archive.tar.gz", "application/octet-stream"),
        ("Makefile", "application/octet-stream"),
    ],
)
def test_content_type(name, expected):
    assert content_type(Path(name)) == expected


def test_static_response_headers(site):
    path = site / "index.html"
    headers = dict(static_response_headers(path, "text/html; charset=utf-8"))
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-cache"
    assert headers["ETag"] == etag_for(path)
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"


def test_content_security_policy_is_restrictive():
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives == {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "connect-src": "'self'",
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
        "form-action": "'none'",
    }


def test_etag_tracks_size_and_mtime(site):
    path = site / "index.html"
    first = etag_for(path)
    assert first.startswith('"') and first.endswith('"')
    assert etag_for(path) == first
    path.write_text("<h1>home, longer</h1>")
    second = etag_for(path)
    assert second != first
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert etag_for(path) not in (first, second)


@pytest.mark.parametrize(
    "header,matches",
    [
        (None, False),
        ("", False),
        ('"abc"', True),
        ('W/"abc"', True),  # weak comparison for If-None-Match
        ('"xyz", "abc"', True),
        ('"xyz",W/"abc"', True),
        ("*", True),
        ('"abcd"', False),
        ('"ab"', False),
        ("abc", False),  # unquoted: not an entity tag
        ('"x,abc"', False),
    ],
)
def test_if_none_match(header, matches):
    assert is_not_modified(header, '"abc"') is matches


def test_if_none_match_round_trip_with_real_etag(site):
    path = site / "css" / "app.css"
    etag = dict(static_response_headers(path, content_type(path)))["ETag"]
    assert is_not_modified(etag, etag)
    path.write_text("body{color:red}")
    assert not is_not_modified(etag, etag_for(path))
