"""The local Ray a run starts listens on loopback only; nothing of it is reachable from the network."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp*


def _descendants(pid: int) -> list[int]:
    """`pid` and every process below it (Ray's GCS, raylet, agents and workers)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:  # the process ended while we looked
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += parents.get(p, [])
    return out


def _hex_address(hex_ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """A /proc/net/tcp address: 32-bit words in host (little-endian) order."""
    raw = bytes.fromhex(hex_ip)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    addr = ipaddress.ip_address(words)
    mapped = getattr(addr, "ipv4_mapped", None)
    return mapped or addr


def _listening_sockets() -> dict[str, tuple]:
    """Socket inode -> (address, port) of every listening TCP socket on this machine."""
    out = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == LISTEN:
                ip, port = fields[1].split(":")
                out[fields[9]] = (_hex_address(ip), int(port, 16))
    return out


def _listening_of(pids: list[int]) -> list[tuple[str, tuple]]:
    listening = _listening_sockets()
    found = []
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            targets = [os.readlink(fd) for fd in fd_dir.iterdir()]
        except OSError:
            continue
        for target in targets:
            inode = target[len("socket:[") : -1] if target.startswith("socket:[") else ""
            if inode in listening:
                found.append((name, listening[inode]))
    return found


def test_local_ray_listens_on_loopback_only(ray_session):
    @ray_session.remote
    def worker_pid() -> int:
        return os.getpid()

    ray_session.get(worker_pid.remote())  # a worker is up too, with its own servers
    sockets = _listening_of(_descendants(os.getpid()))
    names = {name for name, _ in sockets}
    assert "gcs_server" in names and "raylet" in names, sockets  # the probe sees Ray's servers
    exposed = [(name, str(ip), port) for name, (ip, port) in sockets if not ip.is_loopback]
    assert exposed == []


def test_local_ray_keeps_token_auth_and_exports_no_metrics(ray_session):
    from ray._private.authentication.authentication_utils import is_token_auth_enabled

    node = ray_session._private.worker._global_node
    assert node.node_ip_address == "127.0.0.1"
    assert is_token_auth_enabled()
    ports = {port for _, (_, port) in _listening_of(_descendants(os.getpid()))}
    assert node.metrics_export_port not in ports
