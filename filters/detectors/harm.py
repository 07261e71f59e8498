"""Fast-tier harm classifier: hashed word and character n-grams, one linear head per category.

Why this shape: the term lists are precise but blind to paraphrase, and the older toxicity model
reads raw text, so homoglyphs or leetspeak walk past it. This model reads exactly the view the term
rules read (`filters.normalize.normalize`, imported, never copied), so an obfuscated text and its
plain form get the same features.

Features: `filters.detectors.harm_features` (hashed word and character n-grams of the normalized
window, framing words masked, the spec pinned in the manifest); minor phrases:
`filters.detectors.harm_minors`. A head is `sigmoid(a * (x @ w + b) + c)`: logistic weights, then Platt scaling fitted on the dev split.
Nothing here uses pickle: the weights are a `.npz` read with `allow_pickle=False` whose sha256 the
manifest pins, and the calibration JSON is pinned the same way; a mismatch raises `HarmModelError`
(fail closed).

Long texts are scored in windows of about `window_chars` normalized characters cut at spaces; a
category's document score is the maximum over windows and the best window is reported as a raw
span, so a harmful paragraph inside a long clean page is found and located.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from filters import leet_words
from filters.detectors import harm_kernel
from filters.detectors.base import DetectorResult, HarmModelError, Span, read_verified
from filters.detectors.harm_features import (
    FRAMING_HASHES,
    FRAMING_WORDS,
    MAX_TOKEN,
    FeatureSpec,
    featurize,
    featurize_counted,
    folded_codepoints,
    linear_margins,
    window_bounds,
    word_chars,
)
from filters.detectors.harm_minors import MINOR_PHRASES, MINOR_WORDS, SEXUAL_WITH_MINOR, minor_windows
from filters.normalize import NormalizedText, normalize
from filters.policy import HARM_CATEGORIES

if TYPE_CHECKING:
    from filters.detectors.harm_tiers import WordCosts

__all__ = [
    "CATEGORIES",
    "DEFAULT_MANIFEST",
    "FRAMING_WORDS",
    "MINOR_PHRASES",
    "MINOR_WORDS",
    "FeatureSpec",
    "HarmDetector",
    "HarmModel",
    "HarmModelError",
    "HarmScore",
    "featurize",
    "featurize_counted",
    "linear_margins",
    "minor_windows",
    "window_bounds",
]

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
DEFAULT_MANIFEST = MODELS_DIR / "harm_fast.json"
ENCODER_MANIFEST = MODELS_DIR / "harm_encoder.json"
CATEGORIES = HARM_CATEGORIES
FORMAT = "winnow-harm-fast/1"
MAX_TEXT_CHARS = 2_000_000  # a longer text is scored on its first 2 M characters (bounded cost)


@dataclass(frozen=True)
class HarmScore:
    """One text's calibrated score per category and the raw span [start, end) of its best window."""

    scores: dict[str, float]
    spans: dict[str, tuple[int, int]]


_SCRATCH = threading.local()  # per thread: {n_features: zeroed bucket table} for `window_margins`


