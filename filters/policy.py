"""The policy file: categories, their detectors, thresholds, actions and modes.

Validation fails closed: an unknown category, detector, score key or field is an
error that names the offending field (pydantic v2, ``extra="forbid"``). Each
category is judged on its own scores and threshold, so no setting of one
category can switch off another's blocking.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ACTIONS",
    "ACTION_RANK",
    "CATEGORIES",
    "DETECTOR_KEYS",
    "Category",
    "DetectorRef",
    "Policy",
    "parse_ref",
]

CATEGORIES = (
    "hate",
    "harassment",
    "sexual",
    "sexual_minors",
    "violence",
    "self_harm",
    "illicit",
    "profanity",
    "pii",
    "secrets",
    "spam",
    "low_quality",
    "language",
)
ACTIONS = ("allow", "flag", "redact", "drop")
ACTION_RANK = {a: i for i, a in enumerate(ACTIONS)}  # drop > redact > flag > allow
HARM_KEYS = ("hate", "harassment", "sexual", "violence", "self_harm", "profanity", "toxicity")
# What the bundled toxicity classifier scores (filters/detectors/toxicity.py); a ref to another key
# would silently score 0, so it is a validation error.
TOXICITY_KEYS = ("hate", "profanity", "toxicity")
TERM_KEYS = (
    "hate",
    "harassment",
    "sexual",
    "sexual_minors",
    "violence",
    "self_harm",
    "illicit",
    "profanity",
    "spam",
)
# detector name -> (score keys a ref may name, default key when the ref has no ":key")
DETECTOR_KEYS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "toxicity": (TOXICITY_KEYS, None),
    "detoxify": (HARM_KEYS, None),
    "terms": (TERM_KEYS, None),
    "pii": (("pii", "secrets"), "pii"),
    "quality": (("low_quality",), "low_quality"),
    "urls": (("urls",), "urls"),
    "langid": (("lang_score",), "lang_score"),
}
SPAN_DETECTORS = frozenset({"terms", "pii"})

Action = Literal["drop", "redact", "flag", "allow"]
Mode = Literal["pretrain", "runtime"]


def parse_ref(ref: str) -> tuple[str, str]:
    """``"toxicity:hate"`` -> ("toxicity", "hate"); ``"pii"`` -> ("pii", "pii"). Raises ValueError if unknown."""
    name, _, key = ref.partition(":")
    if name not in DETECTOR_KEYS:
        raise ValueError(f"unknown detector {name!r} in {ref!r} (known: {', '.join(sorted(DETECTOR_KEYS))})")
    keys, default = DETECTOR_KEYS[name]
    if not key:
        if default is None:
            raise ValueError(f"detector {name!r} needs a score key, e.g. '{name}:{keys[0]}' (got {ref!r})")
        key = default
    if key not in keys:
        raise ValueError(
            f"unknown score key {key!r} for detector {name!r} in {ref!r} (known: {', '.join(keys)})"
        )
    return name, key


class DetectorRef(BaseModel):
    """One detector score feeding a category, optionally with its own threshold and action.

    ``action`` (default: the category's) lets one category treat its signals differently, e.g. a
    classifier score alone only flags while a blocklist hit or a high-confidence score drops.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    ref: str
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    action: Action | None = None

    @field_validator("ref")
    @classmethod
    def _known(cls, v: str) -> str:
        parse_ref(v)
        return v

    @property
    def detector(self) -> str:
        return parse_ref(self.ref)[0]

    @property
    def key(self) -> str:
        return parse_ref(self.ref)[1]


class Category(BaseModel):
    """A category: fires when any of its detector scores reaches its threshold."""

    model_config = ConfigDict(extra="forbid")
    detectors: list[DetectorRef] = Field(min_length=1)
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    action: Action
    applies_to: list[Mode] = Field(min_length=1)
    keep: list[str] | Literal["all"] | None = None  # language only
    min_score: float | None = Field(default=None, ge=0.0, le=1.0)  # language only
    # A redact category that fired without spans (a classifier score): what to do instead.
    on_unredactable: Literal["drop", "flag"] = "drop"
    # Judge this category only on documents whose detected language (langid) is listed; others get
    # score 0 and the category's detectors are not run on them (e.g. English-only quality heuristics).
    languages: list[str] | None = None

    @field_validator("detectors", mode="before")
    @classmethod
    def _coerce_refs(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"ref": x} if isinstance(x, str) else x for x in v]
        return v


class TermsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    extra_terms: dict[str, list[str]] = Field(default_factory=dict)
    extra_weight: float = Field(default=1.0, gt=0.0)

    @field_validator("extra_terms")
    @classmethod
    def _known_categories(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for cat in v:
            if cat not in TERM_KEYS:
                raise ValueError(f"unknown term category {cat!r} (known: {', '.join(TERM_KEYS)})")
        return v


class UrlsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    domains: list[str] = Field(default_factory=list)
    domain_files: list[str] = Field(default_factory=list)
    urls: list[str] = Field(default_factory=list)
    use_fineweb_lists: bool = True
    soft_word_threshold: int = Field(default=2, ge=1)


class DetectorsConfig(BaseModel):
    """Constructor options per detector (passed as keyword arguments)."""

    model_config = ConfigDict(extra="forbid")
    terms: TermsConfig = Field(default_factory=TermsConfig)
    urls: UrlsConfig = Field(default_factory=UrlsConfig)
    toxicity: dict[str, Any] = Field(default_factory=dict)
    detoxify: dict[str, Any] = Field(default_factory=dict)
    langid: dict[str, Any] = Field(default_factory=dict)
    quality: dict[str, Any] = Field(default_factory=dict)
    pii: dict[str, Any] = Field(default_factory=dict)


class Policy(BaseModel):
    """A whole policy file."""

    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    # JSON of calibrated thresholds for classifier refs without an explicit threshold:
    # {"hate": 0.41, ...} or {"thresholds": {...}}; relative paths are from the policy file.
    calibration: str | None = None
    categories: dict[str, Category]
    detectors: DetectorsConfig = Field(default_factory=DetectorsConfig)
    calibrated: dict[str, float] = Field(default_factory=dict, exclude=True)

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, v: dict[str, Category]) -> dict[str, Category]:
        for name, cat in v.items():
            if name not in CATEGORIES:
                raise ValueError(f"unknown category {name!r} (known: {', '.join(CATEGORIES)})")
            is_lang = name == "language"
            if is_lang:
                if cat.keep is None or cat.min_score is None:
                    raise ValueError("category 'language' needs 'keep' (a list or 'all') and 'min_score'")
                if cat.languages is not None:
                    raise ValueError("category 'language': use 'keep', not 'languages'")
                if any(r.detector != "langid" for r in cat.detectors):
                    raise ValueError("category 'language' takes only the 'langid' detector")
            else:
                if cat.keep is not None or cat.min_score is not None:
                    raise ValueError(f"category {name!r}: 'keep' and 'min_score' belong to 'language' only")
                bad = [r.ref for r in cat.detectors if r.detector == "langid"]
                if bad:
                    raise ValueError(f"category {name!r}: 'langid' only feeds the 'language' category")
            if cat.languages is not None and not cat.languages:
                raise ValueError(f"category {name!r}: 'languages' must list at least one language")
            actions = {r.action or cat.action for r in cat.detectors}
            if "redact" in actions and not any(r.detector in SPAN_DETECTORS for r in cat.detectors):
                raise ValueError(f"category {name!r}: action 'redact' needs a span detector (terms or pii)")
        return v

    @model_validator(mode="after")
    def _order(self) -> Policy:
        # Categories in the canonical order, so verdicts never depend on file order.
        self.categories = {c: self.categories[c] for c in CATEGORIES if c in self.categories}
        return self

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Read and validate a YAML policy; calibration thresholds are read when the file exists."""
        path = Path(path)
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a policy is a mapping with 'categories'")
        policy = cls.model_validate(data)
        if policy.calibration:
            cal = Path(policy.calibration)
            if not cal.is_absolute():
                cal = path.parent / cal
                if not cal.exists():
                    cal = Path.cwd() / policy.calibration
            if cal.exists():
                policy.calibrated = _read_calibration(cal)
        return policy

    def threshold_for(self, category: str, ref: DetectorRef) -> float:
        """Explicit ref threshold > calibrated classifier threshold > the category's threshold."""
        if ref.threshold is not None:
            return ref.threshold
        if ref.detector in ("toxicity", "detoxify"):
            for k in (f"{ref.detector}:{ref.key}", ref.key):
                if k in self.calibrated:
                    return self.calibrated[k]
        return self.categories[category].threshold

    def action_for(self, category: str, ref: DetectorRef) -> str:
        """The ref's own action, else its category's."""
        return ref.action or self.categories[category].action

    def active(self, mode: str) -> dict[str, Category]:
        if mode not in ("pretrain", "runtime"):
            raise ValueError(f"mode must be 'pretrain' or 'runtime', got {mode!r}")
        return {n: c for n, c in self.categories.items() if mode in c.applies_to}


def _read_calibration(path: Path) -> dict[str, float]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and isinstance(data.get("thresholds"), dict):
        data = data["thresholds"]
    if not isinstance(data, dict):
        raise ValueError(f"{path}: calibration must be a JSON object of thresholds")
    out = {}
    for k, v in data.items():
        if isinstance(v, (int, float)) and 0.0 <= float(v) <= 1.0:
            out[str(k)] = float(v)
    return out
