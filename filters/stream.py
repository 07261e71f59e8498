"""StreamGuard: apply a runtime ``Filter`` to a stream of model output chunks, incrementally.

Why it is exact: the rule detectors (``terms``, ``pii``) read the text through the same view as
``Filter.check`` -- line breaks are whitespace like any other (the term view folds every whitespace
run, ``\n`` and ``\r\n`` included, into one space), so the guard never cuts the text at a newline.
It scans the *open* text from a checkpoint on each chunk, and moves the checkpoint forward (every
``_CK_EVERY`` characters of stable text) only to a cut point that it has *verified*: a space between
two letter-only words, ``_LOOKAHEAD`` characters of stable text already seen after it, where the
scans of the two sides on their own give exactly the spans of the scan across it. That check is
derived from the rules themselves (multi-word terms, innocent phrases, the street after a house
number, the label before a postal code), not from a list of them. The open text is trimmed at the
checkpoint once it is longer than ``max_segment``, so every character is scanned a bounded number of
times (O(n) overall). The spans found so far are append-only lists that each scan of the open text shares
(``_Acc`` views), looked up from the release point and the checkpoint, which only move forward: a
chunk's cost does not grow with the stream (a reply full of phone numbers or blanks is not quadratic).

The final verdict is computed by the real ``Filter`` on the whole text with the span detectors
replaced by replays of the accumulated results, so it is ``Filter.check(text)`` (the classifiers,
e.g. toxicity, run once on the whole text at ``close()``).

Release: inside the open text only the *stable* prefix is scanned -- text before the last token (a
token still being written can change the normalization, a term match or a PII span) -- and release
and scan stop before (a) the last token and any chain of spaced single letters, (b) earlier tokens
that together are the beginning of a multi-word blocklist term or of an innocent phrase, (c)
trailing digit groups, the capitalized words after them that may still make them a house number
(the street look-ahead of the phone rule), and ``key =`` / ``key:`` tokens that may still become a
phone, card, IBAN or secret, (d) an open PEM block (scanned once its END marker is stable, not on
each of its lines). Spans of redacting categories are replaced by
their placeholders in the released text. The stream stops at the first *stable* blocking verdict,
before the violating span is released; the stop's verdict is ``check`` of the text up to where the stop
was found (the end of the first rule hit at which the rules alone block on the hits up to there, or of
the stopping line, whichever comes first in the text), so it does not depend on how much more text had
arrived in the same chunk (docs/SERVING.md lists what still can).

Hold-back bound: when more than ``max_holdback`` characters are held (a long run without whitespace),
the held text is decided on as it stands, conservatively, and never released raw: the stream stops
if it holds a hit of a blocking category (whatever its weight) or the beginning of a multi-word
term of one; otherwise it is released up to ``max_holdback // 2`` characters before the end with
every PII-shaped span redacted (``undecided_releases`` counts these). Only then can the released text
differ from ``check(text).text`` (stricter).

Innocent senses (``senses.tsv``): a hit of such a term is cancelled by a sense word within
SENSE_WINDOW characters of the term view, before or after it. A scan that holds such a hit is redone
with the text before it as context (up to ``_MAX_CONTEXT`` raw characters: a sense word further back
only through longer whitespace or format-character runs is not seen), and the hit is neither counted
nor released until SENSE_WINDOW characters of stable text follow it.

Classifier categories: when ``classify_lines`` is on, each complete line is scored by the classifiers on
its own when its newline arrives (lines that arrive together one by one) and a blocking score stops the
stream early; the final verdict
of a stream that ran to the end is still ``check(whole text)``. A line-level stop is stricter than
``check`` on the whole text (a toxic line is not diluted by the clean lines around it); such a
verdict names the category with reason ``"<category> (line)"``.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator
from dataclasses import replace
from functools import lru_cache
from typing import Any

from filters.detectors.base import DetectorResult, Span
from filters.engine import Filter, Verdict, placeholder_for
from filters.normalize import normalize, normalize_term
from filters.pii import PHONE_CONTEXT_AFTER, PHONE_STREET_WORDS, redact
from filters.policy import SPAN_DETECTORS
from filters.terms import (
    SENSE_WINDOW,
    language_scoped,
    load_default_entries,
    load_innocent_phrases,
    load_senses,
)

__all__ = ["StreamGuard"]

BLOCKING = frozenset({"drop"})  # actions that stop a text (the server reads this too)
_PEM_BEGIN = "-----BEGIN "
_PEM_END_RE = re.compile(r"-----END (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY(?: BLOCK)?-----")
_PEM_MAX = 16384 + 256  # the PRIVATE_KEY pattern's own bound on a block
# Stable characters seen after a checkpoint before it is made: more than any rule reads past a cut
# that the split check accepts (the phone rule's street look-ahead is the longest).
_LOOKAHEAD = 128
# A rule stop is placed at the first hit at which the rules block on the text up to it, trying at most this many
# hits (each try scans the answer so far with the rules, once, when the answer stops).
_MAX_STOP_CHECKS = 64
assert _LOOKAHEAD > PHONE_CONTEXT_AFTER
_WS_RE = re.compile(r"\s")
# The checkpoint moves once the stable open text behind it is this much longer than _LOOKAHEAD.
_CK_EVERY = 128
_LAST_WS_RE = re.compile(r"\s(?=\S*\Z)")
_LAST_NON_WS_RE = re.compile(r"\S(?=\s*\Z)")
_SEPARATORS = frozenset(" .-_*·•/")
# A chain of spaced single letters at the end ("f u c ", "f.u.c") that could still grow into a run.
_SPACED_TAIL_RE = re.compile(r"(?:(?<![^\W_])[^\W_][ .\-_*·•/]{1,2})+$")
# A forced cut: after the space following a letter-only word of 5+ letters, before a letter.
_PLAIN_CUT_RE = re.compile(r"(?<![\w\-./@:=])[^\W\d_]{5,} (?=[^\W\d_]{2})")
_PII_KEY_TOKEN_RE = re.compile(r"^(?:[:=]+|x|ext\.?)$", re.IGNORECASE)
_CAPITALIZED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
# Two spaced single letters ("h o w"): words of the term view then span several raw tokens.
_SPACED_PAIR_RE = re.compile(r"(?<![^\W_])[^\W_][ .\-_*·•/]{1,2}[^\W_](?![^\W_])")
_PREFIX_TAIL = 512  # raw characters before the scan end searched for the beginning of a term
_VIEW_WORD_RE = re.compile(r"[^ ]+")
# Raw text kept before the open text: context for the innocent-sense words of a term (SENSE_WINDOW
# normalized characters, more raw ones where whitespace runs fold); a longer fold is not looked past.
_MAX_CONTEXT = 16 * SENSE_WINDOW


@lru_cache(maxsize=8)
def _word_prefixes(
    extra: tuple[tuple[str, tuple[str, ...]], ...],
) -> tuple[dict[str, frozenset[str]], int, dict[str, tuple[str, ...]]]:
    """Normalized beginnings (whole words) of multi-word terms and innocent phrases (a phrase still
    being written can cancel a hit) with the categories of the terms they begin, the most words a
    term or phrase has, and the beginnings indexed by their last word."""
    named = [(normalize_term(e.term), e.category) for e in load_default_entries()]
    named += [(normalize_term(t), cat) for cat, ts in extra for t in ts]
    named += [(normalize_term(p), "") for p in load_innocent_phrases()]
    prefixes: dict[str, set[str]] = {}
    most = 1
    for t, cat in named:
        words = t.split(" ")
        most = max(most, len(words))
        for k in range(1, len(words)):
            prefixes.setdefault(" ".join(words[:k]), set()).update([cat] if cat else [])
    by_last: dict[str, list[str]] = {}
    for p in prefixes:
        by_last.setdefault(p.rsplit(" ", 1)[-1], []).append(p)
    frozen = {p: frozenset(c) for p, c in prefixes.items()}
    return frozen, most, {w: tuple(ps) for w, ps in by_last.items()}


@lru_cache(maxsize=1)
def _sense_terms() -> frozenset[str]:
    """Normalized terms whose hits their innocent-sense words (before or after them) cancel."""
    return frozenset(normalize_term(t) for t in load_senses())


class _Replay:
    """A span detector that returns results computed earlier (the guard's accumulated scan).

    The guard scans terms with the language unknown (every list counts). When the final check knows
    the language and the scan holds a hit of another language's list, the terms detector (`rescan`)
    reads the whole text once more with the language, exactly as ``check`` does; otherwise knowing
    the language removes nothing, and the scan is replayed."""

    def __init__(self, name: str, rescan: Any = None):
        self.name = name
        self.result: DetectorResult | None = None
        self.error: str | None = None
        self.rescan = rescan
        self.uses_language = rescan is not None

    def detect_batch(self, texts: list[str], langs: list[str | None] | None = None) -> list[DetectorResult]:
        if self.error is not None:
            raise RuntimeError(self.error)
        if self.result is None or len(texts) != 1:
            raise RuntimeError("replay detector used outside StreamGuard")
        if langs and langs[0] is not None and any(language_scoped(sp.label) for sp in self.result.spans):
            return self.rescan.detect_batch(texts, langs=langs)
        return [self.result]


class _Acc:
    """Accumulated results of the span detectors (absolute offsets).

    The closed results and those before the checkpoint are flat, append-only ``_Acc``s; each scan of
    the open text builds a *view* on them (``_Acc(closed, checkpointed)``): their spans as far as they
    were, shared, plus the view's own. So a chunk costs the open window, never a copy of every span
    found so far (a reply full of phone numbers would otherwise be quadratic)."""

    def __init__(self, *bases: _Acc) -> None:
        if any(b.bases for b in bases):
            raise ValueError("an _Acc view needs flat bases")
        self.bases = bases
        self.n_base = [(len(b.term_spans), len(b.pii_spans)) for b in bases]
        self.term_weight: dict[str, float] = {}
        self.pii_categories: set[str] = set()
        for b in bases:
            self.merge_scores(b)
        self.term_spans: list[Span] = []  # this one's own spans (a flat _Acc: all of them)
        self.pii_spans: list[Span] = []
        # Decisions derived from a finished _Acc (blocking category, redacting categories): an _Acc
        # from _scan_open is never changed after it is built, so they are computed once per scan.
        self.memo: dict[str, Any] = {}
        # (reader, list) -> index before which every own span ended at or before the reader's last
        # position (readers ask with positions that only grow: the release point, the checkpoint).
        self._cursors: dict[tuple[str, int], int] = {}

    def merge(self, other: _Acc) -> None:
        """Add a flat ``other``'s weights and spans (results of text that follows this one's)."""
        self.merge_scores(other)
        self.term_spans += other.term_spans
        self.pii_spans += other.pii_spans

    def merge_scores(self, other: _Acc) -> None:
        for cat, w in other.term_weight.items():
            self.term_weight[cat] = self.term_weight.get(cat, 0.0) + w
        self.pii_categories |= other.pii_categories

    def add(self, terms: DetectorResult | None, pii: DetectorResult | None, base: int) -> None:
        if terms is not None:
            for cat, s in terms.scores.items():
                if s > 0.0:
                    self.term_weight[cat] = self.term_weight.get(cat, 0.0) + -math.log1p(-min(s, 1 - 1e-16))
            self.term_spans += [
                Span(sp.category, sp.start + base, sp.end + base, sp.label) for sp in terms.spans
            ]
        if pii is not None:
            for sp in pii.spans:
                self.add_pii(Span(sp.category, sp.start + base, sp.end + base, sp.label))

    def add_pii(self, span: Span) -> None:
        self.pii_spans.append(span)
        self.pii_categories.add(span.category)

    def all_term_spans(self) -> list[Span]:
        shared = [sp for b, (n, _) in zip(self.bases, self.n_base, strict=True) for sp in b.term_spans[:n]]
        return shared + self.term_spans

    def all_pii_spans(self) -> list[Span]:
        shared = [sp for b, (_, n) in zip(self.bases, self.n_base, strict=True) for sp in b.pii_spans[:n]]
        return shared + self.pii_spans

    def term_spans_backwards(self) -> Iterator[Span]:
        """Term spans, last scanned first (the open scan's come before the closed ones)."""
        yield from reversed(self.term_spans)
        for b, (n, _) in zip(reversed(self.bases), reversed(self.n_base), strict=True):
            yield from reversed(b.term_spans[:n])

    def spans_ending_after(self, pos: int, reader: str) -> list[Span]:
        """Term then PII spans that end after ``pos``; ``reader`` names a caller whose ``pos`` never
        decreases, so the spans that ended before it are skipped without being looked at again."""
        out: list[Span] = []
        for k, own in enumerate((self.term_spans, self.pii_spans)):
            for b, counts in zip(self.bases, self.n_base, strict=True):
                out += b._own_ending_after(k, counts[k], pos, reader)
            out += self._own_ending_after(k, len(own), pos, reader)
        return out

    def _own_ending_after(self, k: int, n: int, pos: int, reader: str) -> list[Span]:
        spans = (self.term_spans, self.pii_spans)[k]
        i = self._cursors.get((reader, k), 0)
        while i < n and spans[i].end <= pos:
            i += 1
        self._cursors[(reader, k)] = i
        return [sp for sp in spans[i:n] if sp.end > pos]

    def scores(self) -> dict[tuple[str, str], float]:
        out = {("terms", c): 1.0 - math.exp(-w) for c, w in self.term_weight.items()}
        for cat in sorted(self.pii_categories):
            out[("pii", cat)] = 1.0
        return out

    def results(self, term_keys: tuple[str, ...]) -> tuple[DetectorResult, DetectorResult]:
        t_scores = {c: 0.0 for c in term_keys}
        t_scores.update({c: 1.0 - math.exp(-w) for c, w in self.term_weight.items()})
        cats = self.pii_categories
        p_scores = {"pii": 1.0 if "pii" in cats else 0.0, "secrets": 1.0 if "secrets" in cats else 0.0}
        return (
            DetectorResult(
                scores=t_scores,
                spans=sorted(self.all_term_spans(), key=lambda s: (s.start, s.end, s.category)),
            ),
            DetectorResult(scores=p_scores, spans=self.all_pii_spans()),
        )


def _bar(threshold: float, min_score: float, margin: float) -> float:
    """The score a line must reach: the threshold, at least ``min_score``, and ``margin`` log-odds above the
    threshold (thresholds differ per category, 0.25 to 0.96 for harm, so one probability floor raises some not at
    all)."""
    bar = max(threshold, min_score)
    if margin > 0.0 and 0.0 < threshold < 1.0:
        bar = max(bar, 1.0 / (1.0 + math.exp(-(math.log(threshold / (1.0 - threshold)) + margin))))
    return bar


class StreamGuard:
    """Feed model output chunks; get back only the text that is safe to release.

    ``feed(chunk) -> str`` returns the newly releasable text (redacted, possibly ""); ``close() -> str``
    releases the rest or nothing if the whole text is blocked. ``stopped`` is True once a blocking
    violation was seen (``feed`` then returns ""), ``verdict`` is the final ``Verdict``: on a stop,
    ``check`` of the text up to where the stop was found (``stop_at``: the end of the stopping line or of
    the hit at which the rules block; on a hold-back stop, a detector error or a block found only at
    ``close``, all the text seen), and ``stop_reason`` names the category (with " (line)" or
    " (holdback)" when that was a line's classifier score or the hold-back bound).
    At most ``max_holdback`` characters are held; past it the held text is decided conservatively.

    ``scan_every``: scan at most once per this many new characters (0: on every chunk). Shorter chunks
    are only buffered until then, so a stream of small pieces costs one scan per ``scan_every``
    characters instead of one per piece. It delays release and changes nothing else: the released text
    and every verdict are those of the same text fed in bigger chunks (which the guard handles alike).
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
        line_margin: float = 0.0,
        fail_closed: bool = True,
        scan_every: int = 0,
    ):
        if max_segment < max_holdback + _LOOKAHEAD:
            max_segment = max_holdback + _LOOKAHEAD
        self.filter = filter
        self.strict = strict
        self.max_holdback = max_holdback
        self.max_segment = max_segment
        self.classify_lines = classify_lines
        self.line_min_score = line_min_score
        if not 0.0 <= line_margin <= 20.0:
            raise ValueError(f"StreamGuard: line_margin must be in [0, 20] (log-odds), got {line_margin!r}")
        self.line_margin = line_margin
        self.fail_closed = fail_closed
        self.scan_every = max(0, scan_every)
        self._pending = ""  # fed but not yet scanned (shorter than scan_every)
        self.detector_errors: list[str] = []
        self.stopped = False
        self.verdict: Verdict | None = None
        self.stop_reason = ""
        self.stop_at: int | None = None  # line or rule stop: where found (the verdict's text ends there)
        self.released_chars = 0  # raw characters released so far
        self.holdback_max_seen = 0
        self.undecided_releases = 0  # releases decided at the hold-back bound (see the module doc)
        self._unclassified = ""  # text not yet scored by the line classifiers (no newline yet)
        self._unclassified_at = 0  # its absolute offset
        self._chunks: list[str] = []
        self._closed_len = 0  # absolute offset of the open segment
        self._open = ""
        self._acc = _Acc()
        self._released = 0  # absolute raw offset released so far
        # (u, p_u, the scanned ends for terms and PII, acc incl. the stable open prefix) of the last scan.
        self._open_cache: tuple[int, int, int, int, _Acc] | None = None
        self._closed_tail = ""  # the last _MAX_CONTEXT characters of the closed text
        # Checkpoint inside the open segment: results of open[:ck] are final (a plain cut point, see
        # _advance_checkpoint), so each chunk rescans only open[ck:u], not the whole open line.
        self._ck = 0
        self._ck_acc = _Acc()
        self._ck_every = _CK_EVERY
        self.checkpoints = 0  # times the open-segment checkpoint moved (long lines)
        self.rejected_cuts = 0  # checkpoint candidates where the split scans differed from the whole
        # The last rejected candidate (closed length, checkpoint, cut, PII scan end) and the term scan
        # end it was checked at: while the release point is stuck (a long run of digit groups) the same
        # cut is retried only after _CK_EVERY more stable characters, not on every chunk. Skipping a
        # check only keeps the checkpoint where it is, which never changes a result.
        self._rejected: tuple[tuple[int, int, int, int], int] | None = None
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
                if r.applies_in(filter.mode)
            ]
            for name, cat in filter.categories.items()
            if name != "language"
        }
        self._span_dets = {n: filter.detectors[n] for n in SPAN_DETECTORS if n in filter.detectors}
        # The rule hits a stop can be found at: those of a term list or PII type some category blocks on.
        self._rule_stop_keys = {
            (det, key)
            for refs in self._plan.values()
            for det, key, _, action in refs
            if det in SPAN_DETECTORS and action in BLOCKING
        }
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
        if self.scan_every:
            self._pending += chunk
            if len(self._pending) < self.scan_every:
                return ""
            chunk, self._pending = self._pending, ""
        return self._scan_chunk(chunk)

    def _scan_chunk(self, chunk: str) -> str:
        """Scan the text with one more chunk and return what is now safe to release."""
        self._chunks.append(chunk)
        self._open += chunk
        # A chunk without whitespace only extends the last (unstable) token: the stable prefix, its
        # scan and every hold except the length bounds stay as they were (see _stable_open).
        grows_token = _WS_RE.search(chunk) is None and self._open_cache is not None
        try:
            line_stop = None
            if self.classify_lines and self._line_dets:
                line_stop = self._classify_complete_lines(chunk)
            if self.stopped:
                return ""
            if len(self._open) > self.max_segment:
                self._close_to_checkpoint()
            r_abs, acc = self._stable_open(grows_token)
            blocking = acc.memo.get("blocking")
            if blocking is None:
                blocking = acc.memo["blocking"] = self._blocking(acc.scores())
            # The stop found earliest in the text wins, whichever check found it in this piece.
            rule_stop = self._rule_stop(acc, line_stop[1] if line_stop else None) if blocking else None
            if rule_stop:
                self._stop(rule_stop[0], upto=rule_stop[1])
                return ""
            if line_stop:
                self._stop(line_stop[0], why="line", upto=line_stop[1])
                return ""
            if blocking:  # no scanned hit blocks on its own prefix (past the cap): all the text seen
                self._stop(blocking)
                return ""
            if self._over_holdback(r_abs):
                return self._release_undecided(acc)
        except Exception as e:  # a detector failed: fail closed
            self._error = f"{type(e).__name__}: {e}"
            self._stop("detector_error")
            return ""
        return self._release_to(r_abs, acc)

    def close(self) -> str:
        """End of stream: the final verdict on the whole text; release (redacted) or withhold the rest."""
        if self.verdict is not None:
            return ""
        if self._pending:  # buffered by scan_every: scanned like any chunk first
            chunk, self._pending = self._pending, ""
            head = self._scan_chunk(chunk)
            return head if self.verdict is not None else head + self._close_scanned()
        return self._close_scanned()

    def _close_scanned(self) -> str:
        """The final verdict once every fed character has been scanned."""
        try:
            if self._open:
                self._close_open()
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
        """Everything scanned so far, exactly as generated (text that ``scan_every`` still buffers is
        not in it)."""
        return "".join(self._chunks)

    @property
    def held(self) -> int:
        """Characters fed but not (yet) released."""
        return self._closed_len + len(self._open) - self._released

    # -- segments ----------------------------------------------------------------------------

    def _close_to_checkpoint(self) -> None:
        """Move the open text before the checkpoint (final results, see _advance_checkpoint) to the
        closed results, so that the open text stays short."""
        ck = self._ck
        if ck == 0:
            return
        self._acc.merge(self._ck_acc)
        self._closed_len += ck
        self._closed_tail = (self._closed_tail + self._open[:ck])[-_MAX_CONTEXT:]
        self._open = self._open[ck:]
        self._open_cache = None
        self._ck = 0
        self._ck_acc = _Acc()

    def _scan(self, o: str, a: int, b: int) -> dict[str, DetectorResult | None]:
        """Both span detectors on ``o[a:b]`` (offsets relative to ``a``)."""
        return {"terms": self._scan_terms(o, a, b), "pii": self._scan_one("pii", o[a:b])}

    def _scan_terms(self, o: str, a: int, b: int, count_to: int | None = None) -> DetectorResult | None:
        """Terms on ``o[a:b]`` as they are in the whole text: when it holds a hit of a term with an
        innocent sense, it is rescanned with the text before ``a`` as context (whose sense words and
        phrases count, whose hits do not). ``count_to``: hits starting there or later are context too.
        """
        res = self._scan_one("terms", o[a:b])
        if res is None or not any(self._is_sense_hit(o, a + sp.start, a + sp.end) for sp in res.spans):
            return res
        if count_to is None and self._closed_len + a == 0:
            return res
        pre = self._context_before(o, a)
        k = len(pre)
        window = (k, k + (b if count_to is None else count_to) - a)
        full = self._span_dets["terms"].detect_batch([pre + o[a:b]], windows=[window])[0]
        spans = [Span(sp.category, sp.start - k, sp.end - k, sp.label) for sp in full.spans]
        return DetectorResult(scores=full.scores, spans=spans, labels=full.labels)

    def _is_sense_hit(self, o: str, start: int, end: int) -> bool:
        return _norm_token(o[start:end]) in _sense_terms()

    def _context_before(self, o: str, a: int) -> str:
        """Raw text before open offset ``a`` that normalizes to more than SENSE_WINDOW characters."""
        size = SENSE_WINDOW + 64
        while True:
            pre = (self._closed_tail + o[:a])[-size:]
            if len(pre) < size or size >= _MAX_CONTEXT or len(normalize(pre).text) > SENSE_WINDOW + 1:
                return pre
            size *= 4

    def _sense_open_start(self, o: str, acc: _Acc, u: int) -> int:
        """Start of the first hit of a sense term whose SENSE_WINDOW look-ahead is not all stable
        text yet (its innocent-sense words may still come); ``u`` when none."""
        first = u
        lo = self._closed_len
        for sp in acc.term_spans_backwards():
            s, e = sp.start - lo, sp.end - lo
            if s < self._ck:
                break
            if s >= first or not self._is_sense_hit(o, s, e):
                continue
            if len(normalize(o[e:u]).text) <= SENSE_WINDOW + 1:
                first = s
        return first

    def _scan_one(self, name: str, text: str) -> DetectorResult | None:
        det = self._span_dets.get(name)
        if det is None:
            return None
        return det.detect_batch([text])[0] if text else DetectorResult()

    def _close_open(self) -> None:
        """End of stream: scan the whole open text (no cut inside it) into the closed results."""
        res = self._scan(self._open, 0, len(self._open))
        self._acc.add(res["terms"], res["pii"], self._closed_len)
        self._closed_len += len(self._open)
        self._closed_tail = (self._closed_tail + self._open)[-_MAX_CONTEXT:]
        self._open = ""
        self._open_cache = None
        self._ck = 0
        self._ck_acc = _Acc()

    def _classify_complete_lines(self, chunk: str) -> tuple[str, int] | None:
        """Score each line that ``chunk`` completes on its own (or ``max_segment`` characters without a
        newline) with the classifiers: the blocking category of the first line that has one, and that
        line's absolute end (the caller stops there unless a rule's hit ends earlier). Lines that arrive
        together are scored one by one, so a line stop does not depend on how the answer was cut into
        pieces. A classifier error stops the stream here when failing closed."""
        self._unclassified += chunk
        nl = self._unclassified.rfind("\n")
        if nl < 0 and len(self._unclassified) <= self.max_segment:
            return None
        cut = nl + 1 if nl >= 0 else len(self._unclassified)
        done, self._unclassified = self._unclassified[:cut], self._unclassified[cut:]
        base, self._unclassified_at = self._unclassified_at, self._unclassified_at + cut
        parts = done.split("\n")  # each line keeps its newline, as when it arrives on its own
        ends = [*itertools.accumulate(len(p) + 1 for p in parts[:-1]), cut]
        texts = [p + "\n" for p in parts[:-1]] + parts[-1:]
        kept = [(line, base + end) for line, end in zip(texts, ends, strict=True) if line.strip()]
        lines = [line for line, _ in kept]
        if not lines:
            return None
        line_scores: list[dict[tuple[str, str], float]] = [{} for _ in lines]
        for name, det in self._line_dets.items():
            try:
                results = det.detect_batch(lines)
            except Exception as e:  # classifier broke on these lines
                self.detector_errors.append(f"{name}: {type(e).__name__}: {e}")
                if self.fail_closed:
                    self._stop("detector_error")
                    return None
                continue
            for scores, r in zip(line_scores, results, strict=True):
                scores.update({(name, k): v for k, v in r.scores.items()})
        for scores, (_, end) in zip(line_scores, kept, strict=True):
            cat = self._blocking(scores, min_score=self.line_min_score, margin=self.line_margin)
            if cat:
                return cat, end
        return None

    # -- the open segment --------------------------------------------------------------------

    def _stable_open(self, grows_token: bool = False) -> tuple[int, _Acc]:
        """Absolute offset up to which text may be released, and the accumulated stable results.

        ``grows_token``: the text added since the last call holds no whitespace, so the last token
        start ``u`` and everything computed from ``open[:u]`` are unchanged (no hold pattern or PEM
        marker can appear without whitespace). The hold-back bound is the caller's (``feed``).
        """
        o = self._open
        n = len(o)
        cache = self._open_cache
        if grows_token and cache is not None:
            _, _, su, spu, acc = cache
        else:
            # A term or innocent phrase still being written is neither scanned nor released.
            u, _ = self._open_term(o, self._term_unstable_start(o))
            p_u = self._pii_unstable_start(o, u, self._released - self._closed_len)
            # An open PEM block is held whole: it is scanned once its END marker is stable (or it
            # outgrows the key pattern's bound), not again on each of its lines.
            pem_open = self._pem_start(o, p_u)
            u, p_u = min(u, pem_open), min(p_u, pem_open)
            if cache is not None and cache[:2] == (u, p_u):
                _, _, su, spu, acc = cache  # nothing became stable since the last scan
            else:
                acc = self._scan_open(o, u, p_u)
                su, spu = u, p_u
                sense = self._sense_open_start(o, acc, u)
                if sense < u:  # a hit its sense words may still cancel: count hits before it only
                    su = self._open_term(o, sense)[0]
                    acc = self._scan_open(o, u, p_u, count_to=su)
            self._open_cache = (u, p_u, su, spu, acc)
        pem = self._pem_start(o, spu)
        hold = min(su, spu, pem)
        if not grows_token and hold - self._ck > _LOOKAHEAD + self._ck_every:
            self._advance_checkpoint(o, hold, acc)
        r_abs = self._closed_len + max(hold, 0)
        self.holdback_max_seen = max(self.holdback_max_seen, self._closed_len + n - r_abs)
        return r_abs, acc

    def _scan_open(self, o: str, u: int, p_u: int, count_to: int | None = None) -> _Acc:
        """Closed results + the scan of the stable open prefix (terms up to ``u``, PII up to ``p_u``;
        term hits from ``count_to`` on are context only)."""
        c = self._ck
        if min(u if count_to is None else count_to, p_u) < c:  # moved back behind the checkpoint
            c = 0
            acc = _Acc(self._acc)
        else:
            acc = _Acc(self._acc, self._ck_acc)
        base = self._closed_len + c
        acc.add(self._scan_terms(o, c, u, count_to), self._scan_one("pii", o[c:p_u]), base)
        return acc

    def _advance_checkpoint(self, o: str, hold: int, acc: _Acc) -> None:
        """Move the checkpoint to the last plain cut point at least ``_LOOKAHEAD`` before ``hold``
        where the scans of the two sides on their own give exactly the spans of the scan across it.

        The split check is what makes the cut exact for every rule, whatever it reads around a match
        (a multi-word term, an innocent phrase, the street after a house number, the label before a
        postal code): a rule whose match or context crosses the cut gives other spans on one side.
        Text before the release point only: a span still growing is never split.
        """
        ck = self._ck
        limit = hold - _LOOKAHEAD
        if limit <= ck:
            return
        lo_abs = self._closed_len + ck
        after = acc.spans_ending_after(lo_abs, "checkpoint")
        covered = [(sp.start - self._closed_len, sp.end - self._closed_len) for sp in after]
        best = _last_plain_cut(o, ck, limit, covered, default=ck)
        if best <= ck and limit - ck > 4 * _CK_EVERY:  # no plain cut in a long window ("1 2 3 ...")
            best = _last_uncovered_blank(o, ck, limit, covered)  # the split check below still decides
        if best <= ck:
            return
        su, spu = self._open_cache[2:4] if self._open_cache else (hold, hold)
        candidate = (self._closed_len, ck, best, spu)
        if (
            self._rejected is not None
            and self._rejected[0] == candidate
            and su - self._rejected[1] < _CK_EVERY
        ):
            return
        left_t, left_p = self._scan_terms(o, ck, best), self._scan_one("pii", o[ck:best])
        right_t, right_p = self._scan_terms(o, best, su), self._scan_one("pii", o[best:spu])
        split = _span_keys([left_t, left_p], lo_abs) + _span_keys([right_t, right_p], lo_abs - ck + best)
        whole = [sp for sp in after if sp.start >= lo_abs]
        if sorted(split) != sorted(_span_keys([DetectorResult(spans=whole)], 0)):
            self.rejected_cuts += 1
            self._rejected = (candidate, su)
            return
        self._ck_acc.add(left_t, left_p, lo_abs)
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

    def _open_term(self, o: str, u: int) -> tuple[int, set[str]]:
        """Where the text that may still be part of a term or innocent phrase begins, and the
        categories of the terms it may begin.

        From the unstable tail back over beginnings of multi-word terms, repeated until no beginning
        ends there: a term that crosses the point found would begin with the words before it
        ("how to make a" before "pipe bomb ..."). ``u``: the end of the text that may be scanned."""
        categories: set[str] = set()
        while True:
            start, words = self._term_prefix(o, u)
            if start >= u:
                return u, categories
            categories |= self._prefixes[words]
            u = start

    def _term_prefix(self, o: str, u: int) -> tuple[int, str]:
        """The longest run of complete tokens before ``u`` that begins a multi-word term or innocent
        phrase: its start and its normalized words (``u`` and "" when none)."""
        if self._max_words <= 1:
            return u, ""
        tokens = ((start, _norm_token(tok)) for start, tok in _tokens_back(o, u, self._max_words - 1))
        best, best_words, reach = self._longest_beginning(tokens, u)
        if _SPACED_PAIR_RE.search(o, max(0, reach - 4), u) is not None:
            # "h o w to make a": the words of the term view span several raw tokens
            best, best_words, _ = self._longest_beginning(_view_words_back(o, max(0, u - _PREFIX_TAIL), u), u)
        return best, best_words

    def _longest_beginning(self, words_back: Iterator[tuple[int, str]], u: int) -> tuple[int, str, int]:
        """Over (start, word) nearest first: the start and words of the longest term beginning, and
        the start of the last word looked at."""
        best, best_words, reach = u, "", u
        words: list[str] = []
        for start, word in itertools.islice(words_back, self._max_words - 1):
            reach = start
            words.insert(0, word)
            joined = " ".join(words)
            if joined in self._prefixes:
                best, best_words = start, joined
            elif not any(p.endswith(joined) for p in self._prefix_ends.get(words[-1], ())):
                break  # no term beginning ends with these words: more words cannot help
        return best, best_words, reach

    @staticmethod
    def _pii_unstable_start(o: str, u: int, floor: int) -> int:
        """Start of trailing tokens that may still become a PII span or stop being one (digit groups,
        ``key =``, the capitalized words after a number that may still make it a house number).

        The whole run of such tokens back to ``floor`` (the released text): a span may begin anywhere
        in it ("GB82 WEST 1234 ..." behind a card and two phones)."""
        toks = _tokens_back(o, u, len(o))
        p = u
        digits = False
        names = 0
        for start, tok in toks:  # nearest first
            if start < floor:
                break
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
            if p == u and names < PHONE_STREET_WORDS and tok[0] in _CAPITALIZED:
                names += 1  # "17151 2450 Crown St": the phone rule reads the street after a number
                continue
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

    def _blocking(
        self, scores: dict[tuple[str, str], float], min_score: float = 0.0, margin: float = 0.0
    ) -> str:
        """The first category (canonical order) whose blocking action fires on ``scores``: at or above its
        threshold, ``min_score`` and, with a ``margin``, the threshold raised by that many log-odds."""
        for name, refs in self._plan.items():
            for det, key, thr, action in refs:
                if (
                    (det, key) in scores
                    and action in BLOCKING
                    and scores[(det, key)] >= _bar(thr, min_score, margin)
                ):
                    return name
        return ""

    def _rule_stop(self, acc: _Acc, before: int | None) -> tuple[str, int] | None:
        """Where a rule stop is found in the text: the end of the first scanned hit (of a term list or PII
        type some category blocks on) at which the rules alone block on the hits that start before it (a
        category that needs several hits is found at the hit that completes it), and that category. Terms
        are read in all the text seen, so an innocent-sense word after a hit still cancels it, as in the
        guard's own scan; hits in released text are never a stop. The hits tried are the first
        ``_MAX_STOP_CHECKS``, ending at or before ``before`` (a line stop found there comes first); None when
        none blocks (the caller then judges all the text seen)."""
        keys = self._rule_stop_keys
        ends = {sp.end for sp in acc.all_term_spans() if ("terms", sp.category) in keys}
        ends |= {sp.end for sp in acc.all_pii_spans() if ("pii", sp.category) in keys}
        text = self.text
        terms = self._span_dets.get("terms")
        for end in [e for e in sorted(ends) if e > self.released_chars][:_MAX_STOP_CHECKS]:
            if before is not None and end > before:
                break
            found = _Acc()
            term_hits = terms.detect_batch([text], windows=[(0, end)])[0] if terms is not None else None
            found.add(term_hits, self._scan_one("pii", text[:end]), 0)
            category = self._blocking(found.scores())
            if category:
                return category, end
        return None

    def _redact_categories(self, scores: dict[tuple[str, str], float]) -> set[str]:
        out = set()
        for name, refs in self._plan.items():
            for det, key, thr, action in refs:
                if action == "redact" and det in SPAN_DETECTORS and scores.get((det, key), 0.0) >= thr:
                    out.add(name)
        return out

    def _over_holdback(self, r_abs: int) -> bool:
        """More than ``max_holdback`` characters would stay held (a PEM block in progress may be)."""
        o = self._open
        held = self._closed_len + len(o) - max(r_abs, self._released)
        return held > self.max_holdback and self._pem_start(o, len(o)) == len(o)

    def _release_undecided(self, acc: _Acc) -> str:
        """Decide on the held text as it stands, conservatively; never release it raw.

        Stops if it holds a hit of a blocking category (whatever its weight) or the beginning of a
        multi-word term of one; otherwise releases all but ``max_holdback // 2`` characters with every
        PII-shaped span (and a PEM block too long to be a key) redacted."""
        o = self._open
        n = len(o)
        lo = max(0, self._released - self._closed_len - _LOOKAHEAD)
        seen = _Acc()
        res = self._scan(o, lo, n)
        seen.add(res["terms"], res["pii"], self._closed_len + lo)
        prefix_start, prefix_categories = self._open_term(o, self._term_unstable_start(o))
        blocking = self._first_blocking({sp.category for sp in seen.term_spans})
        if not blocking and prefix_start < n - self.max_holdback // 2:
            blocking = self._first_blocking(prefix_categories)
        if blocking:
            self._stop(blocking, why="holdback")
            return ""
        target = self._closed_len + n - self.max_holdback // 2
        b = o.rfind(_PEM_BEGIN)
        if b >= 0 and _PEM_END_RE.search(o, b) is None:  # its released part goes as a placeholder
            start = max(self._closed_len + b, self._released)
            seen.add_pii(Span("secrets", start, target, "PRIVATE_KEY"))
        self.undecided_releases += 1
        redacting = {c for c in self.filter.categories if self._category_action(c) == "redact"}
        return self._release_to(target, acc, cats=redacting, extra=seen.term_spans + seen.pii_spans)

    def _first_blocking(self, term_categories: set[str]) -> str:
        """The first category (canonical order) with a blocking term rule for one of these term keys."""
        for name, refs in self._plan.items():
            if any(d == "terms" and k in term_categories and a in BLOCKING for d, k, _, a in refs):
                return name
        return ""

    def _release_to(
        self,
        r_abs: int,
        acc: _Acc,
        final: Verdict | None = None,
        cats: set[str] | None = None,
        extra: list[Span] | None = None,
    ) -> str:
        """Release up to ``r_abs`` with the spans of redacting categories (``cats`` when given) of
        ``acc`` and ``extra`` redacted."""
        if r_abs <= self._released:
            return ""
        if cats is None:
            cats = self._redacting(acc, final)
        candidates = (extra or []) + acc.spans_ending_after(self._released, "release")
        spans = [sp for sp in candidates if sp.category in cats and sp.end > self._released]
        r_abs = _before_spans(r_abs, spans)
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

    def _redacting(self, acc: _Acc, final: Verdict | None) -> set[str]:
        """Categories whose spans are redacted: those the final verdict redacts, else those the
        stable results fire with a redact action."""
        if final is not None:
            cats = {c for c, s, e in final.spans} if final.action == "redact" else set()
            return {c for c in cats if self._category_action(c) == "redact"}
        cats = acc.memo.get("redact")
        if cats is None:
            cats = acc.memo["redact"] = self._redact_categories(acc.scores())
        return cats

    def _category_action(self, cat: str) -> str:
        return self.filter.categories[cat].action if cat in self.filter.categories else "allow"

    def _raw(self, start: int, end: int) -> str:
        """Raw text [start, end) of the stream (released text is always in closed + open)."""
        if start >= self._closed_len:
            return self._open[start - self._closed_len : end - self._closed_len]
        return self.text[start:end]

    def _stop(self, category: str, why: str = "", upto: int | None = None) -> None:
        """Stop the stream; ``why``: "line" (a line's classifier score) or "holdback" (the bound). With
        ``upto`` (where the stop was found: the end of the stopping line or of the hit at which the rules
        block) the verdict is ``check`` of the text up to there, so the stopped answer's verdict and
        message do not depend on how much more had arrived in the same piece; otherwise of all the text
        seen."""
        self.stopped = True
        self.stop_reason = category + (f" ({why})" if why else "")
        self.stop_at = upto
        v = self.filter.check(self.text[:upto]) if upto is not None else self._final_verdict(partial=True)
        if v.action not in BLOCKING:  # a line or hold-back stop, or a rule stop on a list check() leaves out
            # for the text's language: stricter than check() on the text; the verdict drops, naming the category
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
            acc = _Acc(acc)
            try:
                res = self._scan(self._open, 0, len(self._open))
                acc.add(res["terms"], res["pii"], self._closed_len)
            except Exception as e:
                self._error = f"{type(e).__name__}: {e}"
        t_res, p_res = acc.results(self._term_keys)
        dets: dict[str, Any] = dict(self.filter.detectors)
        for name, res in (("terms", t_res), ("pii", p_res)):
            if name in dets:
                rp = _Replay(name, dets[name] if getattr(dets[name], "uses_language", False) else None)
                rp.result = res
                rp.error = self._error
                dets[name] = rp
        return Filter(self.filter.policy, self.filter.mode, detectors=dets).check(text)


def _before_spans(pos: int, spans: list[Span]) -> int:
    """``pos``, moved back until no span crosses it: never cut through a span that will be redacted."""
    moved = True
    while moved:
        moved = False
        for sp in spans:
            if sp.start < pos < sp.end:
                pos, moved = sp.start, True
    return pos


def _span_keys(results: list[DetectorResult | None], base: int) -> list[tuple[str, int, int, str]]:
    """The spans of ``results`` (a scan starting at ``base``) as comparable absolute tuples."""
    return [
        (sp.category, sp.start + base, sp.end + base, sp.label)
        for res in results
        if res is not None
        for sp in res.spans
    ]


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


def _after_last_non_ws(o: str, end: int) -> int:
    """One past the last non-whitespace character of ``o[:end]`` (0 when none), looking back in
    growing steps: a long blank run costs a few regex scans, not a Python step per character."""
    step = 64
    while end > 0:
        lo = max(0, end - step)
        m = _LAST_NON_WS_RE.search(o, lo, end)
        if m is not None:
            return m.start() + 1
        end, step = lo, step * 4
    return 0


def _tokens_back(o: str, end: int, k: int) -> Iterator[tuple[int, str]]:
    """Up to ``k`` whitespace-delimited tokens ending before ``end``, nearest first, found lazily.

    A token longer than 64 characters ends the walk (no PII group or term word is that long)."""
    pos = end
    for _ in range(k):
        pos = _after_last_non_ws(o, pos)
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


def _view_words_back(o: str, lo: int, u: int) -> Iterator[tuple[int, str]]:
    """Words of the term view of ``o[lo:u]`` (spaced letters collapsed), nearest first, with the raw
    offset each starts at."""
    view = normalize(o[lo:u], elongation=False)
    for m in reversed(list(_VIEW_WORD_RE.finditer(view.text))):
        yield lo + view.raw_index(m.start()), m.group()


@lru_cache(maxsize=8192)
def _norm_token(tok: str) -> str:
    return normalize(tok).text


def _last_uncovered_blank(o: str, start: int, limit: int, covered: list[tuple[int, int]]) -> int:
    """The position after the last blank of ``o[start:limit]`` that no covered span crosses (a cut
    between two phone numbers, not inside one); ``start`` when there is none."""
    p = limit
    while p > start:
        p = _last_ws(o[:p]) + 1
        if p <= start or not any(s < p < e for s, e in covered):
            break
        p -= 1
    return max(p, start)


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
