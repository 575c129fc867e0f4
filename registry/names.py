"""What a valid username is.

Names are ASCII letters, digits, ``_``, ``-`` and ``.``, starting with a letter or digit.
ASCII only on purpose: with the whole of Unicode, "Alice" in Latin letters and "Аlice"
with a Cyrillic A look the same on screen, and one user could pass for another. Names are
unique case-insensitively (``canonical``), and the names in ``const.RESERVED_NAMES``, the
server's own among them, belong to nobody.
"""

from __future__ import annotations

import functools
import re

import const

# Distinct names whose canonical form is remembered. The server computes each name's form
# once per request and passes the key on; the cache spares even that for the names a
# server sees over and over (its users), and stays bounded against clients that send
# endless new ones. Rules that cost more than ASCII folding will make it matter more.
CANONICAL_CACHE_SIZE = 1024

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class InvalidName(ValueError):
    """The name cannot be used; ``str(exc)`` says why, in words for the user."""


@functools.lru_cache(maxsize=CANONICAL_CACHE_SIZE)
def canonical(name: str) -> str:
    """The form under which names are compared: "ALICE" and "alice" are one user.

    Only ASCII is folded: ``str.lower`` would turn the Kelvin sign into "k" and let a
    name that can never be registered match one that was.
    """
    return name.lower() if name.isascii() else name


def validate_name(name: str) -> str:
    """Return ``name`` if it may be used as a username, else raise :class:`InvalidName`."""
    if not name:
        raise InvalidName("the name is empty")
    if len(name) > const.MAX_NAME_LENGTH:
        raise InvalidName(f"the name is longer than {const.MAX_NAME_LENGTH} characters")
    if not _NAME.fullmatch(name):
        raise InvalidName(
            "a name may contain only ASCII letters, digits, '_', '-' and '.', "
            "and must start with a letter or a digit")
    if canonical(name) in const.RESERVED_NAMES:
        raise InvalidName(f"the name {name!r} is reserved")
    return name
