"""Does one connection's flood of frames that no rate counts hurt the others' messages?

    python3 -m bench.read_flood [--memory] [--phases ABAB] [--phase 10] [--rate 200]
                                [--kind pong|ping|bigpong|receipt|acks] [--connections N]
                                [--acks IDS] [--repo DIR]

As bench/late_receipts.py (whose approach this copies): starts ``chatserver.py`` (``--data``
in a new folder, or ``--memory``; from ``--repo``, default this checkout) with request
rates high enough for the pair, then Alice sends Bob direct messages at ``--rate`` a second
(Bob confirms each, Alice acks each outcome), and in each phase B (A: not) a third user
writes, as fast as the server reads them, frames that no rate counts: ``pong`` (answered
by nothing), ``ping`` (answered by a pong, which it reads without parsing), ``bigpong``
(a pong padded with blanks to 60,000 bytes: a huge-but-legal frame) or ``receipt`` (a
batch_acks receipt of 1,000 random ids, refused by the late receipts' budget); or, with
``acks``, ``--connections`` connections of one address each ack ``--acks`` random ids a
second (in ten frames), within each connection's budget of acks. Prints per phase: the
latency of Alice's ``accepted``, Bob's ``dm`` and Alice's ``delivered`` (p50, p99; the last
one's max too), messages a second, the bytes a second the flooder wrote (kernel buffers
included) and the pongs it got (with ``ping``: the frames the server read), and the
server's CPU (the share of one core: on a shared machine, steadier than the latencies).
The flooder runs on the same machine: run it under ``nice`` and repeat A/B a few times on
a shared one.
"""
import argparse, json, os, random, socket, subprocess, sys, tempfile, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--memory", action="store_true")
ap.add_argument("--phase", type=float, default=10.0)
ap.add_argument("--phases", default="ABAB")
ap.add_argument("--rate", type=float, default=200.0)
ap.add_argument("--kind", default="pong", choices=("pong", "ping", "bigpong", "receipt", "acks"))
ap.add_argument("--connections", type=int, default=95, help="acks: the flooding connections, one address")
ap.add_argument("--acks", type=float, default=300.0, help="acks: ids a second each connection acks")
ap.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
args = ap.parse_args()


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


port, web = free_port(), free_port()
data = tempfile.mkdtemp(prefix="readflood-")
# A request rate for Alice's 200 a second, and no more: a higher one raises the read budget.
cmd = ["nice", "-n", "10", sys.executable, "chatserver.py", "--port", str(port), "--web-port", str(web),
       "--rate-per-connection", str(max(30, int(args.rate * 1.25))), "--rate-per-address", "100000", "--quiet"]
cmd += ["--memory"] if args.memory else ["--data", data]
server = subprocess.Popen(cmd, cwd=args.repo, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                          stderr=open(os.path.join(data, "server.log"), "w"))
deadline = time.monotonic() + 10
while True:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close(); break
    except OSError:
        if time.monotonic() > deadline: raise
        time.sleep(0.05)


class Peer:
    def __init__(self, name, features=("batch_acks",)):
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


alice, bob, flooder = Peer("Alice"), Peer("Bob"), Peer("Flood")
ackers = [Peer(f"Acker{i}") for i in range(args.connections)] if args.kind == "acks" else []
phase = {"name": "warm"}
acc, dlv, ack, flood_bytes, pongs, cpu = {}, {}, {}, {}, {}, {}
stop = threading.Event()
sent_at = {}


def rec(d, v):
    d.setdefault(phase["name"], []).append(v)


def alice_reader():
    while not stop.is_set():
        f = alice.read()
        if f is None: return
        if f["type"] == "accepted":
            t = sent_at.get(f["id"])
            if t is not None: rec(acc, time.monotonic() - t)
        elif f["type"] == "delivered":
            t = sent_at.pop(f.get("id"), None)
            if t is not None: rec(ack, time.monotonic() - t)
            alice.write({"type": "ack", "msg_id": f["msg_id"]})


def bob_reader():
    while not stop.is_set():
        f = bob.read()
        if f is None: return
        if f["type"] == "dm":
            rec(dlv, time.monotonic() - float(f["text"]))
            bob.write({"type": "receipt", "msg_id": f["msg_id"]})


