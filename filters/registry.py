"""Detector registry: policy detector names -> constructed detectors (imported lazily).

The classifier detectors live in their own modules and may carry heavy imports
(fastText, torch); they are imported only when a policy uses them. A policy that
names a detector whose module is missing fails at ``Filter`` construction with
an error naming it (fail closed), never silently scoring 0.
"""

from __future__ import annotations

import importlib
from typing import Any

from filters.detectors.base import Detector
from filters.policy import Policy

__all__ = ["DetectorUnavailable", "build_detector"]

# name -> (module, class)
_LAZY = {
    "harm": ("filters.detectors.harm", "HarmDetector"),
    "langid": ("filters.detectors.langid", "LangIdDetector"),
    "quality": ("filters.detectors.quality", "QualityDetector"),
    "toxicity": ("filters.detectors.toxicity", "ToxicityDetector"),
    "detoxify": ("filters.detectors.detoxify_backend", "DetoxifyDetector"),
}


class DetectorUnavailable(RuntimeError):
    """A policy names a detector that cannot be built here."""


def build_detector(name: str, policy: Policy, mode: str = "runtime") -> Any:
    """The detector ``name`` configured from ``policy.detectors.<name>`` (validated by the policy);
    ``mode`` is the policy's mode, for detectors that work differently per mode (harm)."""
    cfg = policy.detectors
    if name == "terms":
        from filters.terms import TermsDetector

        return TermsDetector(extra_terms=cfg.terms.extra_terms or None, extra_weight=cfg.terms.extra_weight)
    if name == "pii":
        from filters.pii import PIIDetector

        return PIIDetector(**cfg.options("pii"))
    if name == "urls":
        from filters.urls import UrlBlocklist

        return UrlBlocklist(**cfg.options("urls"))
    if name not in _LAZY:
        raise DetectorUnavailable(f"unknown detector {name!r}")
    module, cls_name = _LAZY[name]
    try:
        cls = getattr(importlib.import_module(module), cls_name)
    except (ImportError, AttributeError) as e:
        raise DetectorUnavailable(f"detector {name!r} ({module}.{cls_name}) is not available: {e}") from e
    options = cfg.options(name)
    if getattr(cls, "takes_mode", False):  # works differently per mode (e.g. harm's encoder scope)
        options["mode"] = mode
    det = cls(**options)
    if not isinstance(det, Detector):
        raise DetectorUnavailable(f"detector {name!r} does not implement the Detector protocol")
    return det
