"""The order in which people and rooms are listed by name: the Python clients and the
server's console list them alike.

One rule, :func:`name_order`: the order a Portuguese (or any Latin-script) reader expects
of a list of names. Letters compare without their accents and case first, so "Álvaro"
sits beside "Alice", "Érica" among the E's and "Conceição" after "Carlos"; names equal
that way are told apart by accents and case, then by the exact text, so the order is
total and the same every time (a row never swaps with its neighbour between redraws).

Not ``locale.strxfrm``: it depends on the locales installed and on the process's
LC_COLLATE (often "C", which puts "Álvaro" after "Zé"), and the window must order alike
wherever it runs. The page does the same with ``Intl.Collator`` (webclient/app.js,
``compareNames``).
"""

from __future__ import annotations

import unicodedata


def name_order(name: str) -> tuple[str, str, str]:
    """The sort key of ``name``: (its letters without accents, case-folded; the same
    with accents; ``name`` itself). Pure; any string (an empty one sorts first)."""
    folded = unicodedata.normalize("NFKD", name.casefold())
    bare = "".join(c for c in folded if not unicodedata.combining(c))
    return bare, folded, name
