"""The one way winnow starts or joins Ray: a private local instance on loopback with token auth on, or
the cluster the user names (`--address` / `RAY_ADDRESS`)."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
# A named cluster must accept a TCP connection within this long; Ray itself retries for minutes.
PROBE_TIMEOUT_S = 10.0
# What to give instead of an address Ray cannot join (it assumes no port for a bare host).
ADDRESS_HINT = "give HOST:PORT (the head's GCS port, 6379 by default) or ray://HOST:10001"
NO_CLUSTER = "no running Ray cluster found; start one with `ray start --head`"
DASHBOARD_URL = (
    "that is the dashboard / job-submission URL (for `ray job submit`); give HOST:6379 or ray://HOST:10001"
)


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
    A named cluster, or the one `auto` finds, is probed first (`cluster_to_join`): one that does not
    answer, or an address Ray would refuse with a traceback, is a RayUnreachableError in seconds, not
    minutes of Ray retrying.
    """
    import ray

    if ray.is_initialized():
        return
    from_env = not address
    target = cluster_to_join(address or os.environ.get("RAY_ADDRESS"), from_env=from_env)
    if target is None:
        start_local_ray(num_cpus, log_to_driver=log_to_driver)
    else:
        ray.init(address=target, log_to_driver=log_to_driver, configure_logging=False)


def cluster_to_join(address: str | None, *, from_env: bool) -> str | None:
    """The address to give `ray.init`, its cluster answering (RayUnreachableError otherwise); None
    for no address or `local`, which mean our own local Ray."""
    if address == "auto":
        address = discover_cluster(from_env=from_env)
    elif address and address != "local":
        check_reachable(address, from_env=from_env)
    return address if address and address != "local" else None


def discover_cluster(*, from_env: bool) -> str:
    """The address `auto` stands for, found as `ray.init` finds it (RAY_ADDRESS, this machine's last
    `ray start`, a running raylet) and probed like a named one: Ray would wait a minute on a stale one."""
    from ray._private.services import get_ray_address_from_environment

    try:
        found = get_ray_address_from_environment("auto", None)
    except ConnectionError:
        raise RayUnreachableError("auto", NO_CLUSTER, from_env=from_env) from None
    if found != "local":
        try:
            check_reachable(found, from_env=from_env)
        except RayUnreachableError as e:
            reason = f"{e.reason} at {found}, the cluster Ray found for it"
            raise RayUnreachableError("auto", reason, from_env=from_env) from None
    return found


def check_reachable(address: str, *, from_env: bool, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Raise RayUnreachableError unless the cluster `address` names accepts a TCP connection.

    Schemes other than `ray://` (a Ray Client plugin such as `anyscale://`) are left to Ray.
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
    """The (host, port) a cluster address connects to first, or None for a client plugin's scheme.

    ValueError, saying what to give, for what `ray.init` would refuse with a traceback or misread: the
    dashboard's http(s) URL, or no HOST:PORT (Ray gives a bare host no port, nor does Ray Client).
    """
    scheme, sep, rest = address.partition("://")
    scheme = scheme.lower() if sep else ""
    if scheme in ("http", "https"):
        raise ValueError(DASHBOARD_URL)
    if scheme not in ("", "ray"):
        return None
    parts = urlsplit(f"//{rest if sep else address}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise ValueError(f"it is not HOST:PORT; {ADDRESS_HINT}")
    return parts.hostname, port


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
