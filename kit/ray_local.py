"""The one way winnow starts or joins Ray: a private local instance on loopback with token auth on, or
the cluster the user names (`--address` / `RAY_ADDRESS`)."""

from __future__ import annotations

import os

LOOPBACK = "127.0.0.1"


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
    """
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address and address != "local":
        ray.init(address=address, log_to_driver=log_to_driver, configure_logging=False)
    else:
        start_local_ray(num_cpus, log_to_driver=log_to_driver)
