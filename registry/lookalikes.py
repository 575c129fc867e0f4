"""An index of names by look-alike key, for O(1) "does this look like someone?" checks."""

from __future__ import annotations

from collections.abc import Iterable

from .names import canonical, lookalike_key


class Lookalikes:
    """A set of names, one per user (comparison form), indexed by
    :func:`~registry.names.lookalike_key` of the spelling last added.

    :meth:`rivals` answers which names of the set look like a given name but are another
    user. Adding a user again under another spelling replaces the spelling (and the key:
    ``МИРА`` and ``мира`` are one user but look different).
    """

    __slots__ = ("_by_key", "_key_of", "_count")

    def __init__(self, names: Iterable[str] = ()) -> None:
        # look-alike key -> the name, alone in its group (nearly always), or
        # {comparison form: name} for two or more: a dict per name cost 180 bytes per user.
        self._by_key: dict[str, str | dict[str, str]] = {}
        # comparison form -> its look-alike key, only where that key is not the key of the
        # comparison form itself (the spelling added matters: "Мира", with a Cyrillic capital
        # М that looks like rn, is filed apart from "мира"). Most names need no entry: 40 bytes
        # per user saved.
        self._key_of: dict[str, str] = {}
        self._count = 0  # names in the set
        for name in names:
            self.add(name)

    def add(self, name: str) -> None:
        me, key = canonical(name), lookalike_key(name)
        own_key = lookalike_key(me)  # where discard looks for ``me`` filed under its own key
        if me in self._key_of or own_key in self._by_key:  # else discard would find nothing: no call
            self.discard(name)
        group = self._by_key.get(key)
        if group is None:
            self._by_key[key] = name
        elif type(group) is str:
            self._by_key[key] = {canonical(group): group, me: name}
        else:
            group[me] = name
        if key != own_key:
            self._key_of[me] = key
        self._count += 1

    def discard(self, name: str) -> None:
        """Forget the user called ``name`` (in any spelling); nothing if absent."""
        me = canonical(name)
        key = self._key_of.pop(me, None)
        if key is None:
            key = lookalike_key(me)  # filed under its comparison form's key, if at all
        group = self._by_key.get(key)
        if group is None:
            return
        if type(group) is str:
            if canonical(group) != me:
                return  # another user who looks alike; ``name`` is not in the set
            del self._by_key[key]
        else:
            if me not in group:
                return
            del group[me]
            if len(group) == 1:
                self._by_key[key] = next(iter(group.values()))
        self._count -= 1

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
        return self._count
