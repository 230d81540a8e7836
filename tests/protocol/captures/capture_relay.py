#!/usr/bin/python3
"""Records one plaintext MySQL session as frames, to make the *.hex captures in this folder.

Usage: capture_relay.py LISTEN_PORT UPSTREAM_PORT OUT.hex "header line" ["header line" ...]
Prints the listening port (useful with LISTEN_PORT 0), accepts one client there, relays it to 127.0.0.1:UPSTREAM_PORT, and when
both sides have closed writes one frame per line: "c2s <hex>" or "s2c <hex>" (4-byte header
included), in the order the frames completed. Header lines become '# ' comments.
"""
import selectors
import socket
import sys


def main():
    listen_port, upstream_port, out_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    headers = sys.argv[4:]
    srv = socket.create_server(("127.0.0.1", listen_port))
    print(srv.getsockname()[1], flush=True)
    client, _ = srv.accept()
    upstream = socket.create_connection(("127.0.0.1", upstream_port))
    peers = {client: (upstream, "c2s"), upstream: (client, "s2c")}
    pending = {"c2s": b"", "s2c": b""}
    frames = []
    sel = selectors.DefaultSelector()
    for s in peers:
        sel.register(s, selectors.EVENT_READ)
    open_sockets = 2
    while open_sockets:
        for key, _ in sel.select(timeout=30):
            sock = key.fileobj
            other, direction = peers[sock]
            data = sock.recv(65536)
            if not data:
                sel.unregister(sock)
                open_sockets -= 1
                try:
                    other.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                continue
            other.sendall(data)
            buf = pending[direction] + data
            while len(buf) >= 4:
                size = 4 + int.from_bytes(buf[:3], "little")
                if len(buf) < size:
                    break
                frames.append((direction, buf[:size]))
                buf = buf[size:]
            pending[direction] = buf
    with open(out_path, "w") as out:
        for line in headers:
            out.write(f"# {line}\n")
        out.write("# one frame per line: c2s = client to server, s2c = server to client; "
                  "hex includes the 4-byte frame header\n")
        for direction, frame in frames:
            out.write(f"{direction} {frame.hex()}\n")


if __name__ == "__main__":
    main()
