"""The order in which people and rooms are listed by name: the Python clients and the
server's console list them alike.

One rule, :func:`name_order`: the order a Portuguese (or any Latin-script) reader expects
of a list of names. Letters compare without their accents and case first, so "Álvaro"
sits beside "Alice", "Érica" among the E's and "Conceição" after "Carlos"; names equal
that way are told apart by accents and case, then by the exact text, so the order is
total and the same every time (a row never swaps with its neighbour between redraws).
Numbers in names compare by their value ("natural" order): a class of "Aluno1" to
"Aluno30" is listed 1, 2, 3... 10, not 1, 10, 11... 2; equal values by their digits
("Aluno02" before "Aluno2").

Not ``locale.strxfrm``: it depends on the locales installed and on the process's
LC_COLLATE (often "C", which puts "Álvaro" after "Zé"), and the window must order alike
wherever it runs. The page does the same with ``Intl.Collator`` (webclient/protocol.js,
``compareNames``, with ``numeric``).
"""

from __future__ import annotations

import re
import unicodedata

_DIGITS = re.compile(r"(\d+)")

# A name's text in runs: letters, a number, letters, a number... (always letters at the
# even places, so two keys compare place by place without mixing types).
Runs = tuple[str | tuple[int, str], ...]


def _runs(text: str) -> Runs:
    parts = _DIGITS.split(text)
    return tuple(part if i % 2 == 0 else (int(part), part) for i, part in enumerate(parts))


def name_order(name: str) -> tuple[Runs, Runs, str]:
    """The sort key of ``name``: (its letters without accents, case-folded; the same
    with accents; ``name`` itself), the first two with their numbers by value. Pure; any
    string (an empty one sorts first)."""
    folded = unicodedata.normalize("NFKD", name.casefold())
    bare = "".join(c for c in folded if not unicodedata.combining(c))
    return _runs(bare), _runs(folded), name
