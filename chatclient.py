#!/usr/bin/env python3
"""Chat client entry point: ``python3 chatclient.py NAME [HOST:PORT ...] [--host H] [--port P] [--send TO TEXT]``
``[--register] [--password-file FILE] [--tls] [--cafile FILE] [--no-reconnect] [--gui]``.

NAME may be left out with ``--gui``: the window then opens its login form empty; in a
terminal, the terminal client asks for it. A server may also be given as two words, ``NAME
HOST PORT`` or ``HOST PORT NAME`` (:func:`client.servers.positionals`).

Several servers (``HOST:PORT`` arguments, or repeated ``--host``/``--port``) make the client
fail over: it logs in to the first that answers and goes round the list when a connection is
lost. Without ``--send`` it runs the terminal client (:mod:`client.terminal`); with it, it
sends one direct message and waits for its delivery (:mod:`client.oneshot`). Defaults
come from ``const.py``. Exit statuses: :class:`client.exitcodes.ExitCode` (also listed by
``--help``).
"""

# Before anything an old Python cannot import; hence no `from __future__ import annotations`
# (a SyntaxError on 3.6), and only syntax 3.6 parses in this file (pythoncheck.py says why).
import sys

import pythoncheck

pythoncheck.interrupt_quietly()  # before anything slow: a Ctrl-C now shows no traceback
pythoncheck.require("chatclient.py")

import argparse  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402

import overrides


def _show_settings_error(line):
    """Show the settings error ``line`` in a dialog (the window's user, started from a
    desktop launcher, has no terminal to read stderr on); nothing if no window can open."""
    try:
        import tkinter
        from tkinter import messagebox
    except ImportError:
        return
    # const's import failed, so nothing that imports it may be imported now; i18n was,
    # by overrides.apply, to say the line.
    from i18n import _
    try:
        root = tkinter.Tk()
    except tkinter.TclError:  # no display
        return
    root.withdraw()
    messagebox.showerror(_("Chat: the window cannot open"), line, parent=root)
    root.destroy()


try:
    import const
except overrides.SettingsExit as stopped:
    if "--gui" in sys.argv[1:]:
        _show_settings_error(stopped.line)
    raise
import i18n  # noqa: E402
from client.auth import PASSWORD_ENV, PasswordError, error_line, script_password
from client.exitcodes import ExitCode, Terminated, on_sigterm
from client.servers import positionals, server_list


def _port(text: str) -> int:
    _ = i18n._
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("not a port number: {text!r}").format(text=text)) from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(_("a port is between 1 and 65535, not {port}").format(port=port))
    return port


def _seconds(text: str) -> float:
    _ = i18n._
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("not a number of seconds: {text!r}").format(text=text)) from None
    if not 0 < seconds < 86400:
        raise argparse.ArgumentTypeError(
            _("the timeout must be more than 0 and less than a day, not {text}").format(text=text))
    return seconds


# The placeholders of --help (argparse's metavars), each word once: the sentences that
# mention one take it as a field, so the two never differ in any language.
METAVARS = {"name": i18n.N_("NAME"), "servers": i18n.N_("HOST:PORT"), "host": i18n.N_("HOST"),
            "port": i18n.N_("PORT"), "to": i18n.N_("TO"), "text": i18n.N_("TEXT"), "seconds": i18n.N_("SECONDS"),
            "lang": i18n.N_("LANG"), "file": i18n.N_("FILE")}


def metavars() -> dict:
    """:data:`METAVARS` in the language in use."""
    return {key: i18n._(word) for key, word in METAVARS.items()}


