#!/usr/bin/env python3
"""Mutation testing, small and standard-library only (development only).

A test that cannot fail is a defect; this finds behaviour no test states. It makes one
small change at a time to a module (a comparison turned: ``<`` to ``<=``, ``==`` to ``!=``,
``is`` to ``is not``, ``in`` to ``not in``; ``and`` to ``or``; a ``not`` dropped; ``True``
to ``False``; ``+`` to ``-``), runs the tests, and lists each change ("mutant") they all
passed with. Some survivors change nothing a caller can see (``x > y`` to ``x >= y``
before ``x = max(x, y)``, ``slots=True`` to ``False``): read each one, and write the test
the others call for.

Usage, from the repository's root (the module is rewritten in place while it runs and
put back at the end, also after Ctrl-C or a ``kill`` (SIGTERM): run it in a clone of
your own, not in the tree you are editing)::

    python3 tools/mutants.py server/guests.py tests/unit
    python3 tools/mutants.py client/terminal_catchup.py tests/unit/test_terminal_catchup.py
    python3 tools/mutants.py server/blockdesk.py --lines=67,119 tests/integration

Every argument after the module goes to pytest, but ``--lines=`` right after it: only
the changes on those lines are tried (a run's survivors, against more tests). Each
mutant is one pytest run (stopping at the first failure), so give it the tests that
matter for the module when the whole set is slow.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import signal
import subprocess
import sys
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

_TURNED: dict[type, type] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In,
}
_ARITHMETIC: dict[type, type] = {ast.Add: ast.Sub, ast.Sub: ast.Add}


@dataclass(frozen=True)
class Site:
    """One place to change: the node at ``line``:``column`` (``operand``: which of a
    chained comparison's operators), and what the change is (``kind``)."""

    kind: str
    line: int
    column: int
    operand: int = 0


def sites(tree: ast.AST) -> Iterator[Site]:
    """Every change this tool makes to ``tree``, in the order ast.walk finds them."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in _TURNED:
                    yield Site("comparison", node.lineno, node.col_offset, i)
        elif isinstance(node, ast.BoolOp):
            yield Site("and/or", node.lineno, node.col_offset)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield Site("not", node.lineno, node.col_offset)
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            yield Site("boolean", node.lineno, node.col_offset)
        elif isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            yield Site("arithmetic", node.lineno, node.col_offset)


class _Change(ast.NodeTransformer):
    def __init__(self, site: Site) -> None:
        self.site = site

    def visit(self, node: ast.AST) -> ast.AST:
        node = self.generic_visit(node)
        site = self.site
        if getattr(node, "lineno", None) != site.line or getattr(node, "col_offset", None) != site.column:
            return node
        if site.kind == "comparison" and isinstance(node, ast.Compare):
            node.ops[site.operand] = _TURNED[type(node.ops[site.operand])]()
        elif site.kind == "and/or" and isinstance(node, ast.BoolOp):
            node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        elif site.kind == "not" and isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return node.operand
        elif site.kind == "boolean" and isinstance(node, ast.Constant) and isinstance(node.value, bool):
            node.value = not node.value
        elif site.kind == "arithmetic" and isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            node.op = _ARITHMETIC[type(node.op)]()
        return node


def mutant(tree: ast.AST, site: Site) -> str:
    """The source of ``tree`` with the change at ``site`` (``tree`` itself is untouched).
    Comments and layout are lost: the tests run the code, not its text."""
    changed = _Change(site).visit(copy.deepcopy(tree))
    return ast.unparse(ast.fix_missing_locations(changed))


def survivors(path: Path, passes: Callable[[], bool], say: Callable[[str], None] = print,
              only: Collection[int] = ()) -> list[Site]:
    """The changes to the module at ``path`` (on the lines ``only``, if given) with which
    ``passes()`` (the tests) still holds, each said as it is found. The file is put back
    as it was, whatever happens."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    lines = source.splitlines()
    found = [site for site in sites(tree) if not only or site.line in only]
    say(f"{len(found)} mutants of {path}")
    alive = []
    try:
        for site in found:
            path.write_text(mutant(tree, site), encoding="utf-8")
            if passes():
                alive.append(site)
                say(f"survived, {site.kind} at line {site.line}: {lines[site.line - 1].strip()}")
    finally:
        path.write_text(source, encoding="utf-8")
    say(f"{len(alive)} of {len(found)} survived")
    return alive


@contextlib.contextmanager
def terminate_interrupts() -> Iterator[None]:
    """While inside, SIGTERM interrupts like Ctrl-C, so that ``survivors`` puts the module
    back when the run is stopped with ``kill`` too (Python's default for SIGTERM is to die
    on the spot, running no ``finally``). The earlier handler is back on leaving."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    earlier = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, earlier)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    module, pytest_args = Path(argv[0]), argv[1:]
    only: set[int] = set()
    if pytest_args and pytest_args[0].startswith("--lines="):
        only = {int(line) for line in pytest_args.pop(0).removeprefix("--lines=").split(",")}

    def passes() -> bool:
        run = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *pytest_args],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return run.returncode == 0

    if not passes():
        print("the tests fail without any change: fix them first")
        return 1
    try:
        with terminate_interrupts():
            return 1 if survivors(module, passes, only=only) else 0
    except KeyboardInterrupt:
        print(f"stopped; {module} is as it was")
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
