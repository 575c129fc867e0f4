"""Counts in the English of the logs, the plural right: "1 message", "2 messages".

A phrase marks what changes with the count in braces: ``{s}`` is nothing for one and
``s`` for any other count, ``{one|other}`` either form in full, so that a verb or a
possessive agrees too::

    counted(1, "message{s}")                              "1 message"
    counted(3, "entr{y|ies} could not be applied")        "3 entries could not be applied"
    counted(1, "{room's|rooms'} messages")                "1 room's messages"

What users read goes through gettext's ngettext instead (i18n), whose catalogues know each
language's rules; the log stays English (README.md, "Languages"), and this is its one rule.
"""

from __future__ import annotations

import re

_CHOICE = re.compile(r"\{([^{}|]*)(?:\|([^{}]*))?\}")


def plural(count: int, phrase: str) -> str:
    """``phrase`` (see the module's docstring) as it reads after the number ``count``."""
    def choose(match: re.Match) -> str:
        one, other = match.group(1, 2)
        if other is None:  # {s}: nothing for one
            one, other = "", one
        return one if count == 1 else other
    return _CHOICE.sub(choose, phrase)


def counted(count: int, phrase: str) -> str:
    """``count`` and ``phrase`` after it, agreeing: ``counted(2, "message{s}")`` is "2 messages"."""
    return f"{count} {plural(count, phrase)}"
