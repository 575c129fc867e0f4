"""The operator's settings file (overrides.py) against mangled bytes: a seeded fuzzer.

Whatever the file holds, :func:`overrides.read` returns the settings it sets or raises
:class:`overrides.LocalSettingsError`, whose one line names the file: never another
exception, which would end the server with a traceback instead of that line. A failure
names its seed.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import const
import overrides
from mutations import mutate_bytes

SEEDS = range(3)
VALID = ('ADMINS = ("João", "Conceição")\nREQUIRE_ACCOUNTS = True\nSERVER_PORT = 5000\n'
         'RESERVED_NAMES = RESERVED_NAMES | {"prof"}\n_mine = [1, 2.5, None]\n').encode()


def _read(path: Path, data: bytes, seed: int) -> None:
    path.write_bytes(data)
    try:
        overrides.read(path, overrides.settings_of(vars(const)))
    except overrides.LocalSettingsError as error:
        line = str(error)
        assert str(path) in line and "\n" not in line.strip(), (seed, line)
    except Exception as exc:
        raise AssertionError(f"seed {seed}: read raised {exc!r} for {data[:300]!r}") from exc


@pytest.mark.filterwarnings("ignore::SyntaxWarning")  # ("invalid decimal literal": mangled code)
@pytest.mark.parametrize("seed", SEEDS)
def test_a_mangled_settings_file_gives_its_settings_or_one_line_naming_the_file(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    path = tmp_path / "const_local.py"
    for _ in range(150):
        _read(path, mutate_bytes(VALID, rng, rng.randint(1, 6)), seed)


# --- Findings, each seen failing before its fix ---------------------------------------------


@pytest.mark.parametrize("source", [b"SERVER\xafPORT = 5000\n", b"X = " + b"-" * 200000 + b"1\n",
                                    b"X = " + b"1+" * 100000 + b"1\n"],
                         ids=["a name that is not UTF-8", "200,000 signs", "100,000 additions"])
def test_a_file_python_cannot_parse_is_one_line_naming_the_file(source: bytes, tmp_path: Path) -> None:
    # Found by the fuzzer: CPython's parser raises UnicodeDecodeError for a name that is
    # not UTF-8, and MemoryError or RecursionError for an expression nested too deep, not
    # SyntaxError; read() let them out, and the program ended with a traceback.
    path = tmp_path / "const_local.py"
    path.write_bytes(source)
    with pytest.raises(overrides.LocalSettingsError) as caught:
        overrides.read(path, overrides.settings_of(vars(const)))
    assert str(path) in str(caught.value) and "line 1" in str(caught.value)
