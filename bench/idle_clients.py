#!/usr/bin/env python3
"""Opens N PostgreSQL sessions over TLS and holds them idle: SSLRequest,
startup, the password (a gatehouse token or a pgbouncer password), until
ReadyForQuery. Prints "ready N" and waits for a line on stdin, then closes
them all. Used by bench/idle-memory."""
import os, resource, socket, ssl, struct, sys

def msg(kind, body):
    return kind + struct.pack("!I", len(body) + 4) + body

def read_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out

def session(port, user, password, ctx):
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    if ctx is None:
        s = raw
    else:
        raw.sendall(struct.pack("!II", 8, 80877103))
        if read_exact(raw, 1) != b"S":
            raise RuntimeError("no TLS")
        s = ctx.wrap_socket(raw, server_hostname="localhost")
    params = b"user\0" + user.encode() + b"\0database\0bench\0\0"
    body = struct.pack("!I", 196608) + params
    s.sendall(struct.pack("!I", len(body) + 4) + body)
    while True:
        kind = read_exact(s, 1)
        length = struct.unpack("!I", read_exact(s, 4))[0]
        body = read_exact(s, length - 4)
        if kind == b"R":
            code = struct.unpack("!I", body[:4])[0]
            if code == 3:
                s.sendall(msg(b"p", password.encode() + b"\0"))
            elif code == 10:
                raise RuntimeError("SCRAM not supported here: use plain password auth")
            elif code != 0:
                raise RuntimeError("auth %d" % code)
        elif kind == b"E":
            raise RuntimeError("error: %r" % body)
        elif kind == b"Z":
            return s

def main():
    port, user, password, n = int(sys.argv[1]), sys.argv[2], os.environ["IDLE_PASSWORD"], int(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if os.environ.get("IDLE_PLAIN"):
        ctx = None
    held = [session(port, user, password, ctx) for _ in range(n)]
    print("ready", len(held), flush=True)
    sys.stdin.readline()
    for s in held:
        try:
            s.sendall(msg(b"X", b""))
            s.close()
        except OSError:
            pass

if __name__ == "__main__":
    main()
