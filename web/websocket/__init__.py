"""RFC 6455 WebSocket, server side, sans-I/O.

Typical flow::

    request = reader.next_request()                  # web.http.HttpRequestReader
    response = accept_handshake(request)             # raises HandshakeError
    conn = WebSocketConnection()
    conn.receive_data(reader.trailing_data)          # bytes pipelined after the head
    for event in conn.events():                      # frames are processed one by one here
        sock.sendall(conn.data_to_send())            # auto pong / close replies, in order
        ...                                          # then the application's answer
    sock.sendall(conn.send(TextMessage("hi")))
"""

from web.websocket.connection import ConnectionState, LocalProtocolError, WebSocketConnection
from web.websocket.events import BinaryMessage, CloseConnection, Event, Ping, Pong, TextMessage
from web.websocket.handshake import HandshakeError, accept_handshake, accept_key, select_subprotocol

__all__ = [
    "BinaryMessage",
    "CloseConnection",
    "ConnectionState",
    "Event",
    "HandshakeError",
    "LocalProtocolError",
    "Ping",
    "Pong",
    "TextMessage",
    "WebSocketConnection",
    "accept_handshake",
    "accept_key",
    "select_subprotocol",
]
