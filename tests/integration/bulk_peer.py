#!/usr/bin/env python3
"""The host's end of the KVM tests' bulk transfer through a guest's NIC (net-tests.sh,
bridge-tests.sh): SIZE bytes each way, checked by sha256.

It serves SIZE random bytes over HTTP (any GET path; the guest fetches them with busybox
wget) and accepts one TCP connection on a second port, on which the guest sends the
bytes straight back (`wget -O - ... | nc HOST PORT`). Both ports are taken free and
printed on the first line, "ports HTTP BACK", so that the test can put them in the
guest's command line. When the returned bytes are in (SIZE of them, the sender's EOF,
or the deadline), it prints

    sent SIZE SHA256
    back COUNT SHA256

and exits 0 whether or not they match: the test compares the lines (and the sha256
the guest printed of what it received), so that a failure says which way broke.

Usage: bulk_peer.py BIND_ADDRESS SIZE_BYTES DEADLINE_SECONDS
"""
import hashlib
import http.server
import os
import socket
import sys
import threading
import time

bind, size, deadline = sys.argv[1], int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
payload = os.urandom(size)
CHUNK = 1 << 20


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        view = memoryview(payload)
        for offset in range(0, size, CHUNK):
            self.wfile.write(view[offset:offset + CHUNK])

    def log_message(self, *args):  # keep the test's output to the two result lines
        pass


server = http.server.ThreadingHTTPServer((bind, 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
back = socket.socket()
back.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
back.bind((bind, 0))
back.listen(1)
print(f"ports {server.server_address[1]} {back.getsockname()[1]}", flush=True)

received = hashlib.sha256()
start = time.monotonic()
count = 0


def remaining():
    return max(0.1, deadline - time.monotonic())


try:
    back.settimeout(remaining())
    conn, _ = back.accept()
    with conn:
        while count < size and time.monotonic() < deadline:
            conn.settimeout(remaining())
            data = conn.recv(CHUNK)
            if not data:
                break
            received.update(data)
            if (count + len(data)) >> 23 != count >> 23:  # every 8 MiB, on the console:
                # the rig kills a run whose console stays silent for minutes
                print(f"# bulk: {(count + len(data)) >> 20} MiB back after "
                      f"{time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
            count += len(data)
except OSError as e:  # the deadline, or the guest's connection reset: reported below
    print(f"back: {e}", flush=True)
print(f"sent {size} {hashlib.sha256(payload).hexdigest()}")
print(f"back {count} {received.hexdigest()}", flush=True)
server.shutdown()