def alice_sender():
    n, start = 0, time.monotonic()
    while not stop.is_set():
        n += 1
        d = start + n / args.rate - time.monotonic()
        if d > 0: time.sleep(d)
        cid = f"m-{n}"
        now = time.monotonic()
        sent_at[cid] = now
        alice.write({"type": "send", "id": cid, "to": "Bob", "text": repr(now)})


def chunk_of(kind):
    """About 64 KiB of whole frames of the flood's kind."""
    if kind == "bigpong":
        return b'{"type":"pong","token":"x"' + b" " * 60000 + b"}\n"
    if kind == "receipt":
        rnd = random.Random(1)
        ids = [rnd.randrange(10**12, 2**53) for _ in range(1000)]
        return (json.dumps({"type": "receipt", "msg_ids": ids}) + "\n").encode()
    frame = b'{"type":"%s","token":"x"}\n' % kind.encode()
    return frame * (65536 // len(frame))


flooding = threading.Event()


def acks_sender():
    """Every acker, ten times a second, one frame of a tenth of its ids a second."""
    rnd, n, start = random.Random(2), 0, time.monotonic()
    per_frame = max(1, round(args.acks / 10))
    while not stop.is_set():
        n += 1
        d = start + n / 10 - time.monotonic()
        if d > 0: time.sleep(d)
        if not flooding.is_set(): continue
        for peer in ackers:
            frame = b'{"type":"ack","msg_ids":%s}\n' % json.dumps(
                [rnd.randrange(10**12, 2**53) for _ in range(per_frame)]).encode()
            peer.sock.sendall(frame)
            flood_bytes[phase["name"]] = flood_bytes.get(phase["name"], 0) + len(frame)


def drain(peer):
    while not stop.is_set():
        try:
            if not peer.sock.recv(1 << 20): return
        except OSError:
            return


def flood_sender():
    if args.kind == "acks":
        return acks_sender()
    chunk = chunk_of(args.kind)
    while not stop.is_set():
        if not flooding.wait(0.1): continue
        try:
            flooder.sock.sendall(chunk)
        except OSError:
            return
        flood_bytes[phase["name"]] = flood_bytes.get(phase["name"], 0) + len(chunk)


def flood_reader():
    while not stop.is_set():
        try:
            chunk = flooder.sock.recv(1 << 20)
        except OSError:
            chunk = b""
        if not chunk: print("flooder disconnected", phase["name"], file=sys.stderr); return
        pongs[phase["name"]] = pongs.get(phase["name"], 0) + chunk.count(b'"pong"')


for t in (alice_reader, bob_reader, alice_sender, flood_sender, flood_reader):
    threading.Thread(target=t, daemon=True).start()
for peer in ackers:
    threading.Thread(target=drain, args=(peer,), daemon=True).start()

time.sleep(2)


def pct(xs, p):
    if not xs: return float("nan")
    xs = sorted(xs); return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000


def server_cpu():
    """The server's CPU seconds so far (user and system; nice execs the interpreter)."""
    with open(f"/proc/{server.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


for i, kind in enumerate(args.phases):
    phase["name"] = f"{i}{kind}"
    (flooding.set if kind == "B" else flooding.clear)()
    before = server_cpu()
    time.sleep(args.phase)
    cpu[phase["name"]] = server_cpu() - before
flooding.clear(); phase["name"] = "cool"; time.sleep(1)
stop.set()
mode = ("memory" if args.memory else "durable") + " " + args.kind
for i, kind in enumerate(args.phases):
    name = f"{i}{kind}"
    a, d, k = acc.get(name, []), dlv.get(name, []), ack.get(name, [])
    print(f"{mode} {name}: accepted p50 {pct(a,.5):6.1f} p99 {pct(a,.99):6.1f} | dm p50 {pct(d,.5):6.1f} "
          f"p99 {pct(d,.99):6.1f} | delivered p50 {pct(k,.5):6.1f} p99 {pct(k,.99):6.1f} max {pct(k,1):6.1f} ms "
          f"| dms {len(d)/args.phase:4.0f}/s | flood "
          f"{flood_bytes.get(name,0)/args.phase/1e6:5.2f} MB/s written, {pongs.get(name,0)/args.phase:6.0f} pongs/s "
          f"| server CPU {100*cpu[name]/args.phase:3.0f}%", flush=True)
server.stdin.close()
server.terminate()
try:
    server.wait(10)
except subprocess.TimeoutExpired:
    server.kill(); server.wait()
