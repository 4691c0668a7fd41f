"""Ring ranks and a rendezvous server as processes in network-namespace "hosts".

    python -m tests.integration.netns_ring server SPEC_JSON   (prints its address, serves
                                                              until stdin closes)
    python -m tests.integration.netns_ring rank SPEC_JSON     (prints one JSON line)

Used by test_netns_addresses.py (and the session-39 address probes) to run
`Communicator.join` + all-reduce between real network stacks: IPv6-only hosts, hosts
with two interfaces, a firewalled port. `Hosts` builds the namespaces (bench/_netns.py:
TEST-NET-1 192.0.2.70+ on one bridge, plus the IPv6 documentation prefix 2001:db8::/32
and TEST-NET-2 198.51.100.0/24 for a second network), runs these processes inside them
and tears everything down. Nothing here sends traffic outside the namespaces.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
from _netns import Cluster, missing_requirement, sh  # noqa: E402

sys.path.pop(0)

FIRST_HOST = 70  # 192.0.2.70+: apart from netns_cluster (10+) and netns_spark (130+)
V6 = "2001:db8:39::"  # documentation prefix (RFC 3849): host i is V6 + hex(0x10 + i)
MGMT = "198.51.100"  # TEST-NET-2: the second network of two-interface hosts


def v6_address(host: int) -> str:
    return f"{V6}{0x10 + host:x}"


def namespaces_unavailable() -> str:
    """Why namespaces cannot be built here ("" when they can)."""
    if problem := missing_requirement():
        return problem
    probe = f"ra{os.getpid()}probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` refused: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return ""


class Hosts(Cluster):
    """bench/_netns.Cluster with IPv6, a second network and processes that speak JSON."""

    def __init__(self, hosts: int, rate: str = "1gbit", *, ipv4: bool = True) -> None:
        super().__init__(hosts, rate, prefix="ra", first_host=FIRST_HOST, hostname="ra-host-{}")
        self.ipv4 = ipv4

    def _build(self) -> None:
        super()._build()
        for i, ns in enumerate(self.names):
            sh("ip", "-n", ns, "addr", "add", f"{v6_address(i)}/64", "dev", "eth0", "nodad")
            if not self.ipv4:
                sh("ip", "-n", ns, "addr", "del", f"{self.address(i)}/24", "dev", "eth0")
        time.sleep(0.2)  # pragma: no mutate (IPv6 address becomes usable; nodad: no DAD wait)

    def add_management_network(self) -> None:
        """A second interface `eth1` on hosts 1.., each a point-to-point link to host 0 (the
        driver): host i is 198.51.100.(10+i)/24 there, host 0 is 198.51.100.1 on every link.
        Hosts 1.. reach host 0 over it, but not each other (they ARP on a link to host 0)."""
        ns0 = self.names[0]
        for i, ns in enumerate(self.names[1:], start=1):
            sh("ip", "-n", ns0, "link", "add", f"m{i}", "type", "veth",
               "peer", "name", "eth1", "netns", ns)  # fmt: skip
            sh("ip", "-n", ns0, "addr", "add", f"{MGMT}.1/32", "dev", f"m{i}")
            sh("ip", "-n", ns0, "link", "set", f"m{i}", "up")
            sh("ip", "-n", ns0, "route", "add", f"{MGMT}.{10 + i}/32", "dev", f"m{i}")
            sh("ip", "-n", ns, "addr", "add", f"{MGMT}.{10 + i}/24", "dev", "eth1")
            sh("ip", "-n", ns, "link", "set", "eth1", "up")

    def nft(self, host: int, *rule: str) -> None:
        sh("ip", "netns", "exec", self.names[host], "nft", *rule)

    def start(self, host: int, role: str, spec: dict, hosts_file: Path | None = None):
        """`role` (server / rank) with `spec` in host `host`; stdout is piped (one JSON line)."""
        argv = [sys.executable, "-m", "tests.integration.netns_ring", role, json.dumps(spec)]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        if hosts_file is not None:  # own hostname and /etc/hosts: UTS + mount namespaces
            become = [sys.executable, str(REPO / "bench" / "_netns.py"), "--become", str(host),
                      "--hostname", self.hostname.format(host), "--hosts", str(hosts_file), "--"]  # fmt: skip
            argv = ["unshare", "--uts", "--mount", "--fork", "--kill-child", *become, *argv]
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.names[host], *argv], cwd=REPO, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.procs.append(proc)
        return proc


def read_json(proc: subprocess.Popen, timeout: float) -> dict:
    """The process's first stdout line as JSON (its stderr tail when it printed none)."""
    import selectors

    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise TimeoutError(f"no line within {timeout} s from {proc.args}")
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=10)
        raise RuntimeError(
            f"{proc.args[-2]} exited {proc.returncode}: {proc.stderr.read()[-3000:]}"
        )
    return json.loads(line)


