"""What the server says it listens on takes connections when it says so: the log line
"listening on" is what operators, supervisors and tests wait for before they connect, to
the chat port and to the web port alike. Checked at the very moment each line is logged
(a handler that connects from inside the logging call), so no timing decides it."""

from __future__ import annotations

import logging
import re
import socket

from server import ServerConfig, ServerThread
from tests.support.redisserver import free_port

TIMEOUT = 10.0


class ConnectWhenSaid(logging.Handler):
    """On each "listening on" or "web client on" line, connects at once to every port the
    server was given or says, and notes the ones that refused."""

    def __init__(self, web_port: int) -> None:
        super().__init__()
        self.web_port = web_port
        self.refused: list[tuple[str, int]] = []
        self.said: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        if not line.startswith(("listening on", "web client on")):
            return
        self.said.append(line)
        ports = {int(port) for port in re.findall(r"127\.0\.0\.1:(\d+)", line)} | {self.web_port}
        for port in sorted(ports):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()
            except ConnectionRefusedError:
                self.refused.append((line, port))


def test_every_port_takes_connections_once_the_log_says_the_server_listens() -> None:
    web_port = free_port()
    handler = ConnectWhenSaid(web_port)
    logger = logging.getLogger("chat.server")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        with ServerThread(ServerConfig(host="127.0.0.1", port=0, web_port=web_port)):
            pass
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert len(handler.said) == 2, handler.said
    assert handler.refused == [], handler.refused
