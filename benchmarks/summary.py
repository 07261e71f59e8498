"""The "Current figures" table at the top of BENCHMARKS.md, rendered from the committed results files.

BENCHMARKS.md is a dated history: the current figure for anything sits in whichever section last reran it.
This module reads `benchmarks/results/*.json` and renders one table of headline figures, each with its goal,
its results file and that run's date and commit, so a reader finds the current figures in one place and
the table cannot drift from the files (tests/test_benchmark_summary.py compares it with the document).
A figure whose key is missing from its file is an error (SummaryError), never a blank.

    python -m benchmarks.summary            # print the block
    python -m benchmarks.summary --write    # replace it in BENCHMARKS.md, between the marker lines
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.machine import RESULTS
from kit.files import write_text_atomic

DOC = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
START = "<!-- current-figures:start -->"
END = "<!-- current-figures:end -->"


class SummaryError(Exception):
    """A results file lacks what the summary reads (or the document lacks its markers)."""


class Node:
    """A value inside one results file, with its path, so that a missing key names file and path."""

    def __init__(self, file: str, value: Any, path: str = "") -> None:
        self.file, self.value, self.path = file, value, path

    def _missing(self, what: str) -> SummaryError:
        where = f"{self.path}{'' if what.startswith('[') else '.'}{what}" if self.path else what
        return SummaryError(f"benchmarks/results/{self.file} has no {where}")

    def __call__(self, *keys: str) -> Node:
        node = self
        for key in keys:
            if not isinstance(node.value, dict) or key not in node.value:
                raise node._missing(key)
            node = Node(self.file, node.value[key], f"{node.path}.{key}" if node.path else key)
        return node

    def pick(self, **match: Any) -> Node:
        """The one item of this list whose fields equal `match`."""
        label = ",".join(f"{k}={v}" for k, v in match.items())
        items = self.value if isinstance(self.value, list) else []
        found = [i for i in items if isinstance(i, dict) and all(i.get(k) == v for k, v in match.items())]
        if len(found) != 1:
            raise self._missing(f"[{label}] (found {len(found)} such items)")
        return Node(self.file, found[0], f"{self.path}[{label}]")

    @property
    def num(self) -> float:
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise SummaryError(f"benchmarks/results/{self.file}: {self.path} is {self.value!r}, not a number")
        return float(self.value)


@dataclass(frozen=True)
class Figure:
    area: str
    label: str  # what exactly the number measures
    files: tuple[str, ...]
    value: Callable[..., str]  # one Node per file (the whole document)
    goal: str = "—"
    part: str = ""  # dedup_speed merges parts of several runs: the part whose own run date applies


def _x(v: float) -> str:
    return f"{v:.2f}×" if v < 10 else f"{v:.1f}×"


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _n(v: float) -> str:
    return f"{v:,.0f}"


def _cores(n: int) -> str:
    return "1 core" if n == 1 else f"{n} cores"


def _median_range(n: Node, fmt: Callable[[float], str]) -> str:
    return f"{fmt(n('median').num)} ({fmt(n('min').num)}–{fmt(n('max').num)})"


def _snippets(n: Node) -> float:
    return (n("must_contain_rate").num + n("must_not_contain_rate").num) / 2


def _sig(r: Node, system: str) -> float:
    return r("figures", "signatures").pick(system=system)("docs_per_s").num


def _full(r: Node, system: str) -> float:
    return r("figures", "full").pick(system=system)("seconds").num


def _harm(
    first: Node, second: Node, read: Callable[[Node], tuple[float, float]], fmt: Callable[[float], str]
) -> str:
    (a, na), (b, nb) = read(first("shipped_confirm")), read(second("shipped_confirm"))
    return f"{fmt(a)} / {fmt(b)} (n {_n(na)} / {_n(nb)})"


def _any_harm(kind: str) -> Callable[[Node], tuple[float, float]]:
    return lambda s: (s("any_harm", kind, "winnow", "f1").num, s("any_harm", kind, "winnow", "n").num)


def _fpr(source: str) -> Callable[[Node], tuple[float, float]]:
    return lambda s: (s("false_positives", source, "any_fpr").num, s("false_positives", source, "n").num)


def _pair(first: Node, second: Node, *keys: str, fmt: Callable[[float], str] = _pct) -> str:
    """One figure of the shipped configuration in both samples, as "first / second"."""
    return f"{fmt(first('shipped_confirm', *keys).num)} / {fmt(second('shipped_confirm', *keys).num)}"


def _long_documents(first: Node, second: Node) -> str:
    """Found in the middle of a page vs alone, first / second sample."""
    return (
        f"{_pair(first, second, 'long_documents', 'middle', 'located')} (alone "
        f"{_pair(first, second, 'long_documents', 'alone')}; n {_pair(first, second, 'long_documents', 'n', fmt=_n)})"
    )


def _served(first: Node, second: Node) -> str:
    """Served clean prose stopped (check() blocks) and hidden harmful rows stopped, first / second sample."""

    def both(group: str, field: str) -> str:
        return _pair(first, second, "served_documents", group, field)

    return (
        f"clean prose stopped {both('clean_prose_4kb', 'stopped')} (`check()` {both('clean_prose_4kb', 'check_blocks')}); "
        f"hidden harmful rows stopped {both('long_documents_middle', 'stopped')} "
        f"(`check()` {both('long_documents_middle', 'check_blocks')})"
    )


def _framing(first: Node, second: Node) -> str:
    """Per sample, the opening that loses most detection and the one that raises XSTest safe firing most (every
    opening the record holds)."""

    def worst(r: Node) -> str:
        f = r("shipped_confirm", "framing")
        names = [k for k, v in f.value.items() if isinstance(v, dict)]
        if not names:
            raise f._missing("[openings] (found none)")
        lose = min(names, key=lambda k: f(k, "points_vs_plain").num)
        rise = max(names, key=lambda k: f(k, "xstest_safe_points_vs_plain").num)

        def phrase(k: str) -> str:
            p = f(k, "prefix")
            if not isinstance(p.value, str):
                raise SummaryError(f"benchmarks/results/{p.file}: {p.path} is {p.value!r}, not a text")
            return p.value.strip()

        return (
            f'"{phrase(lose)}" {f(lose, "points_vs_plain").num:+.1f} points of detection '
            f"({f(lose, 'lost').num:.0f} rows lost, {f(lose, 'gained').num:.0f} gained, of {f('n').num:.0f}), "
            f'"{phrase(rise)}" {f(rise, "xstest_safe_points_vs_plain").num:+.1f} points of XSTest safe firing'
        )

    return f"{worst(first)} / {worst(second)}"


def _fired_of(group: Node) -> str:
    """How many of a probe's messages of one label fired, as "F of N"."""
    return f"{group('fired').num:.0f} of {group('n').num:.0f}"


