"""Stop at once, with one line, on a Python older than the project supports; and end
quietly on a Ctrl-C that comes before the program is ready.

The entry points (chatserver.py, chatclient.py) call :func:`require` before they import
anything else of the project: on an older Python those imports would fail with a
traceback that says nothing about the cause (a ``SyntaxError``, or an ``ImportError`` for
a module or name the standard library did not have yet). So this file uses only syntax and modules that any Python
can run (it parses even on Python 2.7), and the entry files only syntax Python 3.6 parses.
They call :func:`interrupt_quietly` first of all.
"""

import sys

# The oldest Python supported, also stated in README.md; protocol/compat.py holds what
# the code needs from newer ones.
MINIMUM = (3, 10)

# The one line said on an older Python.
TOO_OLD = "{program} needs Python {needed} or newer; this is Python {running} ({executable})"


def too_old(program, version_info=None, executable=None):
    """The line to print if ``version_info`` (default: this Python's) is older than
    :data:`MINIMUM`, else None. ``program`` names what the user ran."""
    if version_info is None:
        version_info = sys.version_info
    if tuple(version_info[:2]) >= MINIMUM:
        return None
    return TOO_OLD.format(program=program, needed=".".join(str(part) for part in MINIMUM),
                          running=".".join(str(part) for part in version_info[:3]),
                          executable=executable or sys.executable or "python")


def require(program):
    """Exit with status 2 (wrong usage), saying why in one line on stderr, if this Python
    is older than :data:`MINIMUM`; return quietly otherwise."""
    line = too_old(program)
    if line is not None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
        raise SystemExit(2)


def interrupt_quietly():
    """From now on a KeyboardInterrupt nobody caught ends the program without a traceback.

    Ctrl-C raises it wherever Python is: importing the program's modules (a second or more
    on a slow disk, or a first run compiling them all) or in ``main()`` before the program
    handles it itself (the server's stop signals, the client's goodbye). Any of those
    places printed a traceback of the import machinery at whoever pressed it. Python still
    ends the process by SIGINT, as the shell expects of an interrupted program (status
    130), and prints every other exception as before."""
    previous = sys.excepthook

    def hook(kind, value, traceback):
        if not issubclass(kind, KeyboardInterrupt):
            previous(kind, value, traceback)

    sys.excepthook = hook
