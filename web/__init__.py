"""The web gateway's sans-I/O layers.

Every module here turns bytes into values and values into bytes; none of them
opens a socket or touches an event loop, so each can be unit-tested with byte
strings and driven by whatever I/O layer (threads, asyncio, selectors) wraps it.

- ``web.http``: HTTP/1.1 request-head reader and response renderer.
- ``web.static``: safe URL-path -> file mapping plus caching/security headers.
- ``web.hosts``: the Host names the server answers to (against DNS rebinding).
- ``web.websocket``: RFC 6455 server side (handshake, frames, connection).
"""
