"""dlcore.dist ring all-reduce vs a raw loopback TCP stream, 2 processes, same run.

Two processes (not threads: the GIL) join a group through the real rendezvous and
authenticated ring, open one extra plain TCP connection, and then alternate, round
by round, so that both figures see the same machine load:
(a) raw stream: rank 0 `sendall`s an S-byte buffer to rank 1, which fills a
    preallocated buffer with `recv_into` and answers with a 1-byte ack; time =
    send start -> ack received (socket configured exactly like dlcore's ring sockets);
(b) all-reduce: both ranks all-reduce a float32 vector of S bytes after a barrier;
    time = the slower rank's `all_reduce` call.

Bus bandwidth (the NCCL-tests convention): a ring all-reduce of S bytes on n ranks
moves 2*(n-1)/n * S bytes through every rank's link, so

    allreduce_busbw = S * 2*(n-1)/n / t_allreduce          (= S / t for n = 2)
    raw_socket_bw   = S / t_raw
    allreduce_efficiency_vs_raw_socket = allreduce_busbw / raw_socket_bw

1.0 means the all-reduce drives each link as fast as a bare one-way stream. Medians
over `--rounds`. The last output line is one JSON object with all figures.

On loopback the "link" is the CPUs copying bytes: the raw stream makes 2 kernel
copies of S bytes (one per side), while the n=2 all-reduce pushes S bytes in EACH
direction at once (4 copies of S, plus the float32 adds), on the same cores. With
2 cores both run CPU-bound, so about 0.5 is the ceiling here; full-duplex NICs and
spare cores lift it toward 1. The run therefore also times (c) a raw DUPLEX stream,
both ranks sending S bytes to each other at once (the all-reduce's traffic with no
reduction, framing or pipelining): `allreduce_efficiency_vs_raw_duplex` =
t_duplex / t_allreduce shows how close the all-reduce gets to that.

Run: .venv/bin/python bench/allreduce_vs_socket.py [--mib 16] [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import socket
import statistics
import threading
import time
from dataclasses import dataclass

import numpy as np

from dlcore.dist import Communicator, Member, RendezvousServer, loopback_config, new_job_secret
from dlcore.dist.wire import configure_socket, open_listener

WORLD = 2
TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Settings:
    nbytes: int
    rounds: int
    warmup: int
    chunk_bytes: int


def _raw_link(comm: Communicator) -> socket.socket:
    """A plain TCP connection rank 0 -> rank 1, configured like dlcore's ring sockets."""
    if comm.rank == 1:
        listener = open_listener("127.0.0.1")
        listener.settimeout(TIMEOUT_S)
        port = listener.getsockname()[1]
    mine = np.array([port if comm.rank == 1 else 0.0])
    port = int(comm.all_reduce_small(mine)[0])  # rank 1's port, to every rank
    if comm.rank == 0:
        sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
    else:
        sock, _ = listener.accept()
        listener.close()
    sock.settimeout(TIMEOUT_S)
    configure_socket(sock)
    return sock


def _raw_round(sock: socket.socket, rank: int, buf: memoryview) -> None:
    """Rank 0 streams all of `buf` to rank 1, which fills its own with recv_into and acks."""
    if rank == 0:
        sock.sendall(buf)
        if sock.recv(1) != b"k":
            raise ConnectionError("rank 1 closed the raw stream early")
        return
    _recv_all(sock, buf)
    sock.sendall(b"k")


def _recv_all(sock: socket.socket, buf: memoryview) -> None:
    got = 0
    while got < len(buf):
        n = sock.recv_into(buf[got:], len(buf) - got)
        if n == 0:
            raise ConnectionError("the other rank closed the raw stream early")
        got += n


def _raw_duplex_round(sock: socket.socket, out: memoryview, into: memoryview) -> None:
    """Both ranks stream S bytes to each other at once (what the all-reduce's link carries)."""
    sender = threading.Thread(target=sock.sendall, args=(out,))
    sender.start()
    _recv_all(sock, into)
    sender.join(timeout=TIMEOUT_S)


