"""dlcore.collective all-reduce on both transports vs a raw loopback TCP stream, 2 processes, same run.

Two processes (not threads: the GIL) join TWO groups through the real rendezvous and
authenticated ring: one with `transport="socket"` (the TCP ring) and one with the
default `transport="auto"` (what a user gets; on one host that is shared memory,
checked below), open one extra plain TCP connection, and then alternate, round by
round, so that every figure sees the same machine load:
(a) raw stream: rank 0 `sendall`s an S-byte buffer to rank 1, which fills a
    preallocated buffer with `recv_into` and answers with a 1-byte ack; time =
    send start -> ack received (socket configured exactly like dlcore's ring sockets);
(b) raw duplex stream: both ranks send S bytes to each other at once;
(c) all-reduce on each transport (order alternating by round): both ranks all-reduce a
    float32 vector of S bytes after a barrier; time = the slower rank's call;
(d) latency: the mean of 10 back-to-back `all_reduce_small` calls on one float64, and
    of 10 `all_reduce` calls on one float32, on each transport, after a barrier (the shm
    transport sends all_reduce_small over the ring sockets, like the socket transport).

Bus bandwidth (the NCCL-tests convention): an all-reduce of S bytes on n ranks moves
2*(n-1)/n * S bytes through every rank's link, so

    allreduce_busbw = S * 2*(n-1)/n / t_allreduce          (= S / t for n = 2)
    raw_socket_bw   = S / t_raw
    allreduce_efficiency_vs_raw_socket = allreduce_busbw / raw_socket_bw

`allreduce_efficiency_vs_raw_socket` is the DEFAULT transport's figure;
`..._tcp_ring` the socket transport's. Medians over `--rounds`. The last output line
is one JSON object with all figures.

Why two transports: on loopback the "link" is the CPUs copying bytes. The raw
stream makes 2 kernel copies of S (one per side); the n=2 TCP ring pushes S bytes in
EACH direction at once (4 copies of S, plus the adds) on the same cores, so with 2
cores it is capped near 0.5-0.65 of the raw stream and at best matches the duplex
stream (`allreduce_efficiency_vs_raw_duplex` = t_duplex / t_allreduce). Ranks on one
host need no wire at all: the shm transport copies each rank's input once into
shared memory, lets each rank sum its own shard, and copies the other shards back,
with only small control frames on the sockets. That is what MPI, NCCL and oneCCL do
between co-located ranks, and it is the comparison a user on one machine (Spark
local[N]) gets. Across hosts the socket transport is used; two hosts with a real
link per direction would be the fair test of the TCP ring against the wire.

Run: .venv/bin/python bench/allreduce_vs_socket.py [--mib 16] [--rounds 20]
     (--mib takes fractions: --mib 0.25 is 256 KiB, about the fraud MLP's gradient)
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

from dlcore.collective import (
    Communicator,
    Member,
    RendezvousServer,
    checksum,
    loopback_config,
    new_job_secret,
)
from dlcore.collective.wire import configure_socket, open_listener

WORLD = 2
TIMEOUT_S = 120.0
TRANSPORTS = {"tcp_ring": "socket", "default": "auto"}  # key in the output -> CommConfig
LATENCY_REPEATS = 10


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
    """Both ranks stream S bytes to each other at once (what the ring's link carries)."""
    sender = threading.Thread(target=sock.sendall, args=(out,))
    sender.start()
    _recv_all(sock, into)
    sender.join(timeout=TIMEOUT_S)


def _join(address, secret, rank: int, round_id: int, transport: str, bench: Settings):
    config = loopback_config(
        op_timeout=TIMEOUT_S, chunk_bytes=bench.chunk_bytes, transport=transport
    )
    return Communicator.join(address, secret, Member(rank, WORLD, round_id), config)


def _time_transport(comm: Communicator, buf: np.ndarray, times: dict, key: str) -> None:
    """One all-reduce of `buf`, then LATENCY_REPEATS one-value calls of each kind, on `comm`.

    A barrier before each part, so one rank's lead from the part before is not timed.
    """
    one32, one64 = np.ones(1, dtype=np.float32), np.ones(1)
    comm.barrier()
    t0 = time.perf_counter()
    comm.all_reduce(buf)
    times[f"big_{key}"].append(time.perf_counter() - t0)
    if buf[0] != WORLD or buf[-1] != WORLD:
        raise RuntimeError(f"wrong all-reduce result on {key}: {buf[0]}, {buf[-1]}")
    buf.fill(1.0)
    for name, call in (("small", comm.all_reduce_small), ("one", comm.all_reduce)):
        value = one64 if name == "small" else one32
        comm.barrier()
        t0 = time.perf_counter()
        for _ in range(LATENCY_REPEATS):
            value[0] = 1.0
            call(value)
        times[f"{name}_{key}"].append((time.perf_counter() - t0) / LATENCY_REPEATS)


def _rank(address, secret, rank, bench: Settings, results) -> None:
    """One process: interleaves raw-stream rounds and all-reduce rounds on both transports."""
    nbytes = bench.nbytes
    comms = {
        key: _join(address, secret, rank, round_id, transport, bench)
        for round_id, (key, transport) in enumerate(TRANSPORTS.items())
    }
    ring = comms["tcp_ring"]
    raw_sock = _raw_link(ring)
    raw_buf = memoryview(bytearray(np.random.default_rng(rank).bytes(nbytes)))
    duplex_in = memoryview(bytearray(nbytes))
    buf = np.ones(nbytes // 4, dtype=np.float32)
    times: dict[str, list[float]] = {"raw": [], "duplex": []}
    for key in TRANSPORTS:
        times.update({f"big_{key}": [], f"small_{key}": [], f"one_{key}": []})
    for i in range(bench.warmup + bench.rounds):
        ring.barrier()
        t0 = time.perf_counter()
        _raw_round(raw_sock, rank, raw_buf)
        times["raw"].append(time.perf_counter() - t0)
        ring.barrier()
        t0 = time.perf_counter()
        _raw_duplex_round(raw_sock, raw_buf, duplex_in)
        times["duplex"].append(time.perf_counter() - t0)
        for key in TRANSPORTS if i % 2 == 0 else reversed(TRANSPORTS):
            _time_transport(comms[key], buf, times, key)
    times = {k: v[bench.warmup :] for k, v in times.items()}
    names = {key: comm.transport for key, comm in comms.items()}
    raw_sock.close()
    for comm in comms.values():
        comm.close()
    results.put((rank, times, names))


def measure(bench: Settings) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Per-round seconds (raw stream timed by the sender, rank 0; the rest by the slower
    rank) and the transport each group ended up using."""
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
        per_rank = {}
        for _ in procs:
            rank, times, names = results.get(timeout=TIMEOUT_S * 4)
            per_rank[rank] = times
        for p in procs:
            p.join(timeout=TIMEOUT_S)

    def slowest(key: str) -> list[float]:
        return [max(v) for v in zip(*(per_rank[r][key] for r in range(WORLD)), strict=True)]

    return {"raw": per_rank[0]["raw"], **{k: slowest(k) for k in per_rank[0] if k != "raw"}}, names


def _figures(times: dict[str, list[float]], nbytes: int, key: str) -> dict[str, float]:
    """The per-transport figures; `key` "default" gets unsuffixed names."""
    med = {k: statistics.median(v) for k, v in times.items()}
    suffix = "" if key == "default" else f"_{key}"
    busbw = nbytes * 2 * (WORLD - 1) / WORLD / med[f"big_{key}"]
    return {
        f"allreduce_ms_median{suffix}": round(med[f"big_{key}"] * 1e3, 3),
        f"allreduce_busbw_GBps{suffix}": round(busbw / 1e9, 3),
        f"allreduce_efficiency_vs_raw_socket{suffix}": round(busbw / (nbytes / med["raw"]), 3),
        f"allreduce_efficiency_vs_raw_duplex{suffix}": round(med["duplex"] / med[f"big_{key}"], 3),
        f"allreduce_small_1float_us_median{suffix}": round(med[f"small_{key}"] * 1e6, 1),
        f"allreduce_1float32_us_median{suffix}": round(med[f"one_{key}"] * 1e6, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=float, default=16, help="buffer size in MiB (default 16)")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--chunk-kib", type=int, default=1024, help="TCP ring pipelining chunk")
    args = ap.parse_args()
    nbytes = int(args.mib * (1 << 20)) // 4 * 4
    load_before = os.getloadavg()[0]
    times, names = measure(Settings(nbytes, args.rounds, args.warmup, args.chunk_kib << 10))
    t_raw, t_duplex = statistics.median(times["raw"]), statistics.median(times["duplex"])
    result = {
        "bench": "allreduce_vs_socket",
        "world_size": WORLD,
        "buffer_bytes": nbytes,
        "rounds": args.rounds,
        "chunk_bytes": args.chunk_kib << 10,
        "transport": names["default"],
        "transport_tcp_ring": names["tcp_ring"],
        "crc32": checksum.IMPLEMENTATION,  # the code computing the wire's CRC-32 (DLCORE_CRC32)
        "raw_socket_ms_median": round(t_raw * 1e3, 3),
        "raw_socket_GBps": round(nbytes / t_raw / 1e9, 3),
        "raw_duplex_ms_median": round(t_duplex * 1e3, 3),
        **_figures(times, nbytes, "default"),
        **_figures(times, nbytes, "tcp_ring"),
        "efficiency_formula": "(S*2*(n-1)/n / t_allreduce) / (S / t_raw_stream)",
        "loadavg_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    _print_table(result, args.mib)
    print(json.dumps(result))


def _print_table(r: dict, mib: float) -> None:
    size = f"{mib:g} MiB"
    print(f"raw loopback stream   : {r['raw_socket_ms_median']:8.3f} ms per {size} "
          f"= {r['raw_socket_GBps']:.2f} GB/s")  # fmt: skip
    print(f"raw duplex stream     : {r['raw_duplex_ms_median']:8.3f} ms ({size} each way at once)")
    for label, sfx in ((f"all-reduce {r['transport']}", ""), ("all-reduce TCP ring", "_tcp_ring")):
        print(
            f"{label:22}: {r['allreduce_ms_median' + sfx]:8.3f} ms = "
            f"{r['allreduce_busbw_GBps' + sfx]:.2f} GB/s bus bandwidth, efficiency vs raw "
            f"{r['allreduce_efficiency_vs_raw_socket' + sfx]:.2f}, vs duplex "
            f"{r['allreduce_efficiency_vs_raw_duplex' + sfx]:.2f}; 1 float: all_reduce_small "
            f"{r['allreduce_small_1float_us_median' + sfx]:.0f} us, all_reduce "
            f"{r['allreduce_1float32_us_median' + sfx]:.0f} us"
        )


if __name__ == "__main__":
    main()