def _short_probe(r: Node) -> str:
    probe = r("shipped_confirm", "project_short_messages")
    benign, harmful = probe("benign"), probe("harmful")
    everyday = _pct(benign("per_group", "everyday").num)
    return (
        f"{_fired_of(benign)} benign fire (everyday requests {everyday}); {_fired_of(harmful)} harmful caught"
    )


def _probe(r: Node, key: str) -> str:
    probe = r("shipped_confirm", key)
    safe, harmful = probe("safe"), probe("harmful")
    return (
        f"{_fired_of(safe)} safe fire ({_pct(safe('share_fired').num)}); "
        f"{_fired_of(harmful)} harmful caught ({_pct(harmful('share_fired').num)})"
    )


def _tone(r: Node) -> str:
    probe = r("shipped_confirm", "project_tone_probe")
    hostile, violent, calm = probe("hostile"), probe("violent"), probe("calm")

    def violence(group: Node) -> str:
        return f"{group('per_category', 'violence').num:.0f} of {group('n').num:.0f}"

    return (
        f"hostile: violence fires on {violence(hostile)}, any category on {_fired_of(hostile)}; "
        f"violent: violence fires on {violence(violent)}; calm: {_fired_of(calm)} fire"
    )


def _emoji(r: Node) -> str:
    probe = r("shipped_confirm", "project_emoji_probe")
    return (
        f"benign: {_fired_of(probe('benign'))} with emoji fire, {_fired_of(probe('plain_benign'))} without; "
        f"harmful: {_fired_of(probe('harmful'))} with emoji caught, {_fired_of(probe('plain_harmful'))} without"
    )


def _self_harm(r: Node) -> str:
    probe = r("shipped_confirm", "project_self_harm_probe")
    harmful, safe = probe("harmful"), probe("safe")
    named = harmful("per_category", "self_harm").num
    return (
        f"{_fired_of(harmful)} self-harm messages caught (self_harm named on {named:.0f}); "
        f"{_fired_of(safe)} safe fire ({_pct(safe('share_fired').num)})"
    )


