"""Filter and Verdict: apply a policy to texts, one at a time or as a batch.

``check_batch`` is the fast path: every detector gets the batch at once (one
fastText call, one classifier forward, ...), less the documents it skips (below).
``check`` is ``check_batch`` of one text, and detectors are pure per-text
functions, so both give the same verdict. Each category is judged on its own
detector scores against its own thresholds; the document's action is the
strongest action among the categories that fired (drop > redact > flag > allow).

Detectors run in stages, cheapest first (`DETECTOR_STAGES`). In the modes the policy lists under
``skip_dropped_in`` (pre-training by default) a stage does not score the documents an earlier stage
already dropped. That never changes an action: a category fires when any of its entries reaches its
threshold and takes the strongest action among its hits, so more evidence can confirm a drop but
never undo it. Such a document lacks the later stages' scores (``Verdict.skipped`` names the
detectors), so its ``reason`` names the earliest stage that dropped it, as a document removed by one
datatrove step never reaches the next.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from filters import leet_words
from filters.detectors.base import DetectorResult, Span
from filters.normalize import SHARED_VIEWS_MAX_CHARS, shared_views
from filters.pii import PLACEHOLDERS, redact
from filters.policy import ACTION_RANK, NAMES_THE_VERDICT_FIRST, SPAN_DETECTORS, Category, Policy
from filters.registry import build_detector

__all__ = ["Filter", "Verdict"]

log = logging.getLogger(__name__)
# A single document longer than this is judged on its first MAX_CHARS characters by the
# classifiers (they truncate anyway); rules (terms, PII) always see the whole text.
MAX_CLASSIFIER_CHARS = 100_000
# Later stages cost more per document (rules and language ~0.3 ms per 4 KB, quality ~2 ms, the
# classifiers more); a detector not named here runs in the first stage.
DETECTOR_STAGES: tuple[frozenset[str], ...] = (
    frozenset({"quality"}),
    frozenset({"harm", "toxicity", "detoxify"}),
)


@dataclass
class Verdict:
    """What the policy decided for one text.

    ``spans`` are (category, start, end) on the raw text for every category that fired;
    ``text`` is the redacted text when ``action == "redact"``, else the original.
    ``reason`` is the category whose action decided the verdict: a narrower category of
    ``NAMES_THE_VERDICT_FIRST`` when it is one of them, else the first in canonical order.
    """

    action: str
    categories: dict[str, float]
    spans: list[tuple[str, int, int]]
    text: str
    lang: str | None = None
    lang_score: float | None = None
    quality: float | None = None
    reasons: list[str] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    reason: str = ""
    labels: list[str] = field(default_factory=list)  # finer type per span (e.g. EMAIL), parallel to spans
    quality_reason: str = ""  # the quality detector's first failing check, e.g. "c4:too_few_sentences"
    # Detectors that did not score this text because an earlier stage had dropped it (skip_dropped_in).
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_text(x: Any) -> str:
    """Whatever arrives, a str (bytes decoded with replacement, None -> "")."""
    if isinstance(x, str):
        return x
    if x is None:
        return ""
    if isinstance(x, (bytes, bytearray, memoryview)):
        return bytes(x).decode("utf-8", errors="replace")
    return str(x)


def _spans_of_chars(texts: list[str], budget: int) -> list[tuple[int, int]]:
    """Consecutive [lo, hi) parts of `texts` holding at most `budget` characters each (a longer text
    is a part of its own). Every text's verdict depends on that text alone, so the parts give the
    verdicts the whole batch would."""
    spans, lo, size = [], 0, 0
    for i, t in enumerate(texts):
        if i > lo and size + len(t) > budget:
            spans.append((lo, i))
            lo, size = i, 0
        size += len(t)
    if texts:
        spans.append((lo, len(texts)))
    return spans


class Filter:
    """A policy bound to a mode, with its detectors built once."""

    def __init__(self, policy: Policy, mode: str = "pretrain", detectors: dict[str, Any] | None = None):
        self.policy = policy
        self.mode = mode
        self.categories: dict[str, Category] = policy.active(mode)
        # Each category's entries that apply in this mode (an entry may be limited to some modes).
        self._refs = {n: [r for r in c.detectors if r.applies_in(mode)] for n, c in self.categories.items()}
        needed = {r.detector for refs in self._refs.values() for r in refs}
        if any(c.languages for c in self.categories.values()):
            needed.add("langid")  # language-scoped categories need the document's language
        given = detectors or {}
        self.detectors: dict[str, Any] = {
            n: given[n] if n in given else build_detector(n, policy, mode) for n in sorted(needed)
        }
        if "langid" not in self.detectors and any(
            getattr(d, "uses_language", False) for d in self.detectors.values()
        ):  # another language's term list counts only in that language, in runtime checks too
            self.detectors["langid"] = given.get("langid") or build_detector("langid", policy, mode)
        # Resolved (category -> [(detector, key, threshold, ref, action)]) once.
        self._plan = {
            name: [
                (r.detector, r.key, policy.threshold_for(name, r), r.ref, policy.action_for(name, r))
                for r in self._refs[name]
            ]
            for name in self.categories
        }
        # detector -> languages it must score (None: every document). A detector that feeds only
        # language-scoped categories is not run on documents in other languages (saves its cost).
        self._scope: dict[str, frozenset[str] | None] = {}
        for n in self.detectors:
            users = [
                c for name, c in self.categories.items() if any(r.detector == n for r in self._refs[name])
            ]
            if n == "langid" or not users or any(c.languages is None for c in users):
                self._scope[n] = None
            else:
                self._scope[n] = frozenset(lang for c in users for lang in c.languages or ())
        # Detector names per stage, in run order (langid runs before all of them).
        later = [sorted(n for n in self.detectors if n in stage) for stage in DETECTOR_STAGES]
        first = sorted(n for n in self.detectors if n != "langid" and not any(n in st for st in later))
        self._stages = [st for st in (first, *later) if st]
        self._skip_dropped = mode in policy.skip_dropped_in

    # -- detectors ---------------------------------------------------------------------------

    def _run_detector(
        self, name: str, det: Any, texts: list[str], urls: list[str | None], langs: list[str | None]
    ) -> list[DetectorResult]:
        """One detector over the batch; a detector error fails closed for the texts it broke on."""
        if name == "urls":
            return det.check_urls(urls)
        inputs = texts
        if name not in SPAN_DETECTORS:
            inputs = [t[:MAX_CLASSIFIER_CHARS] for t in texts]
        known = [lang if lang and lang != "unknown" else None for lang in langs]
        uses_language = getattr(det, "uses_language", False)  # e.g. language-specific term lists

        def detect(batch: list[str], at: int = 0) -> list[DetectorResult]:
            if uses_language:
                return det.detect_batch(batch, langs=known[at : at + len(batch)])
            return det.detect_batch(batch)

        try:
            res = detect(inputs)
            if len(res) != len(inputs):
                raise RuntimeError(f"detector {name!r} returned {len(res)} results for {len(inputs)} texts")
            return res
        except Exception:
            log.exception("detector %s failed on a batch; retrying text by text", name)
        out = []
        for i, t in enumerate(inputs):
            try:
                out.append(detect([t], i)[0])
            except Exception as e:  # fail closed: this text is dropped with the error as reason
                out.append(DetectorResult(labels={"_error": f"{name}: {type(e).__name__}: {e}"}))
        return out

    # -- API ---------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Do now the one-off work detectors would otherwise do on their first texts (the harm tier's
        encoder kernels, `HarmDetector.warm_up`). For long-lived callers such as the server, so that the
        first requests are not the slow ones; a short run gains nothing from it. Also loads the word
        lists the normalizer reads leetspeak with (~0.3–0.4 s, `filters.leet_words`)."""
        leet_words.load()
        for det in self.detectors.values():
            warm = getattr(det, "warm_up", None)
            if callable(warm):
                warm()

    def check(self, text: str, url: str | None = None) -> Verdict:
        return self.check_batch([text], [url])[0]

    def check_batch(self, texts: list[str], urls: list[str | None] | None = None) -> list[Verdict]:
        texts = [_as_text(t) for t in texts]
        if urls is None:
            urls = [None] * len(texts)
        if len(urls) != len(texts):
            raise ValueError("urls must be as long as texts")
        verdicts: list[Verdict] = []
        for lo, hi in _spans_of_chars(texts, SHARED_VIEWS_MAX_CHARS):
            # The term rules and the harm classifier read one view per text; the views of one part at a
            # time are kept, so a pipeline batch of 2,048 documents shares them within a bounded memory.
            with shared_views():
                results, skipped = self._run_detectors(texts[lo:hi], urls[lo:hi])
            for i in range(hi - lo):
                judged, signals = self._judge(i, results)
                verdicts.append(judged.verdict(texts[lo + i], signals, skipped[i]))
        return verdicts

    def _run_detectors(
        self, texts: list[str], urls: list[str | None]
    ) -> tuple[dict[str, list[DetectorResult]], list[list[str]]]:
        """Every detector over the batch, stage by stage (langid first: language-scoped detectors skip
        other languages); with skip_dropped, a stage skips documents an earlier one dropped. Returns the
        results and, per text, the detectors it skipped."""
        results: dict[str, list[DetectorResult]] = {}
        langs: list[str | None] = [None] * len(texts)
        if "langid" in self.detectors:
            results["langid"] = self._run_detector("langid", self.detectors["langid"], texts, urls, langs)
            langs = [r.labels.get("lang") for r in results["langid"]]
        skipped: list[list[str]] = [[] for _ in texts]
        live = list(range(len(texts)))
        for k, stage in enumerate(self._stages):
            if self._skip_dropped and k > 0:
                dropped = {i for i in live if self._judge(i, results)[0].decision()[0] == "drop"}
                for i in dropped:
                    skipped[i] = [  # the later detectors that would have scored this document
                        n
                        for later in self._stages[k:]
                        for n in later
                        if self._scope[n] is None or langs[i] in self._scope[n]
                    ]
                live = [i for i in live if i not in dropped]
            for n in stage:
                scope = self._scope[n]
                idx = live if scope is None else [i for i in live if langs[i] in scope]
                if len(idx) == len(texts):
                    results[n] = self._run_detector(n, self.detectors[n], texts, urls, langs)
                    continue
                full = [DetectorResult() for _ in texts]
                if idx:
                    sub = self._run_detector(
                        n,
                        self.detectors[n],
                        [texts[i] for i in idx],
                        [urls[i] for i in idx],
                        [langs[i] for i in idx],
                    )
                    for i, r in zip(idx, sub, strict=True):
                        full[i] = r
                results[n] = full
        return results, skipped

    # -- judgement ---------------------------------------------------------------------------

    def _judge(self, i: int, results: dict[str, list[DetectorResult]]) -> tuple[_Judgement, _Signals]:
        """Judge text ``i`` on the detectors that have run: each category on its own scores (the
        strongest action then decides, `_Judgement.decision`)."""
        signals = _Signals.read(i, results)
        judged = _Judgement()
        for name, cat in self.categories.items():
            if name == "language":
                judged.judge_language(cat, signals)
            elif cat.languages is not None and signals.lang not in cat.languages:
                judged.scores[name] = 0.0  # not judged in this language (its detectors did not run)
            else:
                self._judge_category(name, cat, i, results, judged)
        judged.judge_detector_errors(i, results)
        return judged, signals

    def _judge_category(
        self, name: str, cat: Category, i: int, results: dict[str, list[DetectorResult]], judged: _Judgement
    ) -> None:
        """Score one category (its best detector score) and fire it when any detector reaches its threshold.

        The category's action is the strongest of its hits; a redaction needs spans to cut, so one that
        fired without any falls back to the category's ``on_unredactable``."""
        best, hits = self._hits(name, i, results)
        judged.scores[name] = round(best, 6)
        if not hits:
            return
        reasons = [f"{name}: {h.ref}={h.score:.3f} >= {h.threshold:.3f}" for h in hits]
        spans = [
            sp
            for det_name in sorted({h.detector for h in hits} & SPAN_DETECTORS)
            for sp in results[det_name][i].spans
            if sp.category == name
        ]
        action = max((h.action for h in hits), key=ACTION_RANK.__getitem__)
        if action == "redact" and not spans:
            action = cat.on_unredactable
            reasons.append(f"{name}: fired without spans, {action} instead of redact")
        judged.fire(name, action, reasons, spans)

    def _hits(self, name: str, i: int, results: dict[str, list[DetectorResult]]) -> tuple[float, list[_Hit]]:
        """The category's best score over its detector entries, and the entries at or over their threshold."""
        best = 0.0
        hits: list[_Hit] = []
        for det_name, key, threshold, ref, action in self._plan[name]:
            if det_name not in results:  # a later stage, not run yet
                continue
            score = float(results[det_name][i].scores.get(key, 0.0))
            best = max(best, score)
            if score >= threshold:
                hits.append(_Hit(det_name, score, threshold, ref, action))
        return best, hits


