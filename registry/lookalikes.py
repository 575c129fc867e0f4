"""An index of names by look-alike key, for O(1) "does this look like someone?" checks."""

from __future__ import annotations

from collections.abc import Iterable

from .names import canonical, lookalike_key


class Lookalikes:
    """A set of names, one per user (comparison form), indexed by
    :func:`~registry.names.lookalike_key` of the spelling last added.

    :meth:`rivals` answers which names of the set look like a given name but are another
    user. Adding a user again under another spelling replaces the spelling (and the key:
    ``ALICE`` and ``Alice`` are one user but look different).
    """

    __slots__ = ("_by_key", "_key_of")

    def __init__(self, names: Iterable[str] = ()) -> None:
        # look-alike key -> the name, alone in its group (nearly always), or
        # {comparison form: name} for two or more: a dict per name cost 180 bytes per user.
        self._by_key: dict[str, str | dict[str, str]] = {}
        self._key_of: dict[str, str] = {}  # comparison form -> its look-alike key
        for name in names:
            self.add(name)

    def add(self, name: str) -> None:
        self.discard(name)
        me, key = canonical(name), lookalike_key(name)
        group = self._by_key.get(key)
        if group is None:
            self._by_key[key] = name
        elif type(group) is str:
            self._by_key[key] = {canonical(group): group, me: name}
        else:
            group[me] = name
        self._key_of[me] = key

    def discard(self, name: str) -> None:
        """Forget the user called ``name`` (in any spelling); nothing if absent."""
        me = canonical(name)
        key = self._key_of.pop(me, None)
        if key is None:
            return
        group = self._by_key[key]
        if type(group) is str:
            del self._by_key[key]
            return
        del group[me]
        if len(group) == 1:
            self._by_key[key] = next(iter(group.values()))

    def rivals(self, name: str) -> list[str]:
        """The names in the set that look like ``name`` and are other users, sorted."""
        group = self._by_key.get(lookalike_key(name))
        if not group:
            return []
        me = canonical(name)
        if type(group) is str:
            return [] if canonical(group) == me else [group]
        return sorted(n for k, n in group.items() if k != me)

    def __len__(self) -> int:
        return len(self._key_of)
