"""Does one connection's flood of frames that no rate counts hurt the others' messages?

    python3 -m bench.read_flood [--memory] [--phases ABAB] [--phase 10] [--rate 200]
                                [--kind pong|ping|bigpong|receipt|acks] [--connections N]
                                [--acks IDS] [--repo DIR]

As bench/late_receipts.py (bench/pairtraffic.py, which they share): starts ``chatserver.py``
(``--data`` in a new folder, or ``--memory``; from ``--repo``, default this checkout) with
request rates high enough for the pair, then Alice sends Bob direct messages at ``--rate`` a
second (Bob confirms each, Alice acks each outcome), and in each phase B (A: not) a third user
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
import argparse, json, os, random, threading, time

from bench.pairtraffic import Pair, Peer, pct, received, start_server, stop_server

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

# Request rates for Alice's 200 a second, and no more: higher ones raise the read budget and
# the acks' budgets.
rate = str(max(200, int(args.rate * 1.25)))
server, port, web = start_server(args.repo, args.memory, "--rate-per-connection", rate, "--rate-per-address", rate,
                                 prefix="readflood-")
pair = Pair(port, args.rate)
flooder = Peer(port, "Flood")
ackers = [Peer(port, f"Acker{i}") for i in range(args.connections)] if args.kind == "acks" else []
phase, stop = pair.phase, pair.stop
flood_bytes, pongs, cpu = {}, {}, {}


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
    for _ in received(peer.sock, stop, phase):
        pass


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
    for chunk in received(flooder.sock, stop, phase):
        pongs[phase["name"]] = pongs.get(phase["name"], 0) + chunk.count(b'"pong"')


pair.start()
for t in (flood_sender, flood_reader):
    threading.Thread(target=t, daemon=True).start()
for peer in ackers:
    threading.Thread(target=drain, args=(peer,), daemon=True).start()

time.sleep(2)


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
    a, d, k = pair.acc.get(name, []), pair.dlv.get(name, []), pair.ack.get(name, [])
    print(f"{mode} {name}: accepted p50 {pct(a,.5):6.1f} p99 {pct(a,.99):6.1f} | dm p50 {pct(d,.5):6.1f} "
          f"p99 {pct(d,.99):6.1f} | delivered p50 {pct(k,.5):6.1f} p99 {pct(k,.99):6.1f} max {pct(k,1):6.1f} ms "
          f"| dms {len(d)/args.phase:4.0f}/s | flood "
          f"{flood_bytes.get(name,0)/args.phase/1e6:5.2f} MB/s written, {pongs.get(name,0)/args.phase:6.0f} pongs/s "
          f"| server CPU {100*cpu[name]/args.phase:3.0f}%", flush=True)
stop_server(server)
