"""The server console's commands: what it takes is what its /help and the READMEs say."""

from __future__ import annotations

import re
from pathlib import Path

from server.console import (ADMIN_COMMAND, BACKUP_COMMANDS, HELP_COMMANDS, PASSWORD_COMMANDS, QUIT_COMMANDS,
                            WHO_COMMANDS, help_lines)

ROOT = Path(__file__).resolve().parents[2]


def console_table(readme: str, start: str) -> str:
    """The table of what one types at the server's terminal (the first after ``start``)."""
    text = (ROOT / readme).read_text(encoding="utf-8")
    after = text[text.index(start):]
    return re.search(r"(?:^\|.*\|$\n?)+", after, re.MULTILINE).group(0)


def test_the_console_takes_what_its_help_and_the_readmes_name_and_nothing_else() -> None:
    """It took an /exit that neither /help nor README.md mentioned, and README.md's table
    left out /quem and /ajuda."""
    commands = QUIT_COMMANDS | WHO_COMMANDS | HELP_COMMANDS | PASSWORD_COMMANDS | BACKUP_COMMANDS | {ADMIN_COMMAND}
    assert set(re.findall(r"/[a-z]+", "\n".join(help_lines()))) == commands
    for readme, start in (("README.md", "What you type at the\nserver's terminal:"),
                          ("LEIAME.md", "O que se digita no terminal\ndo servidor:")):
        assert set(re.findall(r"`(/[a-z]+)", console_table(readme, start))) == commands, readme