class HarmModel:
    """The loaded fast tier: verified weights, feature spec, Platt parameters and thresholds."""

    def __init__(self, manifest_path: str | Path = DEFAULT_MANIFEST):
        path = Path(manifest_path)
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise HarmModelError(f"harm model: cannot read manifest {path}: {e}") from e
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise HarmModelError(f"harm model: {path} is not a {FORMAT} manifest")
        try:
            self.spec = FeatureSpec.from_json(manifest["features"])
            self.categories = tuple(manifest["categories"])
            weights_file = path.parent / manifest["weights"]["file"]
            calib_file = path.parent / manifest["calibration"]["file"]
            weights_sha, calib_sha = manifest["weights"]["sha256"], manifest["calibration"]["sha256"]
        except (KeyError, TypeError, ValueError) as e:
            raise HarmModelError(f"harm model: manifest {path} lacks a field: {e}") from e
        self._load_weights(read_verified(weights_file, weights_sha, "weights"))
        self._load_calibration(read_verified(calib_file, calib_sha, "calibration"))
        self._char_ngrams = np.array(self.spec.char_ngrams, dtype=np.int64)
        self._word_ngrams = np.array([n in self.spec.word_ngrams for n in (1, 2)], dtype=np.bool_)
        self.window_margins("warm up", [(0, 7)])  # compile (or load the compiled loop) now, not in a request

    def _load_weights(self, data: bytes) -> None:
        import io

        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            weights, bias = npz["weights"], npz["bias"]
        n_cat = len(self.categories)
        if weights.shape != (self.spec.n_features, n_cat) or bias.shape != (n_cat,):
            raise HarmModelError(f"harm model: weights shape {weights.shape} does not fit the manifest")
        self.weights = weights.astype(np.float32)
        self.bias = bias.astype(np.float32)

    def _load_calibration(self, data: bytes) -> None:
        cal = json.loads(data)
        try:
            platt = cal["platt"]
            self.platt_a = np.array([platt[c]["a"] for c in self.categories], dtype=np.float64)
            self.platt_b = np.array([platt[c]["b"] for c in self.categories], dtype=np.float64)
            self.thresholds = {c: float(cal["thresholds"][f"harm:{c}"]) for c in self.categories}
        except (KeyError, TypeError) as e:
            raise HarmModelError(f"harm model: calibration lacks {e}") from e

    def margins(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n_rows: int) -> np.ndarray:
        """Uncalibrated linear scores x @ w + b of `featurize`'s sparse rows (training's path)."""
        return linear_margins((rows, cols, vals), n_rows, self.weights, self.bias)

    def window_margins(self, text: str, bounds: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """(x @ w + b per window, content words per window) of the normalized `text`: the compiled
        scoring loop (`harm_kernel`), equal to `margins(*featurize_counted(...))` up to float32
        rounding in the latter (|difference| < 1e-5; tests/test_harm_kernel.py)."""
        if not text:
            return np.tile(self.bias.astype(np.float64), (len(bounds), 1)), np.zeros(len(bounds), np.int64)
        cp = folded_codepoints(text)
        starts = np.array([s for s, _ in bounds], dtype=np.int64)
        ends = np.array([e for _, e in bounds], dtype=np.int64)
        if (
            not len(bounds)
            or starts[0] != 0
            or (ends < starts).any()
            or (starts[1:] < ends[:-1]).any()
            or ends[-1] > len(text)
        ):
            raise ValueError("harm: windows must be sorted, disjoint, start at 0 and lie within the text")
        tables = getattr(_SCRATCH, "tables", None)
        if tables is None:
            tables = _SCRATCH.tables = {}
        scratch = tables.get(self.spec.n_features)
        if scratch is None:  # one zeroed bucket table per thread and size; the kernel hands it back zeroed
            scratch = tables[self.spec.n_features] = np.zeros(self.spec.n_features, dtype=np.int64)
        return harm_kernel.window_margins(
            cp, word_chars(cp), starts, ends, FRAMING_HASHES, self.weights, self.bias,
            self._char_ngrams, self._word_ngrams, MAX_TOKEN, scratch,
        )  # fmt: skip

    def calibrate(self, margins: np.ndarray) -> np.ndarray:
        """Platt-scaled probabilities (dev-fitted a, b per category)."""
        return 1.0 / (1.0 + np.exp(-(margins * self.platt_a + self.platt_b)))

    def score_view(self, view: NormalizedText) -> HarmScore:
        """Scores of a normalized text: max over windows, best window mapped back to raw offsets."""
        text = view.text[:MAX_TEXT_CHARS]
        bounds = window_bounds(text, self.spec.window_chars)
        probs = self.calibrate(self.window_margins(text, bounds)[0])
        best = probs.argmax(axis=0)
        scores = {c: float(probs[best[i], i]) for i, c in enumerate(self.categories)}
        spans = {c: view.raw_span(*bounds[best[i]]) for i, c in enumerate(self.categories)}
        return HarmScore(scores=scores, spans=spans)

    def score(self, raw: str) -> HarmScore:
        """Scores of a raw text (normalized here exactly as the term rules normalize it)."""
        return self.score_view(normalize(raw if isinstance(raw, str) else ""))


class WindowScores(NamedTuple):
    """One text's windows (normalized offsets), their scores per category, and which name a minor."""

    bounds: list[tuple[int, int]]
    probs: np.ndarray
    names_minor: np.ndarray


# One text inside `window_scores`: its normalized text, windows, fast probabilities (rewritten in place by the
# encoder tier) and which windows the classifier abstains on.
_WindowsOfText = tuple[str, list[tuple[int, int]], np.ndarray, np.ndarray]

SCOPES = ("off", "confirm", "band", "all")
_warned_fast_only = False
log = logging.getLogger(__name__)


def _say_fast_only_once(why: str) -> None:
    """The policy falls back to the fast tier: said once per process, with how to get the encoder."""
    global _warned_fast_only
    if not _warned_fast_only:
        _warned_fast_only = True
        log.warning("harm classifier: fast tier only (%s)", why)


class HarmDetector:
    """Policy detector `harm`: scores `harm:<category>` and `harm:sexual_with_minor`, with a span
    (the best window) for each category whose score reaches its shipped threshold.

    Two tiers: every window is scored by the fast tier; with the encoder installed (`encoder`:
    "auto" uses it when present and says once when not; "required" refuses to build without it;
    "off" never loads it), some windows are judged by the stronger tier
    (`filters/detectors/harm_tiers.py`) on the same score scale. Which ones depends on the mode the
    policy is applied in (`pretrain_scope`, `runtime_scope`): "band" = windows the fast tier is unsure
    about (some category at or above its band edge), "confirm" = windows the fast tier would fire on
    (the encoder clears such a window or keeps it, and its scores replace all eight: it may name
    another category than the fast tier's, which the held-out rows favour; cheap, cuts false
    positives), "all", or "off".
    A window with fewer than `min_content_words` non-framing word tokens scores 0 in every scope (the
    classifier, both tiers, abstains: on one or two words a bag of n-grams fires on "ok" and "thank you",
    and so do the encoder's heads; the curated terms still judge such texts). The encoder reads a window
    with spaced-apart words joined back (`harm_tiers.encoder_input`); a window whose readable share is still
    below `encoder_min_readable`, or in which leet remains after the normalizer's reading (at least
    `harm_tiers.LEET_SHARE` of its lettered tokens, `leet_share` of what the encoder would read), keeps its
    fast score: the encoder cannot read split words or digits inside words, and the fast tier's n-grams can. Below
    the gate, runs of letter pieces that look spaced out are first split back into frequent words
    (`harm_tiers.resegmented`); a window that then reaches the gate is read by the encoder in that form.
    Leet the normalizer reads back into words ("m4ke 4 b0mb" is "make a bomb", `filters.leet_words`) reaches
    the encoder, so such a window is judged as the same window in letters.
    Loads and verifies every file at construction (the normalizer's word list too) so a bad one stops
    the policy from being built;
    picklable for Ray actors (reloads on unpickle)."""

    name = "harm"
    takes_mode = True  # the registry passes the policy's mode (pretrain_scope / runtime_scope)

    def __init__(
        self,
        manifest_path: str | None = None,
        encoder: str = "auto",
        pretrain_scope: str = "confirm",
        runtime_scope: str = "confirm",
        mode: str = "runtime",
        min_content_words: int = 3,
        encoder_min_readable: float = 0.7,
        encoder_precision: str = "fp32",
    ):
        if encoder not in ("auto", "off", "required") or mode not in ("pretrain", "runtime"):
            raise ValueError(f"harm: bad encoder={encoder!r} or mode={mode!r}")
        if not {pretrain_scope, runtime_scope} <= set(SCOPES):
            raise ValueError(f"harm: scopes must be one of {SCOPES}")
        self.manifest_path = str(manifest_path or DEFAULT_MANIFEST)
        self.encoder_mode, self.mode = encoder, mode
        self.scopes = {"pretrain": pretrain_scope, "runtime": runtime_scope}
        self.scope = self.scopes[mode]
        self.min_content_words = min_content_words
        if not 0.0 <= encoder_min_readable <= 1.0:
            raise ValueError(f"harm: encoder_min_readable must be in [0, 1], got {encoder_min_readable}")
        self.encoder_min_readable = encoder_min_readable
        if encoder_precision not in ("fp32", "bf16", "auto"):
            raise ValueError(f"harm: encoder_precision must be fp32, bf16 or auto, got {encoder_precision!r}")
        self.encoder_precision = encoder_precision
        self._lock = threading.Lock()
        self.model = HarmModel(self.manifest_path)
        leet_words.word_frequencies()  # the normalized view it reads needs the word list: fail at build
        self._fast_thr = np.array([self.model.thresholds[c] for c in self.model.categories])
        use_encoder = encoder != "off" and self.scope != "off"
        self.heads, self.encoder = self._load_encoder_tier() if use_encoder else (None, None)
        # resegmented_windows: windows below the gate that the spaced-out split made readable (and the encoder read)
        self.stats = {"windows": 0, "encoder_windows": 0, "unreadable_windows": 0, "resegmented_windows": 0}
        # the spaced-out split's word costs, built the first time a window needs them (or at warm_up)
        self._costs: WordCosts | None = None

    def _load_encoder_tier(self) -> tuple[Any, Any]:
        from filters.detectors.encoder import MODEL_SHA256, EncoderError, EncoderUnavailable, TextEncoder
        from filters.detectors.harm_tiers import EncoderHeads, EncoderTierError

        try:
            heads = EncoderHeads(ENCODER_MANIFEST, Path(self.manifest_path), self.model.categories)
            if heads.model_sha256 != MODEL_SHA256:
                raise EncoderTierError("harm encoder tier: heads were trained on other encoder weights")
            return heads, TextEncoder(max_tokens=heads.max_tokens, precision=self.encoder_precision)
        except (EncoderUnavailable, HarmModelError, EncoderError) as e:
            if self.encoder_mode == "required":
                raise HarmModelError(f"harm: detectors.harm.encoder is 'required' but {e}") from e
            _say_fast_only_once(str(e))
            return None, None

    def warm_up(self) -> None:
        """Build the encoder's kernels for a window of every token count, and the spaced-out split's word costs, now
        (`Filter.warm_up`).

        Why: windows are embedded one at a time, and on a packed path (bf16 with AMX, fp32 on other
        AVX-512 CPUs) the first window of each length costs ~2.5–4 ms more while oneDNN builds its
        kernels. Warming costs ~1.2 CPU-s (bf16) to ~3 CPU-s (fp32), more than a
        process ever pays for building them as it goes (each length once, at most ~0.5 s), so it is for
        long-lived callers whose first requests should not be the slow ones (the server), not for
        throughput (BENCHMARKS.md, 2026-12-05 fourteenth session)."""
        if self.encoder is not None:
            with self._lock:  # the encoder's torch module is shared with detect_batch
                self.encoder.warm_single_texts()
                self._word_costs()  # ~0.2 s: the first spaced-out request should not pay it

    def __getstate__(self) -> dict[str, Any]:
        return {
            "manifest_path": self.manifest_path,
            "encoder": self.encoder_mode,
            "pretrain_scope": self.scopes["pretrain"],
            "runtime_scope": self.scopes["runtime"],
            "mode": self.mode,
            "min_content_words": self.min_content_words,
            "encoder_min_readable": self.encoder_min_readable,
            "encoder_precision": self.encoder_precision,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def window_scores(self, views: list[NormalizedText]) -> list[WindowScores]:
        """Per text: its normalized windows, each window's final score per category, and which windows
        name a minor (only those count for sexual_minors)."""
        per_text = []
        for view in views:
            text = view.text[:MAX_TEXT_CHARS]
            bounds = window_bounds(text, self.model.spec.window_chars)
            margins, content_words = self.model.window_margins(text, bounds)
            probs = self.model.calibrate(margins)
            abstains = content_words < self.min_content_words
            probs[abstains] = 0.0  # too little evidence, for either tier
            per_text.append((text, bounds, probs, abstains))
        self.stats["windows"] += sum(len(b) for _, b, _, _ in per_text)
        if self.heads is not None:
            self._judge_band(per_text)
        k_minors = self.model.categories.index("sexual_minors")
        out = []
        for text, bounds, probs, _ in per_text:  # sexual_minors only where a minor is named
            minor = minor_windows(text, bounds)
            probs[~minor, k_minors] = 0.0
            out.append(WindowScores(bounds, probs, minor))
        return out

    def _judge_band(self, per_text: list[_WindowsOfText]) -> None:
        """Replace the fast scores of the windows this scope judges by the stronger tier's (in place); a
        window on which the classifier abstains (too few content words) stays 0 in every scope."""
        from filters.detectors.harm_tiers import (
            LEET_SHARE,
            encoder_input,
            leet_share,
            readable_share,
            resegmented,
            to_fast_scale,
        )

        vocabulary = self.encoder.vocabulary()
        todo = []  # (text index, window index, the window as the encoder reads it)
        for t, (text, bounds, probs, abstains) in enumerate(per_text):
            for w in np.flatnonzero(self._judged(probs) & ~abstains):
                view, share = encoder_input(text[slice(*bounds[w])], vocabulary)
                leet = leet_share(view)
                if leet < LEET_SHARE and share < self.encoder_min_readable:
                    view = resegmented(view, vocabulary, self._word_costs())  # spaced-out words split back
                    share, leet = readable_share(view, vocabulary), leet_share(view)
                    self.stats["resegmented_windows"] += share >= self.encoder_min_readable
                if share >= self.encoder_min_readable and leet < LEET_SHARE:
                    todo.append((t, w, view))
                else:
                    self.stats["unreadable_windows"] += 1
        if not todo:
            return
        self.stats["encoder_windows"] += len(todo)
        # One window at a time: a batch pads its texts to the longest and changes the matrix shapes, so
        # a window's score would depend on which other texts share its batch (and so on worker count).
        for t, w, view in todo:
            p_head = self.heads.probabilities(self.encoder.embed([view]), per_text[t][2][w][None, :])
            per_text[t][2][w] = to_fast_scale(p_head, self.heads.thresholds, self._fast_thr)[0]

    def _word_costs(self) -> WordCosts:
        """The word costs `resegmented` splits by (built once, on the first window that needs them)."""
        if self._costs is None:
            from filters.detectors.harm_tiers import WordCosts

            self._costs = WordCosts(self.encoder.vocabulary())
        return self._costs

    def _judged(self, probs: np.ndarray) -> np.ndarray:
        """Which windows (rows of fast probabilities) the encoder judges in this mode."""
        if self.scope == "all":
            return np.ones(len(probs), dtype=bool)
        if self.scope == "confirm":
            return (probs >= self._fast_thr).any(axis=1)
        return self.heads.in_band(probs)

    def detect_batch(self, texts: list[str]) -> list[DetectorResult]:
        views = [normalize(t if isinstance(t, str) else "") for t in texts]
        with self._lock:  # the encoder's torch module is shared; one batch at a time
            scored = self.window_scores(views)
        cats = self.model.categories
        k_sexual = cats.index("sexual")
        out = []
        for view, (bounds, probs, minor) in zip(views, scored, strict=True):
            best = probs.argmax(axis=0)
            scores = {c: float(probs[best[i], i]) for i, c in enumerate(cats)}
            with_minor = [probs[w, k_sexual] if m else 0.0 for w, m in enumerate(minor)]
            w_minor = int(np.argmax(with_minor))
            scores[SEXUAL_WITH_MINOR] = float(with_minor[w_minor])
            spans = [
                Span(c, *view.raw_span(*bounds[best[i]]), label="harm_window")
                for i, c in enumerate(cats)
                if scores[c] >= self.model.thresholds[c]
            ]
            if scores[SEXUAL_WITH_MINOR] >= self.model.thresholds["sexual"]:
                spans.append(Span("sexual_minors", *view.raw_span(*bounds[w_minor]), label="harm_window"))
            out.append(DetectorResult(scores=scores, spans=spans))
        return out