def _rank(address, secret, rank, bench: Settings, results) -> None:
    """One process: interleaves raw-stream rounds and all-reduce rounds on the same link."""
    nbytes, rounds, warmup = bench.nbytes, bench.rounds, bench.warmup
    config = loopback_config(op_timeout=TIMEOUT_S, chunk_bytes=bench.chunk_bytes)
    with Communicator.join(address, secret, Member(rank, WORLD), config) as comm:
        raw_sock = _raw_link(comm)
        raw_buf = memoryview(bytearray(np.random.default_rng(rank).bytes(nbytes)))
        buf = np.ones(nbytes // 4, dtype=np.float32)
        one = np.ones(1)
        duplex_in = memoryview(bytearray(nbytes))
        times: dict[str, list[float]] = {"raw": [], "duplex": [], "big": [], "small": []}
        for i in range(warmup + rounds):
            comm.barrier()
            t0 = time.perf_counter()
            _raw_round(raw_sock, rank, raw_buf)
            t1 = time.perf_counter()
            comm.barrier()
            t_duplex = time.perf_counter()
            _raw_duplex_round(raw_sock, raw_buf, duplex_in)
            t_duplex = time.perf_counter() - t_duplex
            comm.barrier()
            t2 = time.perf_counter()
            comm.all_reduce(buf)
            t3 = time.perf_counter()
            comm.all_reduce_small(one)
            t4 = time.perf_counter()
            if buf[0] != WORLD or buf[-1] != WORLD:
                raise RuntimeError(f"wrong all-reduce result {buf[0]}")
            buf.fill(1.0)
            if i >= warmup:
                times["raw"].append(t1 - t0)
                times["duplex"].append(t_duplex)
                times["big"].append(t3 - t2)
                times["small"].append(t4 - t3)
        raw_sock.close()
    results.put((rank, times))


def measure(bench: Settings) -> dict[str, list[float]]:
    """Per-round seconds: raw stream (timed by the sender, rank 0) and the slower rank's
    all_reduce / all_reduce_small."""
    ctx = mp.get_context("spawn")
    secret = new_job_secret()
    results = ctx.Queue()
    with RendezvousServer(secret, WORLD, host="127.0.0.1") as server:
        procs = [
            ctx.Process(target=_rank, args=(server.address, secret, r, bench, results))
            for r in range(WORLD)
        ]
        for p in procs:
            p.start()
        per_rank = dict(results.get(timeout=TIMEOUT_S) for _ in procs)
        for p in procs:
            p.join(timeout=TIMEOUT_S)

    def slowest(key: str) -> list[float]:
        return [max(v) for v in zip(*(per_rank[r][key] for r in range(WORLD)), strict=True)]

    return {"raw": per_rank[0]["raw"], **{k: slowest(k) for k in ("duplex", "big", "small")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=16, help="buffer size in MiB (default 16)")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--chunk-kib", type=int, default=1024, help="ring pipelining chunk")
    args = ap.parse_args()
    nbytes = args.mib << 20
    times = measure(Settings(nbytes, args.rounds, args.warmup, args.chunk_kib << 10))
    t_raw, t_ar = statistics.median(times["raw"]), statistics.median(times["big"])
    t_duplex = statistics.median(times["duplex"])
    raw_bw = nbytes / t_raw
    bus_factor = 2 * (WORLD - 1) / WORLD
    busbw = nbytes * bus_factor / t_ar
    result = {
        "bench": "allreduce_vs_socket",
        "world_size": WORLD,
        "buffer_bytes": nbytes,
        "rounds": args.rounds,
        "chunk_bytes": args.chunk_kib << 10,
        "raw_socket_ms_median": round(t_raw * 1e3, 3),
        "raw_socket_GBps": round(raw_bw / 1e9, 3),
        "allreduce_ms_median": round(t_ar * 1e3, 3),
        "allreduce_busbw_GBps": round(busbw / 1e9, 3),
        "allreduce_small_1float_us_median": round(statistics.median(times["small"]) * 1e6, 1),
        "allreduce_efficiency_vs_raw_socket": round(busbw / raw_bw, 3),
        "raw_duplex_ms_median": round(t_duplex * 1e3, 3),
        "allreduce_efficiency_vs_raw_duplex": round(t_duplex / t_ar, 3),
        "efficiency_formula": "(S*2*(n-1)/n / t_allreduce) / (S / t_raw_stream)",
        "note": "loopback: both directions share the CPUs; ~0.5 is the 2-core ceiling",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(
        f"raw loopback stream : {result['raw_socket_ms_median']:8.2f} ms per {args.mib} MiB "
        f"= {result['raw_socket_GBps']:.2f} GB/s"
    )
    print(
        f"ring all-reduce n=2 : {result['allreduce_ms_median']:8.2f} ms per {args.mib} MiB "
        f"= {result['allreduce_busbw_GBps']:.2f} GB/s bus bandwidth "
        f"(x {bus_factor:g} = 2(n-1)/n of the buffer per rank)"
    )
    print(
        f"raw duplex stream   : {result['raw_duplex_ms_median']:8.2f} ms "
        f"({args.mib} MiB each way at once; all-reduce / duplex efficiency "
        f"{result['allreduce_efficiency_vs_raw_duplex']:.2f})"
    )
    print(f"all_reduce_small(1 float): {result['allreduce_small_1float_us_median']:.0f} us")
    print(f"efficiency vs raw socket: {result['allreduce_efficiency_vs_raw_socket']:.2f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
