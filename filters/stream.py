"""StreamGuard: apply a runtime ``Filter`` to a stream of model output chunks, incrementally.

Why it is exact: the rule detectors (``terms``, ``pii``) are *local*. A newline is a cut point
for both: normalization (per-character folds, mixed-script tokens, spaced letters, leetspeak)
never crosses a newline, no blocklist term contains one, and no PII pattern except a PEM private
key spans one (a cut is refused while a ``-----BEGIN`` block is open). So the detector results of
the whole text are the union of the results of its newline-terminated segments, shifted by their
offsets, with term weights added in the same order. The guard scans each segment once when it
closes (O(n) overall) and rescans only the *open* segment (bounded by ``max_segment``) on each
chunk. A segment longer than ``max_segment`` without a newline is cut at a "plain" point (a space
between two letter-only words, no span crossing it, 256 characters of look-ahead already seen).

The final verdict is computed by the real ``Filter`` on the whole text with the span detectors
replaced by replays of the accumulated segment results, so it is ``Filter.check(text)`` (the
classifiers, e.g. toxicity, run once on the whole text at ``close()``).

Release: inside the open segment only the *stable* prefix is scanned -- text before the last
token (a token still being written can change the normalization, a term match or a PII span) --
and release stops before (a) the last token and any chain of spaced single letters, (b) earlier
tokens that together are the beginning of a multi-word blocklist term, (c) trailing digit groups
and ``key =`` / ``key:`` tokens that may still become a phone, card, IBAN or secret, (d) an open
PEM block. Spans of redacting categories are replaced by their placeholders in the released text.
The stream stops at the first *stable* blocking verdict, before the violating span is released.

Classifier categories: when ``classify_lines`` is on, each closed segment (complete lines) is
scored by the classifiers and a blocking score stops the stream early; the final verdict of a
stream that ran to the end is still ``check(whole text)``. A line-level stop is stricter than
``check`` on the whole text (a toxic line is not diluted by the clean lines around it); such a
verdict names the category with reason ``"<category> (line)"``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import replace
from functools import lru_cache
from typing import Any

from filters.detectors.base import DetectorResult, Span
from filters.engine import Filter, Verdict, placeholder_for
from filters.normalize import normalize, normalize_term
from filters.pii import redact
from filters.policy import SPAN_DETECTORS
from filters.terms import load_default_entries

__all__ = ["StreamGuard"]

BLOCKING = frozenset({"drop"})
_PEM_BEGIN = "-----BEGIN "
_PEM_END_RE = re.compile(r"-----END (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY(?: BLOCK)?-----")
_PEM_MAX = 16384 + 256  # the PRIVATE_KEY pattern's own bound on a block
_LOOKAHEAD = 256  # chars seen after a forced cut point before the cut is made
_WS_RE = re.compile(r"\s")
# The checkpoint moves once the stable open text behind it is longer than this (chars).
_CK_EVERY = 768
_LAST_WS_RE = re.compile(r"\s(?=\S*\Z)")
_SEPARATORS = frozenset(" .-_*·•/")
# A chain of spaced single letters at the end ("f u c ", "f.u.c") that could still grow into a run.
_SPACED_TAIL_RE = re.compile(r"(?:(?<![^\W_])[^\W_][ .\-_*·•/]{1,2})+$")
# A forced cut: after the space following a letter-only word of 5+ letters, before a letter.
_PLAIN_CUT_RE = re.compile(r"(?<![\w\-./@:=])[^\W\d_]{5,} (?=[^\W\d_]{2})")
_PII_KEY_TOKEN_RE = re.compile(r"^(?:[:=]+|x|ext\.?)$", re.IGNORECASE)


@lru_cache(maxsize=8)
def _word_prefixes(
    extra: tuple[tuple[str, tuple[str, ...]], ...],
) -> tuple[frozenset[str], int, dict[str, tuple[str, ...]]]:
    """Normalized beginnings (whole words) of multi-word terms, the most words a term has, and the
    beginnings indexed by their last word."""
    terms = [normalize_term(e.term) for e in load_default_entries()]
    terms += [normalize_term(t) for _, ts in extra for t in ts]
    prefixes: set[str] = set()
    most = 1
    for t in terms:
        words = t.split(" ")
        most = max(most, len(words))
        for k in range(1, len(words)):
            prefixes.add(" ".join(words[:k]))
    by_last: dict[str, list[str]] = {}
    for p in prefixes:
        by_last.setdefault(p.rsplit(" ", 1)[-1], []).append(p)
    return frozenset(prefixes), most, {w: tuple(ps) for w, ps in by_last.items()}


class _Replay:
    """A span detector that returns results computed earlier (the guard's accumulated scan)."""

    def __init__(self, name: str):
        self.name = name
        self.result: DetectorResult | None = None
        self.error: str | None = None

    def detect_batch(self, texts: list[str]) -> list[DetectorResult]:
        if self.error is not None:
            raise RuntimeError(self.error)
        if self.result is None or len(texts) != 1:
            raise RuntimeError("replay detector used outside StreamGuard")
        return [self.result]


class _Acc:
    """Accumulated results of the span detectors over closed segments (absolute offsets)."""

    def __init__(self) -> None:
        self.term_weight: dict[str, float] = {}
        self.term_spans: list[Span] = []
        self.pii_spans: list[Span] = []
        # Decisions derived from a finished _Acc (blocking category, redacting categories): an _Acc
        # from _scan_open is never changed after it is built, so they are computed once per scan.
        self.memo: dict[str, Any] = {}

    def copy(self) -> _Acc:
        c = _Acc()
        c.term_weight = dict(self.term_weight)
        c.term_spans = list(self.term_spans)
        c.pii_spans = list(self.pii_spans)
        return c

    def merge(self, other: _Acc) -> None:
        """Add ``other``'s weights and spans (results of text that follows this one's)."""
        for cat, w in other.term_weight.items():
            self.term_weight[cat] = self.term_weight.get(cat, 0.0) + w
        self.term_spans += other.term_spans
        self.pii_spans += other.pii_spans

    def add(self, terms: DetectorResult | None, pii: DetectorResult | None, base: int) -> None:
        if terms is not None:
            for cat, s in terms.scores.items():
                if s > 0.0:
                    self.term_weight[cat] = self.term_weight.get(cat, 0.0) + -math.log1p(-min(s, 1 - 1e-16))
            self.term_spans += [
                Span(sp.category, sp.start + base, sp.end + base, sp.label) for sp in terms.spans
            ]
        if pii is not None:
            self.pii_spans += [
                Span(sp.category, sp.start + base, sp.end + base, sp.label) for sp in pii.spans
            ]

    def scores(self) -> dict[tuple[str, str], float]:
        out = {("terms", c): 1.0 - math.exp(-w) for c, w in self.term_weight.items()}
        for sp in self.pii_spans:
            out[("pii", sp.category)] = 1.0
        return out

    def results(self, term_keys: tuple[str, ...]) -> tuple[DetectorResult, DetectorResult]:
        t_scores = {c: 0.0 for c in term_keys}
        t_scores.update({c: 1.0 - math.exp(-w) for c, w in self.term_weight.items()})
        cats = {sp.category for sp in self.pii_spans}
        p_scores = {"pii": 1.0 if "pii" in cats else 0.0, "secrets": 1.0 if "secrets" in cats else 0.0}
        return (
            DetectorResult(
                scores=t_scores, spans=sorted(self.term_spans, key=lambda s: (s.start, s.end, s.category))
            ),
            DetectorResult(scores=p_scores, spans=list(self.pii_spans)),
        )


class StreamGuard:
    """Feed model output chunks; get back only the text that is safe to release.

    ``feed(chunk) -> str`` returns the newly releasable text (redacted, possibly ""); ``close() -> str``
    releases the rest or nothing if the whole text is blocked. ``stopped`` is True once a blocking
    violation was seen (``feed`` then returns ""), ``verdict`` is the final ``Verdict``.
    """

    def __init__(
        self,
        filter: Filter,
        *,
        strict: bool = True,
        max_holdback: int = 2048,
        max_segment: int = 4096,
        classify_lines: bool = True,
        line_min_score: float = 0.9,
        fail_closed: bool = True,
    ):
        if max_segment < max_holdback + _LOOKAHEAD:
            max_segment = max_holdback + _LOOKAHEAD
        self.filter = filter
        self.strict = strict
        self.max_holdback = max_holdback
        self.max_segment = max_segment
        self.classify_lines = classify_lines
        self.line_min_score = line_min_score
        self.fail_closed = fail_closed
        self.detector_errors: list[str] = []
        self.stopped = False
        self.verdict: Verdict | None = None
        self.stop_reason = ""
        self.released_chars = 0  # raw characters released so far
        self.holdback_max_seen = 0
        self._chunks: list[str] = []
        self._closed_len = 0  # absolute offset of the open segment
        self._open = ""
        self._acc = _Acc()
        self._released = 0  # absolute raw offset released so far
        # (u, p_u, hold before the PEM check, acc incl. the stable open prefix) of the last scan.
        self._open_cache: tuple[int, int, int, _Acc] | None = None
        # Checkpoint inside the open segment: results of open[:ck] are final (a plain cut point, see
        # _advance_checkpoint), so each chunk rescans only open[ck:u], not the whole open line.
        self._ck = 0
        self._ck_acc = _Acc()
        self._ck_every = _CK_EVERY
        self.checkpoints = 0  # times the open-segment checkpoint moved (long lines)
        extra = filter.policy.detectors.terms.extra_terms or {}
        self._prefixes, self._max_words, self._prefix_ends = _word_prefixes(
            tuple(sorted((k, tuple(v)) for k, v in extra.items()))
        )
        # Thresholds and actions of every (category, detector ref), resolved once.
        pol = filter.policy
        self._plan = {
            name: [
                (r.detector, r.key, pol.threshold_for(name, r), pol.action_for(name, r))
                for r in cat.detectors
            ]
            for name, cat in filter.categories.items()
            if name != "language"
        }
        self._span_dets = {n: filter.detectors[n] for n in SPAN_DETECTORS if n in filter.detectors}
        self._line_dets = {
            n: d
            for n, d in filter.detectors.items()
            if n not in SPAN_DETECTORS and n not in ("urls", "langid")
        }
        term_keys: set[str] = set()
        if "terms" in self._span_dets:
            term_keys = set(
                getattr(getattr(self._span_dets["terms"], "matcher", None), "categories", ()) or ()
            )
        self._term_keys = tuple(sorted(term_keys))
        self._error: str | None = None

    # -- public API --------------------------------------------------------------------------

    def feed(self, chunk: str) -> str:
        """Add a chunk of generated text; return the text that is now safe to release."""
        if self.stopped or self.verdict is not None or not chunk:
            return ""
        self._chunks.append(chunk)
        self._open += chunk
        # A chunk without whitespace only extends the last (unstable) token: the stable prefix, its
        # scan and every hold except the length bounds stay as they were (see _stable_open).
        grows_token = _WS_RE.search(chunk) is None and self._open_cache is not None
        try:
            if not grows_token or len(self._open) > self.max_segment:
                self._close_segments()
            if self.stopped:
                return ""
            r_abs, acc = self._stable_open(grows_token)
        except Exception as e:  # a detector failed: fail closed
            self._error = f"{type(e).__name__}: {e}"
            self._stop("detector_error")
            return ""
        blocking = acc.memo.get("blocking")
        if blocking is None:
            blocking = acc.memo["blocking"] = self._blocking(acc.scores())
        if blocking:
            self._stop(blocking)
            return ""
        return self._release_to(r_abs, acc)

    def close(self) -> str:
        """End of stream: the final verdict on the whole text; release (redacted) or withhold the rest."""
        if self.verdict is not None:
            return ""
        try:
            if self._open:
                self._close_segment(len(self._open), classify=False)
        except Exception as e:
            self._error = f"{type(e).__name__}: {e}"
        v = self._final_verdict()
        if not self.fail_closed and "detector_error" in v.fired and self._error is None:
            v = self._without_classifier_errors(v)
        self.verdict = v
        if v.action in BLOCKING:
            self.stopped = True
            self.stop_reason = v.reason
            return ""
        return self._release_to(self._closed_len, self._acc, final=v)

    def _without_classifier_errors(self, v: Verdict) -> Verdict:
        """Fail-open: the verdict as if the classifiers that raised had scored 0 (rules still apply)."""
        from filters.policy import ACTION_RANK

        fired = [c for c in v.fired if c != "detector_error"]
        errors = [r for r in v.reasons if not any(r.startswith(c + ":") for c in fired)]
        self.detector_errors += errors
        action = "allow"
        for c in fired:
            a = self._category_action(c)
            if ACTION_RANK[a] > ACTION_RANK[action]:
                action = a
        reason = (
            next((c for c in fired if self._category_action(c) == action), "") if action != "allow" else ""
        )
        text = v.text
        if action == "redact":
            to_redact = [
                (sp.start, sp.end, placeholder_for(sp))
                for sp in self._acc.term_spans + self._acc.pii_spans
                if self._category_action(sp.category) == "redact" and sp.category in fired
            ]
            text = redact(self.text, to_redact)
        reasons = [r for r in v.reasons if r not in errors]
        return replace(v, action=action, fired=fired, reason=reason, text=text, reasons=reasons)

    @property
    def text(self) -> str:
        """Everything fed so far, exactly as generated."""
        return "".join(self._chunks)

    @property
    def held(self) -> int:
        """Characters fed but not (yet) released."""
        return self._closed_len + len(self._open) - self._released

    # -- segments ----------------------------------------------------------------------------

    def _close_segments(self) -> None:
        """Close the open text up to its last valid cut (a newline outside a PEM block, or a forced cut)."""
        o = self._open
        cut = self._newline_cut(o)
        if cut == 0 and len(o) > self.max_segment:
            cut = self._forced_cut(o)
        if cut > 0:
            self._close_segment(cut, classify=self.classify_lines)

    def _newline_cut(self, o: str) -> int:
        nl = o.rfind("\n")
        if nl < 0:
            return 0
        cut = nl + 1
        b = o.rfind(_PEM_BEGIN, 0, cut)
        while b >= 0 and _PEM_END_RE.search(o, b, cut) is None:
            if cut - b > _PEM_MAX:  # longer than any key the pattern accepts: the block cannot match
                break
            cut = o.rfind("\n", 0, b) + 1
            if cut <= 0:
                return 0
            b = o.rfind(_PEM_BEGIN, 0, cut)
        return cut

    def _forced_cut(self, o: str) -> int:
        """A plain cut point far enough behind the end that no span can cross it any more."""
        limit = len(o) - _LOOKAHEAD
        # Spans of the current scan: a cut never falls inside one.
        scan = self._scan(o[: limit + _LOOKAHEAD // 2])
        covered = [(sp.start, sp.end) for res in scan.values() if res is not None for sp in res.spans]
        return _last_plain_cut(o, max(0, limit - self.max_holdback), limit, covered, default=0)

    def _scan(self, text: str) -> dict[str, DetectorResult | None]:
        out: dict[str, DetectorResult | None] = {"terms": None, "pii": None}
        for name, det in self._span_dets.items():
            out[name] = det.detect_batch([text])[0] if text else DetectorResult()
        return out

    def _scan_one(self, name: str, text: str) -> DetectorResult | None:
        det = self._span_dets.get(name)
        if det is None:
            return None
        return det.detect_batch([text])[0] if text else DetectorResult()

    def _close_segment(self, cut: int, classify: bool) -> None:
        seg = self._open[:cut]
        res = self._scan(seg)
        self._acc.add(res["terms"], res["pii"], self._closed_len)
        self._closed_len += cut
        self._open = self._open[cut:]
        self._open_cache = None
        self._ck = 0
        self._ck_acc = _Acc()
        if classify and self._line_dets and seg.strip():
            line_scores = {}
            for name, det in self._line_dets.items():
                try:
                    r = det.detect_batch([seg])[0]
                except Exception as e:  # classifier broke on this line
                    self.detector_errors.append(f"{name}: {type(e).__name__}: {e}")
                    if self.fail_closed:
                        self._stop("detector_error")
                        return
                    continue
                line_scores.update({(name, k): v for k, v in r.scores.items()})
            cat = self._blocking(line_scores, min_score=self.line_min_score)
            if cat:
                self._stop(cat, line=True)

    # -- the open segment --------------------------------------------------------------------

    def _stable_open(self, grows_token: bool = False) -> tuple[int, _Acc]:
        """Absolute offset up to which text may be released, and the accumulated stable results.

        ``grows_token``: the text added since the last call holds no whitespace, so the last token
        start ``u`` and everything computed from ``open[:u]`` are unchanged (no hold pattern, PEM
        marker or newline cut can appear without whitespace); only the length-dependent bounds move.
        """
        o = self._open
        n = len(o)
        cache = self._open_cache
        if grows_token and cache is not None:
            su, spu, base_hold, acc = cache
        else:
            u = self._term_unstable_start(o)
            p_u = self._pii_unstable_start(o, u)
            if cache is not None and cache[:2] == (u, p_u):
                su, spu, _, acc = cache  # nothing became stable since the last scan
            else:
                acc = self._scan_open(o, u, p_u)
                su, spu = u, p_u
            base_hold = min(su, spu, self._term_prefix_start(o, u))
            self._open_cache = (su, spu, base_hold, acc)
        pem = self._pem_start(o, spu)
        hold = min(base_hold, pem)
        if not grows_token and hold - self._ck > self._ck_every:
            self._advance_checkpoint(o, hold, acc)
        if n - hold > self.max_holdback and pem == n:
            hold = n - self.max_holdback  # the bound wins (documented limitation)
        r_abs = self._closed_len + max(hold, 0)
        self.holdback_max_seen = max(self.holdback_max_seen, self._closed_len + n - r_abs)
        return r_abs, acc

    def _scan_open(self, o: str, u: int, p_u: int) -> _Acc:
        """Closed results + the scan of the stable open prefix (terms up to ``u``, PII up to ``p_u``)."""
        acc = self._acc.copy()
        c = self._ck
        if min(u, p_u) < c:  # the stable prefix moved back behind the checkpoint: rescan it all
            c = 0
        else:
            acc.merge(self._ck_acc)
        base = self._closed_len + c
        acc.add(self._scan_one("terms", o[c:u]), self._scan_one("pii", o[c:p_u]), base)
        return acc

    def _advance_checkpoint(self, o: str, hold: int, acc: _Acc) -> None:
        """Move the checkpoint to the last plain cut point at least ``_LOOKAHEAD`` before ``hold``.

        Same argument as a forced segment cut: at a space between two letter-only words that no span
        of the current scan crosses, with everything up to ``_LOOKAHEAD`` characters past it already
        scanned, the detectors give the same results on both sides as on the whole (normalization,
        terms and PII patterns are local there; a longer span would begin in released text, which the
        holds rule out). Text before the release point only: a span still growing is never split.
        """
        ck = self._ck
        limit = hold - _LOOKAHEAD
        if limit <= ck:
            return
        lo_abs = self._closed_len + ck
        covered = [
            (sp.start - self._closed_len, sp.end - self._closed_len)
            for sp in acc.term_spans + acc.pii_spans
            if sp.end > lo_abs
        ]
        best = _last_plain_cut(o, ck, limit, covered, default=ck)
        if best <= ck:
            return
        part = o[ck:best]
        self._ck_acc.add(self._scan_one("terms", part), self._scan_one("pii", part), lo_abs)
        self._ck = best  # the next scan of the open segment starts here
        self.checkpoints += 1

    @staticmethod
    def _term_unstable_start(o: str) -> int:
        """Start of the text whose normalization may still change: the last token and spaced letters."""
        n = len(o)
        u = n
        if n and not o[-1].isspace():
            m = _last_ws(o)
            u = m + 1
        m = None
        if u >= 2 and o[u - 1] in _SEPARATORS and o[u - 2].isalnum():  # cheap gate for the regex
            m = _SPACED_TAIL_RE.search(o, max(0, u - 256), u)
        if m is not None and m.start() < u:
            u = _last_ws(o[: m.start()]) + 1  # back to the start of the token the chain begins in
        return u

    def _term_prefix_start(self, o: str, u: int) -> int:
        """Earliest start of complete tokens before ``u`` that begin a multi-word term."""
        if self._max_words <= 1:
            return u
        best = u
        words: list[str] = []
        for start, tok in _tokens_back(o, u, self._max_words - 1):  # nearest first
            words.insert(0, _norm_token(tok))
            joined = " ".join(words)
            if joined in self._prefixes:
                best = start
            elif not any(p.endswith(joined) for p in self._prefix_ends.get(words[-1], ())):
                break  # no term beginning ends with these words: more words cannot help
        return best

    @staticmethod
    def _pii_unstable_start(o: str, u: int) -> int:
        """Start of trailing tokens that may still become a PII span (digit groups, ``key =``)."""
        toks = _tokens_back(o, u, 12)
        p = u
        digits = False
        for start, tok in toks:  # nearest first
            has_digit = any(c.isdigit() for c in tok)
            if (
                has_digit
                or _PII_KEY_TOKEN_RE.match(tok)
                or tok[-1] in ":="
                or (len(tok) <= 4 and tok.isalnum() and tok.isupper())
            ):
                p = start
                digits = digits or has_digit or tok[-1] in ":="
                continue
            if p < u and o[p:u].lstrip()[:1] in (":", "="):
                p = start  # the key of "password = value"
                digits = True
            break
        return p if digits else u

    @staticmethod
    def _pem_start(o: str, scanned: int) -> int:
        """Start of a PEM block whose END marker is not yet inside the scanned text (else ``len(o)``)."""
        b = o.rfind(_PEM_BEGIN, 0, scanned + len(_PEM_BEGIN))
        if b >= 0 and _PEM_END_RE.search(o, b, scanned) is None and len(o) - b <= _PEM_MAX:
            return b
        return len(o)

    # -- decisions ---------------------------------------------------------------------------

    def _blocking(self, scores: dict[tuple[str, str], float], min_score: float = 0.0) -> str:
        """The first category (canonical order) whose blocking action fires on ``scores``."""
        for name, refs in self._plan.items():
            for det, key, thr, action in refs:
                if (det, key) in scores and scores[(det, key)] >= max(thr, min_score) and action in BLOCKING:
                    return name
        return ""

    def _redact_categories(self, scores: dict[tuple[str, str], float]) -> set[str]:
        out = set()
        for name, refs in self._plan.items():
            for det, key, thr, action in refs:
                if action == "redact" and det in SPAN_DETECTORS and scores.get((det, key), 0.0) >= thr:
                    out.add(name)
        return out

    def _release_to(self, r_abs: int, acc: _Acc, final: Verdict | None = None) -> str:
        if r_abs <= self._released:
            return ""
        if final is not None:
            cats = {c for c, s, e in final.spans} if final.action == "redact" else set()
            cats = {c for c in cats if self._category_action(c) == "redact"}
        else:
            cats = acc.memo.get("redact")
            if cats is None:
                cats = acc.memo["redact"] = self._redact_categories(acc.scores())
        spans = [
            sp for sp in acc.term_spans + acc.pii_spans if sp.category in cats and sp.end > self._released
        ]
        # Never cut through a span that will be redacted.
        for sp in spans:
            if sp.start < r_abs < sp.end:
                r_abs = sp.start
        if r_abs <= self._released:
            return ""
        base = self._released
        raw = self._raw(base, r_abs)
        local = [
            (max(sp.start, base) - base, min(sp.end, r_abs) - base, placeholder_for(sp))
            for sp in spans
            if sp.start < r_abs
        ]
        self._released = r_abs
        self.released_chars = r_abs
        return redact(raw, local)

    def _category_action(self, cat: str) -> str:
        return self.filter.categories[cat].action if cat in self.filter.categories else "allow"

    def _raw(self, start: int, end: int) -> str:
        """Raw text [start, end) of the stream (released text is always in closed + open)."""
        if start >= self._closed_len:
            return self._open[start - self._closed_len : end - self._closed_len]
        return self.text[start:end]

    def _stop(self, category: str, line: bool = False) -> None:
        self.stopped = True
        self.stop_reason = category + (" (line)" if line else "")
        v = self._final_verdict(partial=True)
        if v.action not in BLOCKING:  # a line-level classifier stop: stricter than check() on the text
            fired = v.fired + ([category] if category not in v.fired else [])
            v = replace(
                v,
                action="drop",
                fired=fired,
                reason=category,
                text=v.text,
                reasons=[*v.reasons, f"{category}: blocked while streaming ({self.stop_reason})"],
            )
        self.verdict = v

    def _final_verdict(self, partial: bool = False) -> Verdict:
        """``Filter.check`` on the text fed so far, with the span detectors replaying the guard's scan."""
        text = self.text
        acc = self._acc
        if partial and self._open:
            acc = acc.copy()
            try:
                res = self._scan(self._open)
                acc.add(res["terms"], res["pii"], self._closed_len)
            except Exception as e:
                self._error = f"{type(e).__name__}: {e}"
        t_res, p_res = acc.results(self._term_keys)
        dets: dict[str, Any] = dict(self.filter.detectors)
        for name, res in (("terms", t_res), ("pii", p_res)):
            if name in dets:
                rp = _Replay(name)
                rp.result = res
                rp.error = self._error
                dets[name] = rp
        return Filter(self.filter.policy, self.filter.mode, detectors=dets).check(text)


def _last_ws(o: str) -> int:
    """Index of the last whitespace character of ``o`` (-1 when none), looking back in bounded steps."""
    end = len(o)
    while end > 0:
        lo = max(0, end - 256)
        m = _LAST_WS_RE.search(o, lo, end)
        if m is not None:
            return m.start()
        end = lo
    return -1


def _tokens_back(o: str, end: int, k: int) -> Iterator[tuple[int, str]]:
    """Up to ``k`` whitespace-delimited tokens ending before ``end``, nearest first, found lazily.

    A token longer than 64 characters ends the walk (no PII group or term word is that long)."""
    pos = end
    for _ in range(k):
        while pos > 0 and o[pos - 1].isspace():
            pos -= 1
        if pos <= 0:
            return
        lo = max(0, pos - 65)
        m = _LAST_WS_RE.search(o, lo, pos)
        if m is None:
            if lo > 0:
                return
            start = 0
        else:
            start = m.end()
        yield start, o[start:pos]
        pos = start


@lru_cache(maxsize=8192)
def _norm_token(tok: str) -> str:
    return normalize(tok).text


def _last_plain_cut(o: str, start: int, limit: int, covered: list[tuple[int, int]], default: int) -> int:
    """The last plain cut point in ``o[start:limit]`` that no covered span crosses and that is
    outside an open PEM block; ``default`` when there is none."""
    best = default
    for m in _PLAIN_CUT_RE.finditer(o, start, limit):
        p = m.end()
        if p > limit:
            break
        if any(s < p < e for s, e in covered):
            continue
        b = o.rfind(_PEM_BEGIN, 0, p)
        if b >= 0 and _PEM_END_RE.search(o, b, p) is None:
            continue
        best = p
    return best
