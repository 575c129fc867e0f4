"""The packages' layers, read from their imports: the server imports nothing of the
clients (a table or a function both use lives where both import it: shared/), and the wire
protocol nothing of either."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


# An import statement's absolute modules ("from . import x" is the package's own): read
# from the lines, not the AST (ast.parse in a long pytest run on 3.11 can fail on its own
# recursion count).
_IMPORT = re.compile(r"^\s*(?:from\s+(\w[\w.]*)\s+import\b|import\s+(\w[\w.]*(?:\s*,\s*\w[\w.]*)*))", re.M)


def imported(package: str) -> dict[str, set[str]]:
    """Each module of ``package`` (its path) -> the top-level packages it imports."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names = set()
        for source, listed in _IMPORT.findall(path.read_text(encoding="utf-8")):
            names.update(name.strip().partition(".")[0] for name in (source or listed).split(","))
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("package, below", [("server", {"client", "webclient"}),
                                            ("protocol", {"client", "webclient", "server"}),
                                            ("shared", {"client", "webclient", "server"})])
def test_a_layer_imports_nothing_from_the_layers_above_it(package: str, below: set[str]) -> None:
    wrong = {module: sorted(names & below) for module, names in imported(package).items() if names & below}
    assert not wrong, wrong
