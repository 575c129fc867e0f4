"""The unit tests make a DeprecationWarning an error (tests/unit/conftest.py): how the
project learns what Python 3.12 and 3.13 deprecate before the next Python removes it."""

from __future__ import annotations

import sqlite3
import warnings

import pytest


def test_a_deprecation_fails_the_test() -> None:
    with pytest.raises(DeprecationWarning):
        warnings.warn("going away", DeprecationWarning)


def test_sqlite_numbered_placeholders_take_a_sequence_on_every_python() -> None:
    # server/mailbox.py's queries repeat a value with ?1; CPython 3.12.0-3.12.3 warned of
    # them as if they were named placeholders (python/cpython#117995): not an error.
    with sqlite3.connect(":memory:") as db:
        assert db.execute("SELECT ?1, ?2, ?1", ("a", "b")).fetchone() == ("a", "b", "a")
    db.close()
