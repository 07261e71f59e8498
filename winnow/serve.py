"""``winnow serve``: its arguments, the config they make, usage errors and the serve loop's start.

The command line wires ``add_arguments(parser)`` and ``run(args) -> int``; the server itself
(``server.config.ServeConfig``, ``server.app.create_app``, ``server.app.serve``) is the library in
``server/``. Moved from ``server/cli.py`` (issue 16).
"""

from __future__ import annotations

import argparse
import errno
import socket
import sys
from pathlib import Path
from typing import Any

import yaml

from kit.yaml_file import YamlFileError
from server.config import ServeConfig

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML serve config (flags override it)")
    parser.add_argument("--checkpoint", help="trainer output / checkpoint directory (bundled-model backend)")
    parser.add_argument(
        "--upstream", dest="upstream_url", help="OpenAI-compatible base URL to proxy, e.g. http://h:8001/v1"
    )
    parser.add_argument("--upstream-model", help="model name sent upstream")
    parser.add_argument("--policy", help="policy YAML (default: the shipped policy, configs/policy.yaml)")
    parser.add_argument("--host", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 8000)")
    parser.add_argument("--model-name", help="model id reported to clients")
    parser.add_argument("--audit-log", help="JSONL file of every intervention")
    parser.add_argument(
        "--audit-key-file",
        help="HMAC key of the audit log's text digests (default AUDIT_LOG.key, created 0600; "
        "$WINNOW_AUDIT_KEY overrides)",
    )
    parser.add_argument(
        "--api-key", action="append", dest="api_keys", help="accepted Bearer key (repeatable)"
    )
    parser.add_argument("--no-filter", action="store_true", help="serve unfiltered (benchmark baseline only)")
    parser.add_argument("--no-prompt-checks", action="store_true", help="do not check prompts")
    parser.add_argument("--fail-open", action="store_true", help="let answers pass when a detector errors")
    parser.add_argument("--device", help="torch device for the checkpoint backend")


def config_from_args(args: argparse.Namespace) -> ServeConfig:
    overrides = {
        k: getattr(args, k, None)
        for k in (
            "checkpoint",
            "upstream_url",
            "upstream_model",
            "policy",
            "host",
            "port",
            "model_name",
            "audit_log",
            "audit_key_file",
            "api_keys",
            "device",
        )
    }
    if getattr(args, "no_filter", False):
        overrides["filter_enabled"] = False
    if getattr(args, "no_prompt_checks", False):
        overrides["prompt_checks"] = False
    if getattr(args, "fail_open", False):
        overrides["fail_closed"] = False
    if overrides.get("upstream_url") and "backend" not in overrides:
        overrides["backend"] = "upstream"
    if getattr(args, "config", None):
        return ServeConfig.from_yaml(args.config, **overrides)
    return ServeConfig.model_validate({k: v for k, v in overrides.items() if v is not None})


class _UsageError(Exception):
    """A setup mistake: printed as one ``error:`` line, exit status 2."""


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; a setup mistake (config, paths, port, audit key) is one ``error:`` line,
    exit 2, before uvicorn starts."""
    from server.app import serve

    try:
        cfg = _config(args)
        sockets = _bind(cfg.host, cfg.port)  # before the model loads: a taken port is told at once
        try:
            app = _app(cfg)
            _listen(sockets, cfg.host, cfg.port)
        except BaseException:
            _close(sockets)
            raise
    except _UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    fast_only = fast_tier_only(_filter_of(app))
    serve(cfg, app, sockets=sockets, on_ready=lambda addresses: _announce(cfg, addresses, fast_only))
    return 0


def _config(args: argparse.Namespace) -> ServeConfig:
    from pydantic import ValidationError

    from kit.validation import field_errors

    _check_backend_flags(args)
    try:
        cfg = config_from_args(args)
    except ValidationError as e:
        first = field_errors(e, ServeConfig, top_level="serve config")[0]
        where = first.path
        if where == "upstream_url" and getattr(args, "upstream_url", None):
            where = "--upstream"
        raise _UsageError(f"{where}: {first.message} (see `winnow serve --help`)") from None
    except YamlFileError as e:  # the --config file: missing, unreadable, not YAML, not a mapping
        raise _UsageError(str(e)) from None
    if not Path(cfg.policy).is_file():
        raise _UsageError(f"policy file {cfg.policy} not found; pass --policy PATH")
    _check_audit_log(cfg.audit_log)
    return cfg


def _check_backend_flags(args: argparse.Namespace) -> None:
    """One model source: with both flags the checkpoint was silently ignored; with neither (and no
    --config) the config's own message names a field, not the flags to pass."""
    checkpoint, upstream = getattr(args, "checkpoint", None), getattr(args, "upstream_url", None)
    if checkpoint and upstream:
        raise _UsageError("give --checkpoint or --upstream, not both")
    if not checkpoint and not upstream and not getattr(args, "config", None):
        raise _UsageError(
            "no model to serve: pass --checkpoint DIR (a `winnow train` output) or --upstream URL"
        )