def _check(r: Node, variant: str) -> str:
    row = r("figures", "check").pick(chars=2048, variant=variant)
    return f"{row('p50_ms').num:.2f} / {row('p99_ms').num:.2f} ms (n {_n(row('n').num)})"


def _pii(r: Node) -> str:
    types = r("splits", "test", "types")
    if not isinstance(types.value, dict) or not types.value:
        raise types._missing("<PII types>")

    def lowest(key: str) -> str:
        scores = {t: types(t, key).num for t in types.value}
        low = min(scores.values())
        at = [t for t, v in scores.items() if v == low]
        return f"{low:.3f} ({', '.join(at) if len(at) < len(scores) else 'every type'})"

    return f"{lowest('exact_recall')} / {lowest('exact_precision')}, {len(types.value)} types"


def _train(r: Node) -> str:
    rows = r("figures", "rows")
    fast, loop = rows.pick(config="mid", impl="grouped_mm"), rows.pick(config="mid", impl="loop")
    tps = fast("tokens_per_s").num
    return f"{_n(tps)} tokens/s, {_x(tps / loop('tokens_per_s').num)} the loop, MFU {_pct(fast('mfu').num)}"


_SHIPPED_LANGID = "lid.176 + py3langid + mi/tn/ts (shipped)"
_TOKENIZE = ("figures", "speed")
_FILTER = ("figures", "cold")

