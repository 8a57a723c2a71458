"""The server's connections send without Nagle's algorithm.

gunicorn writes a response's headers and its body in two sends; with Nagle's
algorithm on, the body waited for the client's delayed ACK of the headers, and
every request on a keep-alive connection (how Thunderbird, DAVx5 and iOS talk)
took about 40 ms more (measured: 44 ms against 0.8 ms for a getctag).
"""

from __future__ import annotations

import socket

from server import config
from server.dav.server import listen


def test_connections_accepted_by_the_listener_have_tcp_nodelay() -> None:
    settings = config.Settings(database="", host="127.0.0.1", port=0, max_body=1000, log_level="error",
                               auth_delay=0.0)
    with listen(settings) as listener:
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        with socket.create_connection(listener.getsockname()[:2]) as client:
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                client.sendall(b"x")
                assert accepted.recv(1) == b"x"