@dataclass
class _Signals:
    """Per-text facts that other detectors report and the verdict carries: language and quality."""

    lang: str | None = None
    lang_score: float | None = None
    quality: float | None = None
    quality_reason: str = ""

    @classmethod
    def read(cls, i: int, results: dict[str, list[DetectorResult]]) -> _Signals:
        """Text ``i``'s language (langid) and quality score, where those detectors ran."""
        signals = cls()
        if "langid" in results:
            r = results["langid"][i]
            signals.lang = r.labels.get("lang") or None
            signals.lang_score = float(r.scores.get("lang_score", 0.0))
        if "quality" in results and "quality" in results["quality"][i].scores:
            signals.quality = float(results["quality"][i].scores["quality"])
            signals.quality_reason = results["quality"][i].labels.get("quality_reason", "")
        return signals


@dataclass
class _Hit:
    """One detector entry of a category whose score reached its threshold."""

    detector: str
    score: float
    threshold: float
    ref: str
    action: str


@dataclass
class _Judgement:
    """One text's verdict as the categories are judged in canonical order (which orders fired/reasons)."""

    scores: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    actions: dict[str, str] = field(default_factory=dict)  # category -> action, for the categories that fired

    def fire(self, name: str, action: str, reasons: list[str], spans: list[Span]) -> None:
        """Record that category ``name`` fired with ``action``, why, and the spans it found."""
        self.fired.append(name)
        self.reasons.extend(reasons)
        self.spans.extend(spans)
        self.actions[name] = action

    def judge_language(self, cat: Category, signals: _Signals) -> None:
        """The language category fires on a language outside ``keep`` or an identification below min_score."""
        lang, lang_score = signals.lang, signals.lang_score or 0.0
        kept = cat.keep == "all" or (lang is not None and lang in cat.keep)
        self.scores["language"] = round(1.0 if not kept else 1.0 - lang_score, 6)
        if not kept or lang_score < cat.min_score:
            reason = f"language: {lang or 'unknown'} ({lang_score:.3f}) not in keep/min_score"
            self.fire("language", cat.action, [reason], [])

    def judge_detector_errors(self, i: int, results: dict[str, list[DetectorResult]]) -> None:
        """Fail closed: a detector that broke on this text drops it, with the error as the reason."""
        errors = [r[i].labels["_error"] for r in results.values() if "_error" in r[i].labels]
        if errors:
            self.fire("detector_error", "drop", errors, [])

    def decision(self) -> tuple[str, str]:
        """The strongest action among the fired categories, and the category that names it: the first
        of `NAMES_THE_VERDICT_FIRST` that chose it, else the first fired category that chose it."""
        final = "allow"
        for action in self.actions.values():
            if ACTION_RANK[action] > ACTION_RANK[final]:
                final = action
        if final == "allow":
            return final, ""
        chose = [c for c in self.fired if self.actions[c] == final]
        return final, next((c for c in NAMES_THE_VERDICT_FIRST if c in chose), chose[0])

    def verdict(self, text: str, signals: _Signals, skipped: list[str]) -> Verdict:
        """The Verdict; on a redact, the spans of the redacting categories are replaced by placeholders."""
        action, reason = self.decision()
        out_text = text
        if action == "redact":
            to_redact = [
                (sp.start, sp.end, placeholder_for(sp))
                for sp in self.spans
                if self.actions.get(sp.category) == "redact"
            ]
            out_text = redact(text, to_redact)
        spans = sorted(self.spans, key=lambda s: (s.start, s.end, s.category, s.label))
        return Verdict(
            action=action,
            categories=self.scores,
            spans=[(s.category, s.start, s.end) for s in spans],
            text=out_text,
            lang=signals.lang,
            lang_score=signals.lang_score,
            quality=signals.quality,
            quality_reason=signals.quality_reason,
            reasons=self.reasons,
            fired=self.fired,
            reason=reason,
            labels=[s.label for s in spans],
            skipped=skipped,
        )


def placeholder_for(span: Span) -> str:
    if span.category == "secrets":
        return PLACEHOLDERS["SECRET"]
    if span.category == "pii":
        return PLACEHOLDERS.get(span.label, "<PII>")
    return f"<{span.category.upper()}>"