def run_ring(hosts: Hosts, server: tuple[int, dict], ranks: list[tuple[int, dict]],
             timeout: float = 120.0, hosts_files: dict[int, Path] | None = None) -> list[dict]:  # fmt: skip
    """A rendezvous server in host server[0] and one rank per (host, spec); the ranks'
    JSON results, by rank. Every spec gets the server's address and the secret.
    `hosts_files`: host -> its own /etc/hosts (and hostname ra-host-N), for name tests."""
    files = hosts_files or {}
    srv = hosts.start(server[0], "server", {**server[1], "world": len(ranks)}, files.get(server[0]))
    try:
        info = read_json(srv, 30)
        procs = [
            hosts.start(h, "rank", {**spec, "rank": r, "world": len(ranks), **info}, files.get(h))
            for r, (h, spec) in enumerate(ranks)
        ]
        return [read_json(p, timeout) for p in procs]
    finally:
        srv.stdin.close()
        srv.wait(timeout=10)


# -- inside a namespace ---------------------------------------------------------------------
def serve(spec: dict) -> None:
    from dlcore.collective import RendezvousServer, new_job_secret

    secret = new_job_secret()
    server = RendezvousServer(
        secret, spec["world"], host=spec.get("host", "0.0.0.0"),
        advertise_host=spec.get("advertise_host"),
    )  # fmt: skip
    print(json.dumps({"server": list(server.address), "secret": secret.hex()}), flush=True)
    sys.stdin.read()  # until the test closes our stdin
    server.close()


def rank(spec: dict) -> None:
    import numpy as np

    from dlcore.collective import CommConfig, Communicator, Member

    config = {
        k: spec[k] for k in ("listen_host", "advertise_host", "advertise_interface") if k in spec
    }
    config = CommConfig(
        connect_timeout=spec.get("connect_timeout", 20.0), op_timeout=spec.get("op_timeout", 20.0),
        transport="socket", topology="flat", **config,
    )  # fmt: skip
    member = Member(spec["rank"], spec["world"])
    out: dict = {"rank": spec["rank"]}
    t0 = time.monotonic()
    try:
        server = (spec["server"][0], int(spec["server"][1]))
        with Communicator.join(server, bytes.fromhex(spec["secret"]), member, config) as comm:
            out["joined_s"] = time.monotonic() - t0
            out["peers"] = [list(p) for p in comm.peers]
            buf = np.ones(spec.get("length", 1000), dtype=np.float32)
            times = []
            for _ in range(spec.get("repeats", 1)):
                buf[:] = 1.0
                t = time.perf_counter()
                comm.all_reduce(buf)
                times.append(time.perf_counter() - t)
            out["sum"] = [float(buf.min()), float(buf.max())]
            out["allreduce_s"] = times
    except Exception as exc:  # reported to the test, which asserts on it
        out["error"] = f"{type(exc).__name__}: {exc}"
    out["seconds"] = time.monotonic() - t0
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    {"server": serve, "rank": rank}[sys.argv[1]](json.loads(sys.argv[2]))
