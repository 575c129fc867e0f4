"""Run the chat server: ``python chatserver.py [--host H] [--port P] [--verbose]``.

Defaults come from const.py. Stop it with Ctrl-C, SIGTERM, or by typing /quit (or /sair)
at its terminal; connected clients are told the server is shutting down.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

import const
from server import ChatServer, ServerConfig
from server.console import watch_console

log = logging.getLogger("chat.server")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Chat server: user registry and message relay.")
    parser.add_argument("--host", default=const.SERVER_HOST,
                        help=f"address to listen on (default {const.SERVER_HOST}; 0.0.0.0 for the LAN)")
    parser.add_argument("--port", type=int, default=const.SERVER_PORT,
                        help=f"TCP port (default {const.SERVER_PORT}; 0 picks a free one)")
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("--verbose", "-v", action="store_true", help="log every frame-level detail")
    noise.add_argument("--quiet", "-q", action="store_true", help="log only warnings and errors")
    return parser.parse_args(argv)


async def serve(config: ServerConfig) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    server = ChatServer(config)
    await server.start()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows: Ctrl-C still raises KeyboardInterrupt
            pass

    def who() -> None:
        users = ", ".join(r.name for r in server.relay.registry.online()) or "nobody"
        print(f"online: {users}", file=sys.stderr, flush=True)

    watch_console(loop, stop.set, who)
    await stop.wait()
    log.info("shutting down")
    await server.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        asyncio.run(serve(ServerConfig(host=args.host, port=args.port, tame_gc=True)))
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", args.host, args.port, exc.strerror or exc)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
