"""Does one user's flood of receipts for unknown ids hurt the others' direct messages?

    python3 -m bench.late_receipts [--memory] [--phases ABAB] [--phase 10] [--rate 200]
                                   [--kind receipt|ack|nofeature] [--flood-rate IDS] [--repo DIR]

Starts ``chatserver.py`` (bench/pairtraffic.py; ``--data`` in a new folder, or ``--memory``; from ``--repo``,
default this checkout) with request rates high enough for the pair below, then: Alice
sends Bob direct messages at ``--rate`` a second (Bob confirms each), and in each phase B
(A: not) a third user, feature batch_acks, sends frames of ``--batch`` random ids that
were never sent to it, as fast as the server reads them (``--flood-rate``: that many ids
a second), reading what comes back without parsing it. ``--kind ack`` floods ``ack``s of
such ids instead; ``nofeature`` sends the same receipts without the feature, so each
frame is refused whole (``unknown_type``): what reading and parsing such frames costs,
the floor of any flood of them. Prints per phase: Alice's ``accepted`` and Bob's ``dm``
latency (p50, p99, max), messages a second, the flood's frames and errors a second, and
the largest store queue seen on /metrics. The flooder runs on the same machine: run it
under ``nice`` and repeat A/B a few times on a shared one.
"""
import argparse, json, os, random, threading, time, urllib.request

from bench.pairtraffic import Pair, Peer, pct, received, start_server, stop_server

ap = argparse.ArgumentParser()
ap.add_argument("--memory", action="store_true")
ap.add_argument("--phase", type=float, default=10.0)
ap.add_argument("--phases", default="ABAB")
ap.add_argument("--rate", type=float, default=200.0)
ap.add_argument("--batch", type=int, default=1000)
ap.add_argument("--kind", default="receipt", help="receipt, ack, or nofeature (receipts refused whole: unknown_type)")
ap.add_argument("--flood-rate", type=float, default=0.0, help="ids/s (0: as fast as the server reads)")
ap.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
args = ap.parse_args()

server, port, web = start_server(args.repo, args.memory, "--rate-per-connection", "100000",
                                 "--rate-per-address", "100000", prefix="late-")
pair = Pair(port, args.rate)
flooder = Peer(port, "Flood", () if args.kind == "nofeature" else ("batch_acks",))
phase, stop = pair.phase, pair.stop
errors = {}
floodframes = {}
qmax = {}


flooding = threading.Event()
def flood_sender():
    rnd = random.Random(1)
    n, start = 0, None
    while not stop.is_set():
        if not flooding.wait(0.1): start = None; continue
        if args.flood_rate:
            if start is None: start, n = time.monotonic(), 0
            n += 1
            d = start + n * args.batch / args.flood_rate - time.monotonic()
            if d > 0: time.sleep(d)
        ids = [rnd.randrange(10**12, 2**53) for _ in range(args.batch)]
        try:
            flooder.write({"type": "ack" if args.kind == "ack" else "receipt", "msg_ids": ids})
        except OSError:
            return
        floodframes[phase["name"]] = floodframes.get(phase["name"], 0) + 1

def flood_reader():
    tail = b""
    for chunk in received(flooder.sock, stop, phase):
        chunk = tail + chunk
        cut = chunk.rfind(b"\n") + 1
        chunk, tail = chunk[:cut], chunk[cut:]
        for code in (b"unknown_message", b"slow_consumer", b"rate_limited", b"unknown_type"):
            n = chunk.count(b'"code":"' + code + b'"')
            if n:
                k = (phase["name"], code.decode())
                errors[k] = errors.get(k, 0) + n

def metrics():
    while not stop.is_set():
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{web}/metrics", timeout=2).read().decode()
            for line in text.splitlines():
                if line.startswith("chat_store_queue "):
                    v = float(line.split()[1])
                    qmax[phase["name"]] = max(qmax.get(phase["name"], 0), v)
        except Exception as e:
            pass
        time.sleep(0.25)

pair.start()
for t in (flood_sender, flood_reader, metrics):
    threading.Thread(target=t, daemon=True).start()

time.sleep(2)
results = []
for i, kind in enumerate(args.phases):
    name = f"{i}{kind}"
    phase["name"] = name
    (flooding.set if kind == "B" else flooding.clear)()
    time.sleep(args.phase)
flooding.clear(); phase["name"] = "cool"; time.sleep(1)
stop.set()
mode = ("memory" if args.memory else "durable") + " " + args.kind
for i, kind in enumerate(args.phases):
    name = f"{i}{kind}"
    a, d = pair.acc.get(name, []), pair.dlv.get(name, [])
    errs = sum(v for (p, c), v in errors.items() if p == name and c == "unknown_message")
    other = {c: v for (p, c), v in errors.items() if p == name and c != "unknown_message"}
    print(f"{mode} {name}: accepted p50 {pct(a,.5):7.1f} p99 {pct(a,.99):7.1f} ms | delivered p50 {pct(d,.5):7.1f} "
          f"p99 {pct(d,.99):7.1f} ms max {pct(d,1):7.1f} | dms {len(d)/args.phase:5.0f}/s | flood frames "
          f"{floodframes.get(name,0)/args.phase:6.1f}/s errors {errs/args.phase:8.0f}/s {other or ''} | store queue max {qmax.get(name,0):.0f}",
          flush=True)
stop_server(server)