FIGURES: tuple[Figure, ...] = (
    Figure(
        "ingest",
        "WARC read + text extraction on one core, per input byte: datatrove's CPU-s per pass (`WarcReader` + "
        "`Trafilatura(favour_precision=True)`) ÷ winnow's (`read_records`) on the same files, median of "
        "interleaved passes after one warm-up pass each",
        ("ingest_speed.json",),
        lambda r: (
            f"{_x(r('figures', 'runs').pick(system='winnow')('cpu_bytes_ratio_vs_datatrove').num)} "
            f"({_n(r('figures', 'runs').pick(system='winnow')('reps').num)} passes)"
        ),
        "≥ 1× (as fast as datatrove per core)",
    ),
    Figure(
        "ingest",
        "ingest task peak RSS at 10k / 100k documents of ~4 KB, a fresh process per size",
        ("ingest_memory.json",),
        lambda r: (
            " / ".join(
                f"{_n(r('figures', 'rows').pick(documents=d)('peak_rss_mib').num)}" for d in (10000, 100000)
            )
            + " MiB"
        ),
        "flat from 10k to 100k",
    ),
    Figure(
        "extraction",
        "*in-sample* (winnow's settings were chosen on these pages): mean article-body token F1 on the gold "
        "news pages of article_extraction_benchmark, winnow / trafilatura defaults / datatrove `Trafilatura()`",
        ("extraction_quality.json",),
        lambda r: (
            " / ".join(
                f"{r('figures', 'article_benchmark', k, 'f1').num:.3f}"
                for k in (
                    "winnow (precision, no comments)",
                    "trafilatura defaults",
                    "datatrove Trafilatura()",
                )
            )
            + f" ({_n(r('figures', 'article_benchmark', 'trafilatura defaults', 'pages').num)} pages)"
        ),
    ),
    Figure(
        "extraction",
        "held out from winnow's settings (but trafilatura's own test set): mean of the must-contain and "
        "must-not-contain snippet rates on trafilatura_eval, winnow / trafilatura defaults",
        ("extraction_quality.json",),
        lambda r: (
            " / ".join(
                f"{_snippets(r('figures', 'snippets', k)):.3f}"
                for k in ("winnow (precision, no comments)", "trafilatura defaults")
            )
            + f" ({_n(r('figures', 'snippets', 'trafilatura defaults', 'pages').num)} pages)"
        ),
    ),
    Figure(
        "dedup speed",
        "MinHash signatures on one core (5-word shingles, 112 hashes, shingling included), docs/s wall, median of "
        "interleaved rounds: winnow; winnow ÷ datasketch at its fastest fair setting (`hashfunc=xxh32`) / ÷ "
        "datatrove's fastest fair one (whitespace words, xxhash 64)",
        ("dedup_speed.json",),
        lambda r: (
            f"{_n(_sig(r, 'winnow (5-word shingles, 112 perms)'))} "
            f"({_n(r('figures', 'signatures').pick(system='winnow (5-word shingles, 112 perms)')('docs').num)} docs); "
            f"{_x(_sig(r, 'winnow (5-word shingles, 112 perms)') / _sig(r, 'datasketch MinHash.bulk (hashfunc=xxh32, fastest fair)'))}"
            f" / {_x(_sig(r, 'winnow (5-word shingles, 112 perms)') / _sig(r, 'datatrove (whitespace words, xxhash 64-bit)'))}"
        ),
        "≥ 1,500 docs/s per core",
        part="sig",
    ),
    Figure(
        "dedup speed",
        "full near-dedup on one core, each system in a fresh process, median of rounds: datatrove's wall seconds ÷ "
        "winnow's (no Jaccard check on either side), datatrove default (spaCy words) / fastest fair (whitespace "
        "words)",
        ("dedup_speed.json",),
        lambda r: (
            f"{_x(_full(r, 'datatrove-default') / _full(r, 'ours_local'))} / "
            f"{_x(_full(r, 'datatrove-whitespace') / _full(r, 'ours_local'))} "
            f"({_n(r('figures', 'full').pick(system='ours_local')('docs').num)} docs)"
        ),
        "≥ 5× datatrove",
        part="full",
    ),
    Figure(
        "dedup memory",
        "near-dedup peak RSS at 1M documents, shipped default (3-word shingles, 32×4, Jaccard check), one process",
        ("dedup_speed.json",),
        lambda r: f"{r('figures', 'memory_curve').pick(docs=1000000)('peak_rss_mib').num / 1024:.1f} GiB",
        "≤ 24 GiB at 1M documents",
        part="mem",
    ),
    Figure(
        "dedup speed",
        "MinHash signatures of the provenance benchmark's test documents (~7.6 KB), shipped default, one core, "
        "docs/s wall, median of interleaved rounds",
        ("signature_speed.json",),
        lambda r: (
            f"{_n(r('figures', 'rows').pick(code='this checkout')('docs_per_s_wall').num)} "
            f"({_n(r('figures', 'documents').num)} docs)"
        ),
        "≥ 3,000 docs/s per core",
    ),
    Figure(
        "dedup quality",
        "held out (provenance test split; the truth is how each document was made): pair F1 / precision against "
        "≥ 50%-rewritten pairs, shipped default (3-word shingles, 0.35, 32×4, Jaccard check); datasketch "
        "`MinHashLSH` at its default threshold 0.9: F1",
        ("dedup_provenance.json",),
        lambda r: (
            f"{r('test', 'winnow default', 'f1').num:.3f} / "
            f"{r('test', 'winnow default', 'precision_vs_rewrites').num:.3f}; datasketch "
            f"{r('test', 'datasketch MinHashLSH default (threshold 0.9)', 'f1').num:.3f}"
        ),
        "F1 ≥ 0.98; precision ≥ 0.99",
    ),
    Figure(
        "filter chain",
        "whole shipped pre-training chain, documents per CPU-s on one core, cold, median (range) over sets of "
        "real deduplicated documents",
        ("filter_speed.json",),
        lambda r: (
            f"{_median_range(r(*_FILTER, 'winnow_full_chain'), _n)} "
            f"({_n(r('figures', 'sets').num)} sets of {_n(r('figures', 'docs').num)})"
        ),
        "≥ 300 docs/s per core",
    ),
    Figure(
        "filter chain",
        "shipped chain ÷ datatrove's chain (lid.176 + GopherRepetition + GopherQuality + C4 + FineWeb filters, "
        "their defaults), ratio of the two medians above",
        ("filter_speed.json",),
        lambda r: (
            f"{_x(r(*_FILTER, 'winnow_full_chain', 'median').num / r(*_FILTER, 'datatrove', 'median').num)} "
            f"(datatrove {_n(r(*_FILTER, 'datatrove', 'median').num)})"
        ),
        "≥ 3× datatrove",
    ),
    Figure(
        "filter chain",
        "what the harm classifier adds to the chain's CPU time: median over sets of chain ÷ the chain without "
        "harm − 1 (range)",
        ("filter_speed.json",),
        lambda r: _median_range(r("figures", "harm_adds"), lambda v: f"{100 * v:.0f}%"),
        "≤ 25%",
    ),
    Figure(
        "filter chain",
        "the same with the harm fast tier only (`pretrain_scope: off`, no encoder)",
        ("filter_speed.json",),
        lambda r: _median_range(r("figures", "fast_harm_adds"), lambda v: f"{100 * v:.0f}%"),
        "≤ 25%",
    ),
    Figure(
        "filter chain",
        "quality detector vs datatrove's four quality filters: documents given the same first failing rule",
        ("quality_speed.json",),
        lambda r: f"{_pct(r('figures', 'same_first_reason').num)} (of {_n(r('figures', 'docs').num)})",
    ),
    Figure(
        "harm",
        "test sources never trained or tuned on, but their sampled rows read by many sessions' decisions (see "
        "the reuse check): any-harm F1 on chat prompts, shipped runtime policy (`shipped_confirm`: fast tier, "
        "encoder confirming), first / second sample",
        ("eval_harm.json", "eval_harm-second-sample.json"),
        lambda a, b: _harm(a, b, _any_harm("chat_prompts"), lambda v: f"{v:.3f}"),
        "≥ 0.75",
    ),
    Figure(
        "harm",
        "test sources, rows read repeatedly: any-harm F1 on comments, same policy, first / second sample",
        ("eval_harm.json", "eval_harm-second-sample.json"),
        lambda a, b: _harm(a, b, _any_harm("comments"), lambda v: f"{v:.3f}"),
        "≥ 0.75",
    ),
    Figure(
        "harm",
        "test sources, rows read repeatedly: clean ~4 KB prose documents on which a harm category fires (FPR), "
        "same policy, first / second sample",
        ("eval_harm.json", "eval_harm-second-sample.json"),
        lambda a, b: _harm(a, b, _fpr("clean_prose_4kb"), _pct),
        "≤ 2%",
    ),
    Figure(
        "harm",
        "test sources, rows read repeatedly: XSTest safe prompts on which a harm category fires (FPR), same "
        "policy, first / second sample",
        ("eval_harm.json", "eval_harm-second-sample.json"),
        lambda a, b: _harm(a, b, _fpr("xstest_safe"), _pct),
        "≤ 10%",
    ),
    Figure(
        "harm",
        "test sources, rows read repeatedly: a harmful chat prompt or comment placed as its own paragraph in the "
        "middle of a clean held-out ~4 KB page, found at its place (a harm category fires with a span over it), "
        "vs the same rows alone, same policy, first / second sample (`long_documents`)",
        ("eval_harm.json", "eval_harm-second-sample.json"),
        _long_documents,
        "found (deliverable 4; no figure set)",
    ),
    Figure(
        "harm",
        "test sources, rows read repeatedly: the clean ~4 KB prose documents served as model answers through "
        "`winnow serve`'s stream guard (server defaults: each complete line also judged on its own), stopped, vs "
        "`check()` of the whole text blocking them; and answers hiding a harmful row in the middle of a clean page, "
        "stopped; first / second sample (`served_documents`)",
        ("eval_harm.json", "eval_harm-second-sample.json"),
        _served,
        "≤ 2% (the clean-prose goal, for `check()`)",
    ),
    Figure(
        "harm",
        "test sources, rows read repeatedly: the obfuscation's harmful rows and XSTest's safe prompts with a neutral "
        'opening put before each ("Honestly, ", "Well, ", "Quick question: ", "Sure, here is my answer. ", '
        '"lol "; written for the evaluation), the opening that loses most detection and the one that raises XSTest '
        "safe firing most, same policy, first / second sample (`framing`)",
        ("eval_harm.json", "eval_harm-second-sample.json"),
        _framing,
        "— (no goal; the obfuscation goal allows 5 points)",
    ),
    Figure(
        "harm",
        "the project's 222 short chat messages (`data/harm_short_messages`, 4-11 words, never trained on): benign "
        "ones on which a harm category fires, and harmful ones caught, shipped runtime policy",
        ("eval_harm.json",),
        _short_probe,
    ),
    Figure(
        "harm",
        "the project's 324 chat prompts (`data/harm_prompt_probe`, 5-22 words, never trained on; used in fifteen ship "
        "rules): safe prompts with harmful-sounding words on which a harm category fires, and harmful "
        "requests caught, shipped runtime policy",
        ("eval_harm.json",),
        lambda r: _probe(r, "project_prompt_probe"),
        "safe: ≤ 10% (safe prompts with harmful-sounding words)",
    ),
    Figure(
        "harm",
        "the project's 630 chat messages that name groups of people (`data/harm_group_probe`, 5-21 words, never "
        "trained on; the fresh sets of two ship rules, read by every variant evaluated since, none shipped): safe ones (questions, "
        "facts and news, own identity, counter-speech, appreciation) on which a harm category fires, and harmful "
        "ones (hate without slurs, violence and harassment over who people are) caught, shipped runtime policy",
        ("eval_harm.json",),
        lambda r: _probe(r, "project_group_probe"),
        "—",
    ),
    Figure(
        "harm",
        "the project's 303 chat messages about harm (`data/harm_help_probe`, 6-19 words, never trained on; the fresh "
        "set of a ship rule, read by every variant evaluated since, none shipped): people asking for help (a friend who "
        "self-harms, abuse, an overdose, a child's disclosure, reporting, recovery) on which a harm category fires, "
        "and harmful requests on the same topics caught, shipped runtime policy",
        ("eval_harm.json",),
        lambda r: _probe(r, "project_help_probe"),
        "—",
    ),
    Figure(
        "harm",
        "the project's 1,246 casual messages by tone (`data/harm_tone_probe`, 5-32 words, never trained on; the fresh "
        "sets of two ship rules, read by nine variants, none shipped): hostile messages without violence "
        "(insults, contempt, demeaning statements, rants) on which violence fires and on which any harm category "
        "fires; violent ones (threats, wishes of harm, incitement, requests to hurt) on which violence fires; calm "
        "ones on which a harm category fires; shipped runtime policy",
        ("eval_harm.json",),
        _tone,
        "—",
    ),
    Figure(
        "harm",
        "the project's 615 chat messages by emoji (`data/harm_emoji_probe`, 5-18 words, never trained on; the fresh "
        "sets of a ship rule, read by five variants, none shipped): benign messages with emoji on which a harm category "
        "fires, and harmful ones with emoji (hate, violence, harassment, self-harm) caught, beside the same writers' "
        "messages without emoji; shipped runtime policy",
        ("eval_harm.json",),
        _emoji,
        "—",
    ),
    Figure(
        "harm",
        "the project's 345 chat messages about self-harm (`data/harm_self_harm_probe`, 5-26 words, never trained on; "
        "the fresh sets of a ship rule, read by four variants, none shipped): messages expressing suicidal ideation, "
        "intent, self-injury or a goodbye caught (and how many name self_harm), and safe ones (asking for help, "
        "support, recovery, information, news, figurative speech) on which a harm category fires; shipped runtime policy",
        ("eval_harm.json",),
        _self_harm,
        "—",
    ),
    Figure(
        "runtime check",
        "`Filter.check()` of 2 KB real texts, shipped runtime policy (harm encoder confirming), p50 / p99 wall "
        "clock, one core, each text timed once after warm-up",
        ("check_latency.json",),
        lambda r: _check(r, "plain"),
        "— (the p99 goal is for the fast tier)",
    ),
    Figure(
        "runtime check",
        "the same with the harm fast tier only (encoder off)",
        ("check_latency.json",),
        lambda r: _check(r, "plain, harm fast tier only"),
        "p99 < 5 ms",
    ),
    Figure(
        "language ID",
        "held out (odd rows of lingua's sentences): macro accuracy over its 75 languages, shipped detector "
        "(lid.176 + py3langid + mi/tn/ts third opinion)",
        ("eval_langid.json",),
        lambda r: f"{r('results', _SHIPPED_LANGID, 'sentences/test', 'macro').num:.3f}",
        "≥ 0.95",
    ),
    Figure(
        "language ID",
        "held out (UDHR `test` half, ~200-character paragraphs): macro accuracy over the languages the shipped "
        "detector can name",
        ("eval_langid_udhr.json",),
        lambda r: (
            f"{r('figures', 'results', _SHIPPED_LANGID, 'shipped_names', 'macro').num:.3f} "
            f"({_n(r('figures', 'results', _SHIPPED_LANGID, 'shipped_names', 'languages').num)} languages)"
        ),
        "≥ 0.80 over 150+ languages",
    ),
    Figure(
        "language ID",
        "shipped detector, ms per ~4 KB document of the benchmark corpus, one core, median of interleaved rounds",
        ("eval_langid_speed_quiet.json",),
        lambda r: (
            f"{r('results', _SHIPPED_LANGID, 'speed', 'benchmark_corpus', 'ms_per_doc_median').num:.3f} ms "
            f"({len(r('results', _SHIPPED_LANGID, 'speed', 'benchmark_corpus', 'runs_ms').value)} rounds)"
        ),
        "< 0.5 ms",
    ),
    Figure(
        "PII",
        "held out (`pii_heldout` test split: generated values and hard negatives; its error kinds were read "
        "once): lowest exact recall / lowest exact precision over the non-phone types",
        ("eval_pii_heldout.json",),
        _pii,
    ),
    Figure(
        "PII",
        "phone numbers, `holdout` split of phones_eval: span-exact recall / precision (the precision is "
        "in-sample for one rule, added after its false spans were read)",
        ("eval_phones.json",),
        lambda r: (
            f"{r('results', 'after', 'set_holdout (held out; its false spans informed one rule)', 'recall').num:.3f}"
            f" / {r('results', 'after', 'set_holdout (held out; its false spans informed one rule)', 'precision').num:.3f}"
        ),
    ),
    Figure(
        "tokenize",
        "`tokenize_to_dir` end to end (read Parquet, encode, pack, write shards) on one core, tokens per CPU-s: × "
        "datatrove `DocumentTokenizer` / share of raw `encode_batch`; median of round-robin rounds, all warmed",
        ("tokenize_speed-1core.json",),
        lambda r: (
            f"{_x(r(*_TOKENIZE).pick(method='winnow tokenize_to_dir (end to end)')('vs_datatrove_cpu').num)} / "
            f"{100 * r(*_TOKENIZE).pick(method='winnow tokenize_to_dir (end to end)')('vs_encode_batch_cpu').num:.0f}%"
        ),
        "≥ 2× / ≥ 90%",
    ),
    Figure(
        "trainer",
        "CPU, one thread, `mid` config, grouped_mm experts: tokens/s, × the per-expert "
        "loop, MFU against an estimated CPU peak; one run, mean over logged windows after the first",
        ("train_speed.json",),
        _train,
    ),
    Figure(
        "trainer",
        "moe-small on one H200, `torch.compile`: MFU (989 TFLOP/s bf16 peak) / expert load max ÷ mean, worst "
        "layer, last full window",
        ("gpu_check_300.json",),
        lambda r: (
            f"{_pct(r('figures', 'rows').pick(config='small')('mfu').num)} / "
            f"{r('figures', 'rows').pick(config='small')('load_max_over_mean').num:.2f} "
            f"({_n(r('figures', 'rows').pick(config='small')('steps').num)} steps)"
        ),
        "MFU ≥ 35% / load ≤ 1.1",
    ),
    Figure(
        "serving",
        "`winnow serve` throughput lost to the shipped filter, 1 − filtered ÷ unfiltered req/s: concurrent "
        "streaming clients; upstream, both servers and the load generator share the cores the run was given; "
        "mean of the rounds",
        ("serve_load.json",),
        lambda r: (
            f"{_pct(1 - r('figures', 'throughput_ratio').num)} ({r('figures', 'off', 'req_per_s').num:.0f} → "
            f"{r('figures', 'on', 'req_per_s').num:.0f} req/s, "
            f"{_n(r('figures', 'params', 'concurrency').num)} clients, "
            f"{_cores(len(r('machine', 'cpu_affinity').value))})"
        ),
        "< 10%",
    ),
    Figure(
        "report",
        "`winnow report` of a synthetic run with its default row cap: seconds wall / CPU, median of interleaved "
        "passes; largest histogram-share difference from the full read",
        ("report_speed.json",),
        lambda r: (
            f"{r('figures', 'results', 'winnow report (cap 200k rows/stage)', 'seconds').num:.2f} / "
            f"{r('figures', 'results', 'winnow report (cap 200k rows/stage)', 'cpu_seconds').num:.2f} s "
            f"({_n(r('figures', 'rows').num)} rows); {r('figures', 'accuracy', 'max_bin_share_error').num:.4f}"
        ),
    ),
)


