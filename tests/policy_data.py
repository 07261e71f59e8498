"""The shipped policy without its classifier entries, for tests whose verdicts must come from the
rules alone (terms, PII, URLs): stream exactness and phone detection do not depend on a model."""

from __future__ import annotations

from pathlib import Path

import yaml

from filters import Policy

SHIPPED = Path(__file__).resolve().parents[1] / "configs" / "policy.yaml"
CLASSIFIERS = ("harm", "toxicity")  # the detectors a rules-only policy leaves out


def _detector(entry: str | dict) -> str:
    return (entry if isinstance(entry, str) else entry["ref"]).split(":")[0]


def rules_only_policy_data() -> dict:
    """The shipped policy's YAML data without classifier entries or their calibration file."""
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    for key in [k for k in data if k.startswith("calibration")]:  # the calibration and its pin
        data.pop(key)
    for cat in data["categories"].values():
        cat["detectors"] = [d for d in cat["detectors"] if _detector(d) not in CLASSIFIERS]
    return data


def rules_only_policy() -> Policy:
    return Policy.model_validate(rules_only_policy_data())
