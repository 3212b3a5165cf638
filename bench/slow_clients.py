#!/usr/bin/env python3
"""Scrape latency of `nettune export` with 16 idle and 4 junk (1 KiB random bytes) connections
open, all from 127.0.0.1 (issue 15, item 2).

Usage: bench/slow_clients.py NETTUNE_BINARY PORT
"""
import socket, subprocess, sys, time, os
binary, port = sys.argv[1], int(sys.argv[2])
p = subprocess.Popen([binary, "export", "--listen", f"127.0.0.1:{port}", "--host-only", "-q"], stderr=subprocess.DEVNULL)
try:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close(); break
        except OSError: time.sleep(0.1)
    def scrape():
        t = time.monotonic()
        s = socket.create_connection(("127.0.0.1", port), 30)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            c = s.recv(65536)
            if not c: break
            data += c
        s.close()
        return time.monotonic() - t, data.split(b" ")[1].decode() if data else "none"
    print("no load: %.3f s (%s)" % scrape())
    held = []
    for _ in range(16):
        held.append(socket.create_connection(("127.0.0.1", port)))
    for _ in range(4):
        j = socket.create_connection(("127.0.0.1", port))
        j.sendall(os.urandom(1024)); held.append(j)
    time.sleep(0.1)
    for i in range(3):
        print("16 idle + 4 junk: %.3f s (%s)" % scrape())
finally:
    p.terminate(); p.wait()
