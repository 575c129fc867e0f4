"""The naming rules (registry/names.py) against hostile names: a seeded fuzzer.

Every name a hello brings goes through ``validate_name``: it returns the name or raises
``InvalidName`` whose words ``explain`` can say, never anything else; a name it accepts
has a canonical form, a lookalike key and a place in the order of names. A failure names
its seed.
"""

from __future__ import annotations

import random

import pytest

from registry.collation import name_order
from registry.names import InvalidName, canonical, display_form, explain, lookalike_key, validate_name

SEEDS = range(3)
# Characters from every corner the rules look at: Latin with accents (composed and not),
# Greek, Cyrillic, Arabic and Hebrew (bidi), CJK, fullwidth forms, digits of other scripts,
# joiners, combining marks, spaces of every kind, controls, format characters, emoji,
# unassigned and private-use code points, and characters that look like others.
PIECES = ("João", "Conceição", "Conceic\u0327a\u0303o", "a", "Z", "_", "-", ".", "0", "٣", "Ω", "аdmin", "ß", "ẞ",
          "İ", "ı", "ﬁ", "Ａ", "ｱ", "中文", "ع", "ש", "\u200d", "\u200c", "\u0301", "\u20dd", " ", "\u00a0", "\u3000",
          "\t", "\x00", "\x1b", "\u202e", "\u2066", "\ufeff", "👩‍💻", "🏴\U000e0067\U000e0062\U000e007f", "\U0010ffff",
          "\ue000", "\u0378", "ǅ", "Ⅻ", "℃", "x" * 40, "ǆ" * 30)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_hostile_name_is_taken_or_refused_with_words_that_say_why(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(2500):
        name = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 5)))
        try:
            assert validate_name(name) == name
        except InvalidName as refusal:
            words = explain(refusal, lambda text: text)
            assert isinstance(words, str) and words, (seed, name)
            continue
        except Exception as exc:
            raise AssertionError(f"seed {seed}: validate_name raised {exc!r} for {name!r}") from exc
        try:
            canonical(name), lookalike_key(name), name_order(name), display_form(name)
        except Exception as exc:
            raise AssertionError(f"seed {seed}: the name {name!r}, taken, breaks {exc!r}") from exc
