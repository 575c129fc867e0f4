"""The server's settings in one value, defaulting to const.py so tests can shorten them."""

from __future__ import annotations

from dataclasses import dataclass

import const


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = const.SERVER_HOST
    port: int = const.SERVER_PORT
    server_name: str = const.SERVER_NAME
    heartbeat_interval: float = const.HEARTBEAT_INTERVAL
    heartbeat_timeout: float = const.HEARTBEAT_TIMEOUT
    login_timeout: float = const.LOGIN_TIMEOUT
    max_connections: int = const.MAX_CONNECTIONS
    max_outgoing_bytes: int = const.MAX_OUTGOING_BYTES
    # Freeze long-lived objects out of the garbage collector's way (see app._tame_gc).
    # Process-wide, so only the real server turns it on, not tests running it in a thread.
    tame_gc: bool = False
