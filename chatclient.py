#!/usr/bin/env python3
"""Chat client entry point: ``python chatclient.py NAME [--host H] [--port P] [--send TO TEXT]``.

Without ``--send`` it runs the terminal client (:mod:`client.terminal`); with it, it
sends one direct message and waits for its delivery (:mod:`client.oneshot`). Defaults
come from ``const.py``. Exit statuses: :class:`client.exitcodes.ExitCode` (also listed by
``--help``).
"""

from __future__ import annotations

import argparse
import sys

import const
from client.exitcodes import ExitCode


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 1 and 65535, not {port}")
    return port


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < seconds < 86400:
        raise argparse.ArgumentTypeError(f"the timeout must be more than 0 and less than a day, not {text}")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatclient.py",
        description="Chat as NAME in the terminal, or send one direct message with --send.",
        epilog="exit status:\n" + ExitCode.describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", metavar="NAME", help="your user name (letters, digits, _ - .)")
    parser.add_argument("--host", default=const.SERVER_HOST,
                        help=f"server address (default {const.SERVER_HOST})")
    parser.add_argument("--port", type=_port, default=const.SERVER_PORT,
                        help=f"server port (default {const.SERVER_PORT})")
    parser.add_argument("--send", nargs=2, metavar=("TO", "TEXT"),
                        help="send TEXT to user TO, wait for the delivery acknowledgement, and exit")
    parser.add_argument("--timeout", type=_seconds, default=const.SEND_TIMEOUT,
                        help="seconds to wait for the acknowledgement with --send, for answers to "
                             "/who and /whois, and for pending messages when a piped input ends "
                             f"(default {const.SEND_TIMEOUT:g})")
    # Front ends are exclusive modes; a future --gui (tkinter) joins --send here:
    #     mode = parser.add_mutually_exclusive_group(); mode.add_argument("--gui", ...)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Never die on output the console cannot encode, nor on undecodable input bytes.
    for stream, errors in ((sys.stdout, "backslashreplace"), (sys.stderr, "backslashreplace"),
                           (sys.stdin, "replace")):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors=errors)
    try:
        if args.send is not None:
            from client.oneshot import send_once

            to, text = args.send
            return send_once(args.name, to, text, host=args.host, port=args.port, timeout=args.timeout)
        # if args.gui: from client.gui import run as run_gui; return run_gui(...)
        from client.terminal import run

        return run(args.name, args.host, args.port, timeout=args.timeout)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED if args.send is not None else ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
