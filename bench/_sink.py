"""A discard-everything upload sink on 127.0.0.1 (bench/upload scenario c).

It reads each request body at full speed into a reused buffer and drops it, then
answers a POST with ``200`` and an empty body (what PyPI answers for a stored file)
and a GET with ``404`` (no such project). So a client's time against it is the
client's own: reading, hashing and sending. Prints its port, then serves until killed.
"""

from __future__ import annotations

import socket
import threading

MIB = 1024 * 1024


def _connection(conn: socket.socket) -> None:
    buf = bytearray(MIB)
    view = memoryview(buf)
    pending = b""
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            while b"\r\n\r\n" not in pending:
                data = conn.recv(65536)
                if not data:
                    return
                pending += data
            head, _, rest = pending.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            method = lines[0].split(b" ", 1)[0]
            headers = {}
            for line in lines[1:]:
                key, _, value = line.partition(b":")
                headers[key.strip().lower()] = value.strip()
            if headers.get(b"expect", b"").lower() == b"100-continue":
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            length = int(headers.get(b"content-length", b"0"))
            if len(rest) >= length:
                pending = rest[length:]
                remaining = 0
            else:
                pending = b""
                remaining = length - len(rest)
            while remaining > 0:
                n = conn.recv_into(view, min(len(buf), remaining))
                if n == 0:
                    return
                remaining -= n
            status = b"404 Not Found" if method in (b"GET", b"HEAD") else b"200 OK"
            conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n")


def main() -> None:
    server = socket.create_server(("127.0.0.1", 0), backlog=128)
    print(server.getsockname()[1], flush=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=_connection, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
