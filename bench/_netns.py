"""Network-namespace "hosts" on one machine, for bench/netns_cluster.py and its tests.

Owns: the TEST-NET addressing (192.0.2.10+i by default, nothing else), building and
tearing down H host namespaces plus one bridge namespace (veth pairs, tbf shaping),
spawning a process in a host (its netns plus fresh UTS and mount namespaces), and what
such a process does first (own hostname, private tmpfs on /dev/shm). Needs root, `ip`,
`tc`, `unshare`.

Two users at once on one machine stay apart by `prefix` (namespace names), `first_host`
(the last octet of host 0's address: 10 = 192.0.2.10+, 130 = 192.0.2.130+) and
`hostname` (the UTS name pattern). Every cluster has its own bridge namespace, so even
equal addresses would not meet; distinct ones keep logs and captures unambiguous.

`python bench/_netns.py --become HOST --hostname NAME [--hosts FILE] -- CMD...` (run by
Cluster.spawn_cmd inside a host's namespaces) does become_host, then execs CMD.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

SUBNET = "192.0.2"  # TEST-NET-1 (RFC 5737): documentation only, never routed


FIRST_HOST = 10  # host i is SUBNET.(FIRST_HOST + i)


def address(host: int, first_host: int = FIRST_HOST) -> str:
    if not 1 <= first_host + host <= 254:
        raise ValueError(f"host {host} from .{first_host} leaves {SUBNET}.1-254")
    return f"{SUBNET}.{first_host + host}"


def missing_requirement() -> str:
    """Why namespaces cannot be built here ("" when they can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth, tc, mount)"
    for tool in ("ip", "tc", "unshare", "mount"):
        if shutil.which(tool) is None:
            return f"needs the `{tool}` command"
    return ""


# -- the cluster --------------------------------------------------------------------------
class Cluster:
    """H host namespaces + one bridge namespace; `with Cluster(...)` tears all down."""

    def __init__(
        self,
        hosts: int,
        rate: str,
        latency: str = "50ms",
        no_idle_slow_start: bool = False,
        *,
        prefix: str = "dlc",
        first_host: int = FIRST_HOST,
        hostname: str = "netns-host-{}",
    ) -> None:
        self.no_idle_slow_start = no_idle_slow_start
        self.prefix = f"{prefix}{os.getpid()}"
        self.first_host, self.hostname = first_host, hostname
        self.hosts, self.rate, self.latency = hosts, rate, latency
        self.bridge = f"{self.prefix}br"
        self.names = [f"{self.prefix}h{i}" for i in range(hosts)]
        self.created: list[str] = []
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> Cluster:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ns(self, name: str) -> None:
        sh("ip", "netns", "add", name)
        self.created.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")

    def _build(self) -> None:
        self._ns(self.bridge)
        sh("ip", "-n", self.bridge, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.bridge, "link", "set", "br0", "up")
        for i, ns in enumerate(self.names):
            self._ns(ns)
            port = f"v{i}"
            sh("ip", "-n", self.bridge, "link", "add", port, "type", "veth",
                "peer", "name", "eth0", "netns", ns)  # fmt: skip
            sh("ip", "-n", self.bridge, "link", "set", port, "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", f"{self.address(i)}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            if self.no_idle_slow_start:  # per-namespace sysctl, as datacenter hosts set it
                sh("ip", "netns", "exec", ns, "sysctl", "-qw",
                    "net.ipv4.tcp_slow_start_after_idle=0")  # fmt: skip
            sh("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "eth0", "root",
                "tbf", "rate", self.rate, "burst", "256kb", "latency", self.latency)  # fmt: skip

    def address(self, host: int) -> str:
        return address(host, self.first_host)

    def port(self, host: int) -> str:
        """Host `host`'s port on the bridge (set it down to cut the host off)."""
        return f"v{host}"

    def pids(self, host: int) -> list[int]:
        """Every process in host `host`'s network namespace."""
        out = subprocess.run(
            ["ip", "netns", "pids", self.names[host]], capture_output=True, text=True, check=False
        ).stdout
        return [int(p) for p in out.split()]

    def hosts_file(self, path: Path) -> Path:
        """An /etc/hosts naming every host (bind-mounted in each host's mount namespace, so
        a JVM resolves its own hostname without touching the machine's /etc/hosts)."""
        lines = ["127.0.0.1 localhost"]
        lines += [f"{self.address(i)} {self.hostname.format(i)}" for i in range(self.hosts)]
        path.write_text("\n".join(lines) + "\n")
        return path

    def spawn_cmd(
        self, host: int, argv: list[str], log: Path, env: dict[str, str], hosts: Path | None
    ) -> subprocess.Popen:
        """`argv` in host `host` (netns + fresh UTS/mount ns, own hostname and /dev/shm).

        `unshare --kill-child`: killing the returned process kills `argv` too."""
        become = [sys.executable, __file__, "--become", str(host),
                  "--hostname", self.hostname.format(host)]  # fmt: skip
        if hosts is not None:
            become += ["--hosts", str(hosts)]
        wrapper = ["ip", "netns", "exec", self.names[host], "unshare", "--uts", "--mount",
                   "--fork", "--kill-child", *become, "--", *argv]  # fmt: skip
        with open(log, "ab") as out:
            proc = subprocess.Popen(wrapper, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.procs.append(proc)
        return proc

    def drops(self) -> int:
        """Packets the shapers dropped so far (all hosts)."""
        total = 0
        for ns in self.names:
            out = subprocess.run(
                ["ip", "netns", "exec", ns, "tc", "-s", "qdisc", "show", "dev", "eth0"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            for part in out.split("dropped ")[1:]:
                total += int(part.split(",")[0])
        return total

    def spawn(self, host: int, script: str, args: list[str], log: Path) -> subprocess.Popen:
        """`script --agent host args` in host `host`: its netns, fresh UTS and mount ns."""
        argv = [
            "ip", "netns", "exec", self.names[host], "unshare", "--uts", "--mount", "--fork",
            sys.executable, script, "--agent", str(host), *args,
        ]  # fmt: skip
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        for host in range(len(self.names)):  # whatever still runs in a host (JVMs, executors)
            if self.names[host] in self.created:
                for pid in self.pids(host):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                        os.kill(pid, signal.SIGCONT)
        for name in reversed(self.created):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        self.created = []


def sh(*argv: str) -> None:
    """Run a command; raise with its stderr when it fails."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` failed: {result.stderr.strip()}")


def become_host(host: int, hostname: str = "netns-host-{}", hosts: str | None = None) -> None:
    """In the fresh UTS + mount namespaces: own hostname, private /dev/shm (and /etc/hosts)."""
    sh("hostname", hostname.format(host))
    sh("mount", "--make-rprivate", "/")
    sh("mount", "-t", "tmpfs", "-o", "size=512m,mode=1777", "tmpfs", "/dev/shm")
    if hosts is not None:
        sh("mount", "--bind", hosts, "/etc/hosts")


def main(argv: list[str]) -> None:
    """--become HOST --hostname NAME [--hosts FILE] -- CMD...: become_host, then exec CMD."""
    split = argv.index("--")
    opts = dict(zip(argv[:split:2], argv[1:split:2], strict=True))
    become_host(int(opts["--become"]), opts["--hostname"], opts.get("--hosts"))
    os.execvp(argv[split + 1], argv[split + 1 :])


if __name__ == "__main__":
    main(sys.argv[1:])
