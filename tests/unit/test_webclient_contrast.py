"""The page's colours meet WCAG 2.1 AA, read from webclient/style.css's custom properties
in both themes: text 4.5:1 on the panels and the page background (1.4.3), the focus ring
3:1 against them (1.4.11, a non-text indicator)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

STYLE = Path(__file__).resolve().parents[2] / "webclient" / "style.css"
BACKGROUNDS = ("--bg", "--panel")
TEXTS = ("--text", "--muted", "--online", "--danger", "--accent")


def properties(block: str) -> dict[str, str]:
    return dict(re.findall(r"(--[\w-]+):\s*(#[0-9a-fA-F]{6})\s*;", block))


def themes() -> dict[str, dict[str, str]]:
    """{"light": {name: "#rrggbb"}, "dark": ...}: the dark theme is the light one overridden
    by the :root inside @media (prefers-color-scheme: dark)."""
    css = STYLE.read_text(encoding="utf-8")
    light = properties(re.search(r"^:root\s*\{(.*?)\}", css, re.S | re.M).group(1))
    dark_block = re.search(r"@media \(prefers-color-scheme: dark\)\s*\{\s*:root\s*\{(.*?)\}", css, re.S).group(1)
    return {"light": light, "dark": {**light, **properties(dark_block)}}


def luminance(colour: str) -> float:
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def ratio(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_ratio_is_the_wcag_one() -> None:
    assert ratio("#000000", "#ffffff") == pytest.approx(21)
    assert ratio("#1f9d55", "#ffffff") == pytest.approx(3.49, abs=0.01)  # the tester's figure


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("text", TEXTS)
def test_text_colours_meet_4_5_to_1(theme: str, text: str) -> None:
    colours = themes()[theme]
    for background in BACKGROUNDS:
        assert ratio(colours[text], colours[background]) >= 4.5, (theme, text, background)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_focus_ring_meets_3_to_1(theme: str) -> None:
    colours = themes()[theme]
    for background in BACKGROUNDS:
        assert ratio(colours["--focus"], colours[background]) >= 3, (theme, background)
