"""Filter and Verdict: apply a policy to texts, one at a time or as a batch.

``check_batch`` is the fast path: every detector gets the whole batch at once
(one fastText call, one classifier forward, ...). ``check`` is ``check_batch``
of one text, and detectors are pure per-text functions, so both give the same
verdict. Each category is judged on its own detector scores against its own
thresholds; the document's action is the strongest action among the categories
that fired (drop > redact > flag > allow).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from filters.detectors.base import DetectorResult, Span
from filters.pii import PLACEHOLDERS, redact
from filters.policy import ACTION_RANK, SPAN_DETECTORS, Category, Policy
from filters.registry import build_detector

__all__ = ["Filter", "Verdict"]

log = logging.getLogger(__name__)
# A single document longer than this is judged on its first MAX_CHARS characters by the
# classifiers (they truncate anyway); rules (terms, PII) always see the whole text.
MAX_CLASSIFIER_CHARS = 100_000


@dataclass
class Verdict:
    """What the policy decided for one text.

    ``spans`` are (category, start, end) on the raw text for every category that fired;
    ``text`` is the redacted text when ``action == "redact"``, else the original.
    ``reason`` is the first category (canonical order) whose action decided the verdict.
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

    def check(self, text: str, url: str | None = None) -> Verdict:
        return self.check_batch([text], [url])[0]

    def check_batch(self, texts: list[str], urls: list[str | None] | None = None) -> list[Verdict]:
        texts = [_as_text(t) for t in texts]
        if urls is None:
            urls = [None] * len(texts)
        if len(urls) != len(texts):
            raise ValueError("urls must be as long as texts")
        if not texts:
            return []
        results: dict[str, list[DetectorResult]] = {}
        langs: list[str | None] = [None] * len(texts)
        if "langid" in self.detectors:
            results["langid"] = self._run_detector("langid", self.detectors["langid"], texts, urls, langs)
            langs = [r.labels.get("lang") for r in results["langid"]]
        for n, d in self.detectors.items():
            if n == "langid":
                continue
            scope = self._scope[n]
            if scope is None:
                results[n] = self._run_detector(n, d, texts, urls, langs)
                continue
            idx = [i for i, lang in enumerate(langs) if lang in scope]
            full = [DetectorResult() for _ in texts]
            if idx:
                sub = self._run_detector(
                    n, d, [texts[i] for i in idx], [urls[i] for i in idx], [langs[i] for i in idx]
                )
                for i, r in zip(idx, sub, strict=True):
                    full[i] = r
            results[n] = full
        return [self._verdict(i, texts[i], results) for i in range(len(texts))]

    # -- judgement ---------------------------------------------------------------------------

    def _verdict(self, i: int, text: str, results: dict[str, list[DetectorResult]]) -> Verdict:
        scores: dict[str, float] = {}
        reasons: list[str] = []
        fired: list[str] = []
        spans_out: list[Span] = []
        cat_action: dict[str, str] = {}
        errors = [r[i].labels["_error"] for r in results.values() if "_error" in r[i].labels]

        lang = lang_score = quality = None
        quality_reason = ""
        if "langid" in results:
            r = results["langid"][i]
            lang = r.labels.get("lang") or None
            lang_score = float(r.scores.get("lang_score", 0.0))
        if "quality" in results and "quality" in results["quality"][i].scores:
            quality = float(results["quality"][i].scores["quality"])
            quality_reason = results["quality"][i].labels.get("quality_reason", "")

        for name, cat in self.categories.items():
            if name == "language":
                kept = cat.keep == "all" or (lang is not None and lang in cat.keep)
                score = 1.0 if not kept else 1.0 - (lang_score or 0.0)
                scores[name] = round(score, 6)
                if not kept or (lang_score or 0.0) < cat.min_score:
                    fired.append(name)
                    cat_action[name] = cat.action
                    reasons.append(
                        f"language: {lang or 'unknown'} ({lang_score or 0.0:.3f}) not in keep/min_score"
                    )
                continue
            if cat.languages is not None and lang not in cat.languages:
                scores[name] = 0.0  # not judged in this language (its detectors did not run)
                continue
            best = 0.0
            hit_refs = []
            for det_name, key, thr, ref, ref_action in self._plan[name]:
                s = float(results[det_name][i].scores.get(key, 0.0))
                best = max(best, s)
                if s >= thr:
                    hit_refs.append((det_name, key, s, thr, ref, ref_action))
            scores[name] = round(best, 6)
            if not hit_refs:
                continue
            fired.append(name)
            reasons.extend(f"{name}: {ref}={s:.3f} >= {thr:.3f}" for _, _, s, thr, ref, _ in hit_refs)
            cat_spans = [
                sp
                for det_name in sorted({h[0] for h in hit_refs} & SPAN_DETECTORS)
                for sp in results[det_name][i].spans
                if sp.category == name
            ]
            spans_out.extend(cat_spans)
            action = max((h[5] for h in hit_refs), key=ACTION_RANK.__getitem__)
            if action == "redact" and not cat_spans:
                action = cat.on_unredactable
                reasons.append(f"{name}: fired without spans, {action} instead of redact")
            cat_action[name] = action

        if errors:
            fired.append("detector_error")
            cat_action["detector_error"] = "drop"
            reasons.extend(errors)

        final = "allow"
        for a in cat_action.values():
            if ACTION_RANK[a] > ACTION_RANK[final]:
                final = a
        reason = next((c for c in fired if cat_action[c] == final), "") if final != "allow" else ""

        out_text = text
        if final == "redact":
            to_redact = [
                (sp.start, sp.end, placeholder_for(sp))
                for sp in spans_out
                if cat_action.get(sp.category) == "redact"
            ]
            out_text = redact(text, to_redact)
        spans_out.sort(key=lambda s: (s.start, s.end, s.category, s.label))
        return Verdict(
            action=final,
            categories=scores,
            spans=[(s.category, s.start, s.end) for s in spans_out],
            text=out_text,
            lang=lang,
            lang_score=lang_score,
            quality=quality,
            quality_reason=quality_reason,
            reasons=reasons,
            fired=fired,
            reason=reason,
            labels=[s.label for s in spans_out],
        )


def placeholder_for(span: Span) -> str:
    if span.category == "secrets":
        return PLACEHOLDERS["SECRET"]
    if span.category == "pii":
        return PLACEHOLDERS.get(span.label, "<PII>")
    return f"<{span.category.upper()}>"
