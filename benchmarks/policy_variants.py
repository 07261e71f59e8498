"""The shipped policy as plain data, and variants of it with one change, for benchmarks that compare the
shipped chain with what it would be without a part (the harm classifier's cost, its operating points)."""

from __future__ import annotations

from collections.abc import Callable

import yaml

from filters.policy import default_policy_path


def shipped_policy_data() -> dict:
    """The packaged default policy (configs/policy.yaml links to it) as plain data."""
    return yaml.safe_load(default_policy_path().read_text(encoding="utf-8"))


def keep_detectors(data: dict, keep: Callable[[str], bool]) -> dict:
    """`data` with only the category entries whose detector name passes `keep`; categories left
    without an entry are removed."""
    for cat in data["categories"].values():
        cat["detectors"] = [
            d for d in cat["detectors"] if keep((d if isinstance(d, str) else d["ref"]).split(":")[0])
        ]
    data["categories"] = {n: c for n, c in data["categories"].items() if c["detectors"]}
    return data


def without_harm_classifier(data: dict) -> dict:
    """`data` with every harm classifier entry and the classifier's options removed (terms, PII, quality,
    language ID and the rest as they were)."""
    data = keep_detectors(data, lambda name: name != "harm")
    data["detectors"] = {n: o for n, o in (data.get("detectors") or {}).items() if n != "harm"}
    return data
