"""What the project uses from a Python newer than the oldest it supports (3.10).

One place for each backport, so that dropping 3.10 later is deleting this file and
importing from the standard library again. ``tests/integration/test_pyversion.py`` checks that no
module uses syntax newer than 3.10 nor one of the 3.11-only APIs it lists.
"""

from __future__ import annotations

import enum

try:
    from enum import StrEnum
except ImportError:  # Python 3.10
    class StrEnum(str, enum.Enum):  # type: ignore[no-redef]
        """Members are strings that print, format and compare as their value (3.11's StrEnum)."""

        def __str__(self) -> str:
            return str.__str__(self)

        def __format__(self, spec: str) -> str:
            return str.__format__(str(self), spec)

        @staticmethod
        def _generate_next_value_(name: str, start: int, count: int, last_values: list[str]) -> str:
            return name.lower()


__all__ = ["StrEnum"]