# The command that writes a results file whose name is not simply its benchmark's (`python -m benchmarks.NAME`).
COMMANDS = {
    "eval_harm-second-sample.json": "python -m benchmarks.eval_harm --per-source 300 --offset 300 "
    "--out benchmarks/results/eval_harm-second-sample.json",
    "eval_langid_speed_quiet.json": "python -m benchmarks.eval_langid --no-accuracy --core 1 "
    "--out benchmarks/results/eval_langid_speed_quiet.json",
    "tokenize_speed-1core.json": "python -m benchmarks.tokenize_speed --cores 1 --tables speed --repeat 3 --tag 1core",
    "gpu_check_300.json": "python -m benchmarks.train_speed --device cuda --configs small --impls auto --compile "
    "--steps 300 --batch 32 --micro 16 --seq-len 2048 --vocab 32768 --bias-update-rate 0.01 "
    "--out benchmarks/results/gpu_check_300.json on a GPU machine (see benchmarks/gpu_check.sh)",
}


def command_for(name: str) -> str:
    """The command that writes benchmarks/results/`name`."""
    return COMMANDS.get(name, f"python -m benchmarks.{name.removesuffix('.json')}")


def load(folder: Path, name: str) -> Node:
    path = folder / name
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SummaryError(
            f"benchmarks/results/{name} not found: write it with {command_for(name)}"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SummaryError(
            f"benchmarks/results/{name} is not a readable JSON file ({e}): restore it from git or rerun "
            f"{command_for(name)}"
        ) from None
    if not isinstance(doc, dict):
        raise SummaryError(
            f"benchmarks/results/{name} holds a {type(doc).__name__}, not a results object: rerun {command_for(name)}"
        )
    return Node(name, doc)


def _date(doc: Node) -> str:
    """'YYYY-MM-DD HH:MM' (or the day alone) from whichever layout wrote the file."""
    for keys in (("date",), ("meta", "date"), ("machine", "date")):
        value = doc.value
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        m = re.match(r"(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}))?", value) if isinstance(value, str) else None
        if m:
            return " ".join(g for g in m.groups() if g)
    raise SummaryError(f"benchmarks/results/{doc.file} has no date (date, meta.date or machine.date)")


def _commit(doc: Node) -> str:
    code = doc.value.get("code") or doc.value.get("meta", {}).get("code") or {}
    if not code.get("commit"):
        return "no commit recorded"
    # A results file written before it was committed shows the tree as dirty; only other paths matter.
    code_changes = [p for p in code.get("changed_paths", []) if not p.startswith("benchmarks/results/")]
    return code["commit"][:7] + (" + uncommitted changes" if code_changes else "")


def _run(figure: Figure, docs: list[Node]) -> str:
    if figure.part:
        runs = docs[0]("figures", "part_runs").value
        if figure.part not in runs:
            return f"not recorded (an earlier run's part, merged into the file of {_date(docs[0])})"
        run = runs[figure.part]
        return f"{_date(Node(docs[0].file, run))}, {_commit(Node(docs[0].file, {'code': run}))}"
    commits = {_commit(d) for d in docs}
    if len(commits) == 1:
        return f"{' / '.join(_date(d) for d in docs)}, {commits.pop()}"
    return "; ".join(f"{_date(d)}, {_commit(d)}" for d in docs)


def render(folder: Path = RESULTS) -> str:
    """The block between the markers, markers included."""
    cache: dict[str, Node] = {}
    rows = []
    for f in FIGURES:
        for name in f.files:
            if name not in cache:
                cache[name] = load(folder, name)
        docs = [cache[name] for name in f.files]
        try:
            value, run = f.value(*docs), _run(f, docs)
        except SummaryError as e:
            raise SummaryError(f"{e} (read for the '{f.area}' figure: {f.label})") from None
        files = ", ".join(f"`{name}`" for name in f.files)
        rows.append(f"| {f.area} | {f.label} | {value} | {f.goal} | {files} | {run} |")
    return "\n".join(
        [
            START,
            "## Current figures",
            "",
            "This table is generated from the committed results files by `python -m benchmarks.summary --write`\n"
            "(do not edit it by hand); the sections below are the dated history, with how each figure was\n"
            "measured and its fairness statement. Speed figures from different machines do not compare: the\n"
            'run date says which machine ran a figure ("Machines" above). Goals met or not are stated in the\n'
            "sections; a figure here is the latest run, not a best run.",
            "",
            "| area | figure | value | goal | results file (`benchmarks/results/`) | run (UTC), commit |",
            "|---|---|---|---|---|---|",
            *rows,
            END,
        ]
    )


def replace_block(text: str, block: str) -> str:
    """`text` with the part from START to END (inclusive) replaced by `block`."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise SummaryError(f"BENCHMARKS.md must hold one '{START}' line and one '{END}' line after it")
    return text[: text.index(START)] + block + text[text.index(END) + len(END) :]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the block in BENCHMARKS.md")
    args = parser.parse_args(argv)
    try:
        block = render(RESULTS)
        if args.write:
            write_text_atomic(DOC, replace_block(DOC.read_text(encoding="utf-8"), block))
    except SummaryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not args.write:
        print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