def _check_audit_log(path: str | None) -> None:
    """Refuse an audit log that cannot be a file at start; found at the first intervention it was a
    500 per request (a directory) or "File exists" (a file above it)."""
    from pipeline.config import ConfigError
    from winnow.commands import check_output_path

    if path is None:
        return
    if Path(path).is_dir():
        raise _UsageError(f"--audit-log {path} is a directory; give a file path")
    try:
        check_output_path(path, "--audit-log", directory=False)
    except ConfigError as e:
        raise _UsageError(str(e)) from None


def _bind(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to ``host:port``, handed to uvicorn: a taken port or a wrong host is one ``error:``
    line before anything loads (uvicorn logged it after start-up and exited 3). They listen only once
    the app is built (``_listen``), so until then a client is refused, not left waiting."""
    try:
        return _bind_all(host, port)
    except (OSError, UnicodeError) as e:  # UnicodeError: a host name IDNA cannot encode
        raise _UsageError(_cannot_bind(host, port, e)) from None


def _listen(sockets: list[socket.socket], host: str, port: int) -> None:
    """Start listening; another server may have taken the port while the model loaded (two sockets with
    SO_REUSEADDR may both bind a port, but only one may listen on it)."""
    try:
        for sock in sockets:
            sock.listen(2048)  # uvicorn's default backlog
    except OSError as e:
        raise _UsageError(_cannot_bind(host, port, e)) from None


_PORT_0_TRIES = 5  # --port 0: the first family's free port may be taken in another family


def _bind_all(host: str, port: int) -> list[socket.socket]:
    """A bound socket per address of ``host`` (as asyncio's ``create_server``: each address once, and
    ``""`` every interface); OSError (``socket.gaierror`` included) when one cannot be made."""
    # asyncio read "" as None (all interfaces); getaddrinfo("") is "Name or service not known"
    found = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    infos = _supported(list(dict.fromkeys(found)))
    for _ in range(_PORT_0_TRIES - 1):
        try:
            return _bind_each(infos, port)
        except OSError as e:
            if port != 0 or e.errno != errno.EADDRINUSE:
                raise
    return _bind_each(infos, port)


def _supported(infos: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The entries whose address family this kernel has, as asyncio skips the others: ``""`` resolves
    to 0.0.0.0 and :: also where IPv6 is off. All of them when none is (the bind then says why)."""
    usable = [info for info in infos if _family_supported(info[0])]
    return usable or infos


def _family_supported(family: int) -> bool:
    """Whether a socket of ``family`` can be made (EAFNOSUPPORT where the kernel has no IPv6)."""
    try:
        socket.socket(family, socket.SOCK_STREAM).close()
    except OSError:
        return False
    return True


def _bind_each(infos: list[tuple[Any, ...]], port: int) -> list[socket.socket]:
    """A bound socket per ``getaddrinfo`` entry. With port 0 the others take the first socket's port:
    each would get its own random one (``localhost`` as 127.0.0.1 and ::1: one server, two ports)."""
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _name, address in infos:
            if sockets and port == 0:
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sockets.append(_bound(family, kind, proto, address))
    except OSError:
        _close(sockets)
        raise
    return sockets


def _bound(family: int, kind: int, proto: int, address: tuple[Any, ...]) -> socket.socket:
    """A socket bound as asyncio's ``create_server`` binds it.

    SO_REUSEADDR (asyncio's default) lets a restart bind while the last run's connections are in
    TIME_WAIT, and does not hide a running server: Linux refuses to bind a port another socket listens
    on (EADDRINUSE), which is the check."""
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def _free_port(host: str, port: int) -> str:
    """A nearby port free on ``host`` right now, for the message (else a placeholder)."""
    for candidate in range(port + 1, min(port + 20, 65535) + 1):
        try:
            _close(_bind_all(host, candidate))
        except OSError:
            continue
        return str(candidate)
    return "PORT"


def _cannot_bind(host: str, port: int, e: Exception) -> str:
    """The error line of an address that cannot be served, with what to pass instead."""
    if isinstance(e, OSError) and e.errno == errno.EADDRINUSE:
        return f"port {port} is in use; pass --port {_free_port(host, port)} or stop the other server"
    fix = (
        "pass a --port of 1024 or higher"
        if isinstance(e, PermissionError)
        else "pass --host with an address of this machine, e.g. 127.0.0.1 or 0.0.0.0"
    )
    return f"cannot listen on {host}:{port}: {_reason(e)}; {fix}"


def _close(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


def _filter_of(app: Any) -> Any:
    """The filter an app built by `server.app.create_app` serves with (None when it holds none)."""
    state = getattr(getattr(app, "state", None), "winnow", None)
    return getattr(state, "filter", None)


def fast_tier_only(filter: Any) -> bool:
    """Whether the served policy's harm classifier judges without its encoder tier (not installed, or turned off);
    False without a filter (an unfiltered server, or an app that holds none)."""
    harm = None if filter is None else filter.detectors.get("harm")
    return harm is not None and harm.encoder is None


def _announce(cfg: ServeConfig, addresses: list[tuple[Any, ...]], fast_only: bool = False) -> None:
    """The start-up line (what serves, under which policy, where the audit goes), after a warning for
    each protection that is off or weaker: a server run unfiltered by mistake should say so where it starts."""
    if not cfg.filter_enabled:
        print("warning: the filter is off (--no-filter): answers reach clients unchecked", file=sys.stderr)
    elif not cfg.fail_closed:
        print(
            "warning: fail-open (--fail-open): an answer passes unchecked when a detector errors",
            file=sys.stderr,
        )
    if cfg.filter_enabled and fast_only:
        print(
            "warning: the harm classifier runs without its encoder tier: it stops about 4 in 10 clean prose "
            'answers (docs/SERVING.md, "Lines"); `make` installs the encoder',
            file=sys.stderr,
        )
    where = ", ".join(_url(a) for a in addresses)
    backend = (
        f"checkpoint {cfg.checkpoint}" if cfg.backend == "checkpoint" else f"upstream {cfg.upstream_url}"
    )
    policy = f"policy {cfg.policy}" if cfg.filter_enabled else "filter off"
    audit = f"audit log {cfg.audit_log}" if cfg.audit_log else "no audit log"
    print(f"winnow serve: ready on {where}; {backend}; {policy}; {audit}", file=sys.stderr)


def _url(address: tuple[Any, ...]) -> str:
    host, port = address[0], address[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _app(cfg: ServeConfig) -> Any:
    """The app, with what the user passed (checkpoint, policy, audit paths) checked on the way."""
    from server.app import create_app
    from server.audit import AuditKeyError
    from server.backends import BackendSetupError
    from server.config import ServeConfigError

    try:
        return create_app(cfg)
    except (BackendSetupError, AuditKeyError, ServeConfigError) as e:
        raise _UsageError(str(e)) from None
    except OSError as e:
        raise _UsageError(
            f"{e.filename or 'file'}: {_reason(e)}; check the path and its permissions"
        ) from None
    except (ValueError, yaml.YAMLError) as e:
        reason = _reason(e)
        if not reason.startswith("policy "):  # a PolicyError names the policy file itself
            reason = f"policy {cfg.policy}: {reason}"
        raise _UsageError(f"{reason}; fix the policy file") from None


def _reason(e: Exception) -> str:
    """The first line of an error, bounded (never a traceback)."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return (str(e).splitlines() or [type(e).__name__])[0][:200]
