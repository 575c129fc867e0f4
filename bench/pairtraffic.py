"""What the flood benchmarks (bench/late_receipts.py, bench/read_flood.py) share: a
``chatserver.py`` of their own, raw protocol clients, and two users' direct messages at a
steady rate, whose latencies they measure while a third client floods.

:func:`start_server` starts the server (``--data`` in a new folder, or ``--memory``, from
``repo``) and waits until it listens; :class:`Peer` logs a user in over a raw socket;
:class:`Pair` runs Alice sending Bob ``rate`` messages a second (Bob confirms each, Alice
acks each outcome) and records, per phase (``pair.phase``), the latency of Alice's
``accepted`` (``acc``), Bob's ``dm`` (``dlv``) and Alice's ``delivered`` (``ack``).
"""
import json, os, socket, subprocess, sys, tempfile, threading, time


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def start_server(repo, memory, *options, prefix="flood-"):
    """``chatserver.py options`` from ``repo``, niced, on free ports; returns (process,
    chat port, web port), once it listens."""
    port, web = free_port(), free_port()
    data = tempfile.mkdtemp(prefix=prefix)
    cmd = ["nice", "-n", "10", sys.executable, "chatserver.py", "--port", str(port), "--web-port", str(web),
           "--quiet", *options]
    cmd += ["--memory"] if memory else ["--data", data]
    server = subprocess.Popen(cmd, cwd=repo, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=open(os.path.join(data, "server.log"), "w"))
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close(); break
        except OSError:
            if time.monotonic() > deadline: raise
            time.sleep(0.05)
    return server, port, web


def stop_server(server):
    server.stdin.close()
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill(); server.wait()


class Peer:
    def __init__(self, port, name, features=("batch_acks",)):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")
        self.lock = threading.Lock()
        self.write({"type": "hello", "id": name + "-hello", "name": name, "version": 1, "features": list(features)})
        while True:
            f = self.read()
            if f["type"] == "welcome": break
            if f["type"] == "error": raise SystemExit(f)

    def write(self, frame):
        data = (json.dumps(frame) + "\n").encode()
        with self.lock:
            self.sock.sendall(data)

    def read(self):
        line = self.file.readline()
        if not line: return None
        return json.loads(line)


def received(sock, stop, phase):
    """What a flooding client's ``sock`` receives, chunk by chunk, until ``stop`` is set or
    the stream ends (said on standard error, with the phase)."""
    while not stop.is_set():
        try:
            chunk = sock.recv(1 << 20)
        except OSError:
            chunk = b""
        if not chunk:
            print("flooder disconnected", phase["name"], file=sys.stderr); return
        yield chunk


def pct(xs, p):
    """The ``p`` quantile of ``xs`` (seconds) in milliseconds."""
    if not xs: return float("nan")
    xs = sorted(xs); return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000


class Pair:
    """Alice and Bob on the server at ``port``; :meth:`start` begins their traffic."""

    def __init__(self, port, rate):
        self.alice, self.bob, self.rate = Peer(port, "Alice"), Peer(port, "Bob"), rate
        self.phase = {"name": "warm"}
        self.acc, self.dlv, self.ack = {}, {}, {}
        self.stop = threading.Event()
        self.sent_at = {}

    def rec(self, d, v):
        d.setdefault(self.phase["name"], []).append(v)

    def start(self):
        for t in (self._alice_reader, self._bob_reader, self._alice_sender):
            threading.Thread(target=t, daemon=True).start()

    def _alice_reader(self):
        alice = self.alice
        while not self.stop.is_set():
            f = alice.read()
            if f is None: return
            if f["type"] == "accepted":
                t = self.sent_at.get(f["id"])
                if t is not None: self.rec(self.acc, time.monotonic() - t)
            elif f["type"] == "delivered":
                t = self.sent_at.pop(f.get("id"), None)
                if t is not None: self.rec(self.ack, time.monotonic() - t)
                alice.write({"type": "ack", "msg_id": f["msg_id"]})

    def _bob_reader(self):
        while not self.stop.is_set():
            f = self.bob.read()
            if f is None: return
            if f["type"] == "dm":
                self.rec(self.dlv, time.monotonic() - float(f["text"]))
                self.bob.write({"type": "receipt", "msg_id": f["msg_id"]})

    def _alice_sender(self):
        n, start = 0, time.monotonic()
        while not self.stop.is_set():
            n += 1
            d = start + n / self.rate - time.monotonic()
            if d > 0: time.sleep(d)
            cid = f"m-{n}"
            now = time.monotonic()
            self.sent_at[cid] = now
            self.alice.write({"type": "send", "id": cid, "to": "Bob", "text": repr(now)})
