"""The window's colours hold WCAG AA: every text colour of client/gui's table at least
4.5:1 against every background it is drawn on (the hint and sub-labels are small text)."""

from __future__ import annotations

import pytest

from client.gui.colors import BACKGROUNDS, COLORS, SIDE, SIDE_TEXT

AA = 4.5


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance of ``#rrggbb``."""
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_contrast_formula() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#6b7280", "#f3f4f6") == pytest.approx(4.39, abs=0.01)  # the tester's figure


@pytest.mark.parametrize("background", sorted(BACKGROUNDS))
@pytest.mark.parametrize("colour", sorted(COLORS))
def test_every_text_colour_reads_on_every_background(colour: str, background: str) -> None:
    ratio = contrast(COLORS[colour], BACKGROUNDS[background])
    assert ratio >= AA, f"{colour} {COLORS[colour]} on {background} {BACKGROUNDS[background]}: {ratio:.2f}:1"


def test_the_sidebars_text_reads() -> None:
    assert contrast(SIDE_TEXT, SIDE) >= AA
