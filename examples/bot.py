#!/usr/bin/env python3
"""A bot that answers ``!hora`` in a room with the time in São Paulo: the client library
(:class:`client.ChatClient`) from a script of your own, with no window and no terminal UI.

    python3 examples/bot.py                       # as hora_bot, in the broadcast room
    python3 examples/bot.py relogio --room '#redes' --port 5000

``ChatClient`` keeps every rule of a session (acks, resending with the same ids after a
reconnection, heartbeats): the bot only connects, reads ``client.events`` and sends.
Ctrl-C (or SIGTERM) leaves cleanly; the exit status is 0 then, 3 when the server is
unreachable or the session ends for good, 4 when the login is refused.
"""

from __future__ import annotations

import argparse
import queue
import signal
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project's folder: its modules

import const  # noqa: E402
import i18n  # noqa: E402
from client import ChatClient, ClientError, LoginRefused, RequestFailed  # noqa: E402
from client.auth import error_line, refusal_line  # noqa: E402
from client.display import explain_refusal  # noqa: E402
from client.exitcodes import ExitCode  # noqa: E402
from i18n import _  # noqa: E402
from protocol import ConnectionClosed, RoomMessage, RoomPost  # noqa: E402

try:
    from zoneinfo import ZoneInfo

    SAO_PAULO = ZoneInfo("America/Sao_Paulo")
except Exception:  # no time-zone database (Windows without the tzdata package)
    SAO_PAULO = timezone(timedelta(hours=-3))  # Brazil has kept UTC-3 all year since 2019


def answer(text: str) -> str | None:
    """What the bot says to a room message ``text``; None: nothing."""
    if text.strip().lower() != "!hora":
        return None
    return _("It is {time} in São Paulo").format(time=datetime.now(SAO_PAULO).strftime("%H:%M"))


def next_event(client: ChatClient) -> object:
    """The client's next event. Waited for a second at a time: on Windows, Ctrl-C does not
    interrupt a wait without a timeout, and the bot would leave only at the next event."""
    while True:
        try:
            return client.events.get(timeout=1)
        except queue.Empty:
            pass


def main() -> int:
    i18n.use(i18n.choose())
    parser = argparse.ArgumentParser(description=_("A bot that answers !hora with the time in São Paulo."))
    parser.add_argument("name", nargs="?", default="hora_bot")
    parser.add_argument("--room", help=_("a room to join, such as #redes (default: the broadcast room)"))
    parser.add_argument("--host", default=const.SERVER_HOST)
    parser.add_argument("--port", type=int, default=const.SERVER_PORT)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM leaves as Ctrl-C does
    client = ChatClient(args.name, args.host, args.port)  # no on_event: events go to client.events
    try:
        client.connect()
        if args.room:
            client.join(args.room)
        print(_("{name} is in {room}; Ctrl-C stops it").format(name=args.name, room=args.room or "#lobby"), flush=True)
        while not isinstance(event := next_event(client), ConnectionClosed):
            if isinstance(event, (RoomMessage, RoomPost)) and (reply := answer(event.text)) is not None:
                client.send_to_room(getattr(event, "room_name", "#lobby"), reply)
        print(_("the session ended: {why}").format(why=client.close_reason), file=sys.stderr)
        return ExitCode.NO_SERVER
    except LoginRefused as exc:  # in the terminal client's words (str(exc) is the server's English)
        print(refusal_line(exc, scripted=False, name=args.name), file=sys.stderr)
        return ExitCode.LOGIN_REFUSED
    except RequestFailed as exc:  # the room refused us
        print(error_line(explain_refusal(exc, args.room)), file=sys.stderr)
        return ExitCode.NO_SERVER
    except ClientError as exc:  # unreachable: its words are the user's already
        print(error_line(str(exc)), file=sys.stderr)
        return ExitCode.NO_SERVER
    except KeyboardInterrupt:
        return ExitCode.OK
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