def build_parser() -> argparse.ArgumentParser:
    """The command line, its help in the language in use (:func:`i18n.use` first)."""
    _ = i18n._
    shown = metavars()
    parser = argparse.ArgumentParser(
        prog="chatclient.py",
        description=_("Chat as {name} in the terminal, or send one direct message with --send.").format(**shown),
        epilog=_("exit status:") + "\n" + ExitCode.describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Optional: the window's login form asks for it, and so does the terminal (main()).
    parser.add_argument("name", metavar=shown["name"], nargs="?", default="",
                        help=_("your user name (letters, digits, _ - .); left out, the terminal asks for it "
                               "(and the --gui window's form)"))
    parser.add_argument("servers", metavar=shown["servers"], nargs="*",
                        help=_("the servers to use, in order ({host} {port}, two words, works too): the client logs "
                               "in to the first that answers and goes round the list when a connection is lost "
                               "(default: SERVERS in const.py, {servers})").format(
                            servers=" ".join(f"{h}:{p}" for h, p in const.SERVERS), host=shown["host"],
                            port=shown["port"]))
    parser.add_argument("--host", metavar=shown["host"], action="append", default=[],
                        help=_("server address (default {host}; repeat it for several servers)").format(
                            host=const.SERVER_HOST))
    parser.add_argument("--port", metavar=shown["port"], type=_port, action="append", default=[],
                        help=_("server port (default {port}; repeat it for several servers)").format(
                            port=const.SERVER_PORT))
    parser.add_argument("--send", nargs=2, metavar=(shown["to"], shown["text"]),
                        help=_("send {text} to user {to}, wait for the delivery acknowledgement, and exit").format(
                            **shown))
    parser.add_argument("--timeout", metavar=shown["seconds"], type=_seconds, default=const.SEND_TIMEOUT,
                        help=_("seconds to wait for the acknowledgement with --send, for answers to "
                               "/who, /whois and /to, and, with a piped input, for the first answers to the "
                               "messages before a line and for pending messages when it ends "
                               "(default {seconds})").format(seconds=f"{const.SEND_TIMEOUT:g}"))
    parser.add_argument("--lang", metavar=shown["lang"],
                        help=_("language of the interface: {languages} (default: from LANGUAGE, "
                               "LC_ALL, LC_MESSAGES or LANG, else {default})").format(
                            languages=", ".join(i18n.available()), default=const.LANGUAGE_DEFAULT))
    parser.add_argument("--gui", action="store_true",
                        help=_("open the chat window (tkinter) instead of the terminal client"))
    account = parser.add_argument_group(
        _("accounts"), _("  A registered name needs its password. In a terminal it is asked without echo when\n"
                         "  the server wants it; scripts set the environment variable {variable} or use\n"
                         "  --password-file. It is never taken from the command line, where others could see "
                         "it.").format(variable=PASSWORD_ENV))
    account.add_argument("--register", action="store_true",
                         help=_("claim {name} with a password at login (asked twice without echo)").format(**shown))
    account.add_argument("--password-file", metavar=shown["file"],
                         help=_("read the password from the first line of {file}").format(**shown))
    # Refused on purpose, with the reason; without it argparse would take "--password" as
    # an abbreviation of --password-file and the password as a file name.
    account.add_argument("--password", nargs="?", const="", default=None, help=argparse.SUPPRESS)
    transport = parser.add_argument_group(_("connection"))
    transport.add_argument("--tls", action="store_true",
                           help=_("connect with TLS, verifying the server's certificate and host name"))
    transport.add_argument("--cafile", metavar=shown["file"],
                           help=_("trust the CA (or self-signed) certificate(s) in this PEM file instead of the "
                                  "system's store (implies --tls)"))
    transport.add_argument("--no-reconnect", dest="reconnect", action="store_false",
                           help=_("end (exit status 3) when the connection is lost, instead of reconnecting"))
    return parser


def _open_missing_streams() -> None:
    """A standard stream the process was started without (its descriptor closed, as by
    ``0<&-`` or some cron daemons) is None in Python: make it the null device, so that the
    input is empty and what is written goes nowhere, instead of an AttributeError."""
    for name, mode in (("stdin", "r"), ("stdout", "w"), ("stderr", "w")):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, mode, encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    _open_missing_streams()
    i18n.use(i18n.early_choice(argv))
    i18n.speak_argparse()
    parser = build_parser()
    # Intermixed: "NAME --gui HOST:PORT HOST:PORT" too (parse_args took the name alone and refused
    # the servers after the option as unrecognised). It keeps the usage for its errors by cutting
    # len("usage: ") off it, which took "ch" of the program's name after Portuguese's "uso: ":
    # the usage is set first, without its prefix in whatever language.
    parser.usage = parser.format_usage().split(": ", 1)[1].rstrip("\n")
    args = parser.parse_intermixed_args(argv)
    try:
        i18n.use(i18n.choose(args.lang))
    except ValueError as exc:
        parser.error(str(exc))
    args.name, args.servers = positionals(args.name, args.servers)
    # Asked in a terminal, as the original assignments' clients did (after every usage
    # mistake below: nobody types a name to be told of one then).
    ask_name = not args.name and not args.gui and args.send is None and sys.stdin.isatty() and sys.stdout.isatty()
    if not args.name and not args.gui and not ask_name:
        parser.error(i18n._("the following arguments are required: {name} (only --gui may leave it out)").format(
            name=metavars()["name"]))
    if args.send is not None and not args.send[1].strip():
        # The terminal sends no blank line either; an empty TEXT is a script's mistake.
        parser.error(i18n._("--send: the message is empty"))
    if args.send is not None and args.send[0].startswith("#"):
        # It said "nobody called #redes has ever logged in here".
        parser.error(i18n._("--send: {room} is a room; --send sends a direct message to a user").format(
            room=args.send[0]))
    if args.password is not None:
        parser.error(i18n._("passwords are not accepted on the command line (other users can see it): "
                            "set {variable} or use --password-file FILE").format(variable=PASSWORD_ENV))
    # Never die on output the console cannot encode, nor on undecodable input bytes: those
    # become lone surrogates, which the terminal client refuses to send (never garbled).
    for stream, errors in ((sys.stdout, "backslashreplace"), (sys.stderr, "backslashreplace"),
                           (sys.stdin, "surrogateescape")):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors=errors)
    try:
        if ask_name:
            from client.terminal import ask_name as ask

            args.name = ask()
            if not args.name:  # Ctrl-D or Ctrl-C instead of a name
                return ExitCode.OK
        try:
            password = script_password(args.password_file)
        except PasswordError as exc:
            print(error_line(str(exc)), file=sys.stderr)
            return ExitCode.USAGE
        options = {"password": password, "register": args.register, "tls": args.tls or args.cafile is not None,
                   "cafile": args.cafile, "reconnect": args.reconnect}
        try:
            servers = server_list(args.host, args.port, args.servers)
        except ValueError as exc:
            parser.error(str(exc))
        host, port = servers[0]
        if len(servers) > 1:
            options["servers"] = servers
        if args.gui:  # the chat window (tkinter); exclusive with --send
            if args.send is not None:
                parser.error(i18n._("--gui and --send cannot be used together"))
            from client.gui import run as run_gui

            return run_gui(args.name, host, port, **options)
        if args.send is not None:
            from client.oneshot import send_once

            # SIGTERM (timeout(1), a cancelled job) leaves as Ctrl-C does: with the goodbye.
            signal.signal(signal.SIGTERM, on_sigterm)
            to, text = args.send
            return send_once(args.name, to, text, host=host, port=port, timeout=args.timeout,
                             prompt_passwords=sys.stdin.isatty(), **options)
        from client.terminal import run

        return run(args.name, host, port, timeout=args.timeout, asked=ask_name, **options)
    except Terminated:
        return ExitCode.TERMINATED
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED if args.send is not None else ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
