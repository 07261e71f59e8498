"""The one way winnow starts or joins Ray: a private local instance on loopback with token auth on, or
the cluster the user names (`--address` / `RAY_ADDRESS`)."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
# A named cluster must accept a TCP connection within this long; Ray itself retries for minutes.
PROBE_TIMEOUT_S = 10.0
# The port a cluster address means when it names none: the GCS's, or the Ray Client server's (ray://).
DEFAULT_PORTS = {"": 6379, "ray": 10001}


class RayUnreachableError(ConnectionError):
    """The cluster an address names does not answer: refused before `ray.init`, which would retry for
    minutes printing Ray's own C++ log lines. `from_env` says whether RAY_ADDRESS named it."""

    def __init__(self, address: str, reason: str, *, from_env: bool):
        super().__init__(f"cannot reach the Ray cluster at {address}: {reason}")
        self.address = address
        self.reason = reason
        self.from_env = from_env


def start_local_ray(num_cpus: int | None = None, *, log_to_driver: bool = True) -> None:
    """Start a private Ray on this machine that listens on loopback only.

    A local instance is nobody else's business: every Ray service (GCS, raylet, object manager,
    workers, dashboard agent) binds to 127.0.0.1, the dashboard is off, metrics collection and
    its Prometheus exporter are off (nothing needs them, and they are what crashed a run), usage
    stats are off, and Ray's token authentication stays on. Joining a cluster is the caller's
    explicit choice (`ray.init(address=...)`), never this function.
    """
    import ray
    from ray._private import ray_constants

    # Ray turns a loopback node address into the machine's outward address unless it believes
    # clusters are disabled (what it does on macOS and Windows): believe so while this starts.
    cluster_enabled = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    try:
        ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=False,
            log_to_driver=log_to_driver,
            configure_logging=False,
            _node_ip_address=LOOPBACK,
            _system_config={"enable_metrics_collection": False},
        )
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = cluster_enabled


def connect_ray(
    address: str | None = None, num_cpus: int | None = None, *, log_to_driver: bool = True
) -> None:
    """Join `address` (or RAY_ADDRESS) when given, else start a loopback-only local Ray; no-op if up.

    Without an address we start "local" explicitly: Ray would otherwise attach to whatever cluster
    its `ray_current_cluster` file names (a `ray start` on this machine), which a plain run never means.
    A named cluster is probed first (`check_reachable`): one that does not answer is a
    RayUnreachableError in seconds, not minutes of Ray retrying.
    """
    import ray

    if ray.is_initialized():
        return
    from_env = not address
    address = address or os.environ.get("RAY_ADDRESS")
    if address and address != "local":
        check_reachable(address, from_env=from_env)
        ray.init(address=address, log_to_driver=log_to_driver, configure_logging=False)
    else:
        start_local_ray(num_cpus, log_to_driver=log_to_driver)


def check_reachable(address: str, *, from_env: bool, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Raise RayUnreachableError unless the cluster `address` names accepts a TCP connection.

    `auto` and schemes other than `ray://` are left to Ray: they name no host and port of their own.
    """
    try:
        endpoint = cluster_endpoint(address)
    except ValueError as e:
        raise RayUnreachableError(address, str(e), from_env=from_env) from None
    if endpoint is None:
        return
    reason = tcp_probe(*endpoint, timeout_s=timeout_s)
    if reason is not None:
        raise RayUnreachableError(address, reason, from_env=from_env)


def cluster_endpoint(address: str) -> tuple[str, int] | None:
    """The (host, port) a cluster address connects to first, or None for one with no host (`auto`);
    ValueError for one that is not HOST[:PORT]."""
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "", address
    if address == "auto" or scheme.lower() not in DEFAULT_PORTS:
        return None
    parts = urlsplit(f"//{rest}")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if not parts.hostname or port == -1:
        raise ValueError("it is not HOST:PORT")
    return parts.hostname, port if port is not None else DEFAULT_PORTS[scheme.lower()]


def tcp_probe(host: str, port: int, *, timeout_s: float) -> str | None:
    """Why a TCP connection to host:port cannot be made within `timeout_s`; None when it can."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    except socket.gaierror:
        return f"unknown host {host!r}"
    except OSError as e:
        return (e.strerror or str(e)).lower()
