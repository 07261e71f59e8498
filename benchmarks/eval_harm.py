"""Evaluate the harm judgement of the shipped policy on whole sources it never saw (train nor dev).

    nice -n 10 .venv/bin/python -m benchmarks.eval_harm [--data ../shared/data] [--per-source N]

Why: figures on held-out sources measure generalization, not memory. The split is
`scripts/harm_data.SOURCE_SPLIT` (decided before training); only its `test` rows are read here.
Every text goes through `Filter(shipped policy, mode="runtime")`, as `winnow filter score --mode
runtime` does: a category fires when its terms or its classifier do. Two configurations side by
side: the shipped one (the encoder tier re-judges the windows the fast tier would fire on), the fast
tier alone (what a machine without the encoder gets) and the encoder on the whole uncertain band. Each test source is sampled to at most `--per-source` rows (a
salted hash, all rows of small sources), so `make eval` stays within minutes on one core.

Reports (and writes benchmarks/results/eval_harm.json):
- per category and per test source: precision, recall, F1 of "the category fired", ROC AUC of the
  category's score. A source with positives only is scored against XSTest's safe prompts as
  negatives (marked `negatives`);
- any-harm (some harm category fired; AUC on the largest harm-category score) per source and pooled
  over chat-style prompts and over comments; alt-profanity-check (at 0.5) side by side;
- false-positive rates on clean ~4 KB prose (held-out books, WikiText, TinyStories), real news
  articles (../web/article_extraction_benchmark, one document per article; first sample only),
  held-out MedQuAD collections and XSTest safe prompts;
- 95% bootstrap intervals (rows resampled within each source) for the pooled F1s and the
  false-positive rates, so a reader sees how far a figure moves by sampling alone;
- obfuscation: detection rate of the plain test positives vs the same texts rewritten with
  homoglyphs, leet, fullwidth, zero-width characters or spaced letters at half of the characters.
  The transforms are written here, independently of filters/normalize.py;
- the chat-prompt trade-off (`chat_operating_points`): recall, XSTest safe prompts firing and F1 when
  every harm classifier threshold of the policy moves by one log-odds offset (the encoder's gate
  fixed), checked to reproduce every shipped verdict at offset 0;
- the project's own probes: hard negatives, benign web pages, short chat messages, chat prompts (harmful
  requests and safe prompts with harmful-sounding words), messages that name groups of people, messages
  about harm (people asking for help, and harmful requests on the same topics), and casual messages by tone
  (hostile without violence, violent, calm: which category fires, not only whether one does);
- cost: ms per 2 KB text on one core (p50 / p99) of the harm detector per configuration, and the
  share of windows the encoder judged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import (  # noqa: E402
    SHARED_DATA,
    code_version,
    machine_info,
    nonnegative_int,
    require_writable_file,
    shared_data_missing,
)
from benchmarks.policy_variants import shipped_policy_data, without_harm_classifier  # noqa: E402
from filters.detectors.harm import CATEGORIES, HarmDetector  # noqa: E402
from filters.engine import Filter  # noqa: E402
from filters.policy import Policy, default_policy_path  # noqa: E402
from filters.stream import BLOCKING, StreamGuard  # noqa: E402
from scripts.harm_data import NULL, REQUIRED_FILES, Row, load_all  # noqa: E402
from server.config import ServeConfig  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "eval_harm.json"
PROMPT_SOURCES = ("xstest_prompts", "simplesafetytests", "harmbench_behaviors", "advbench")
COMMENT_SOURCES = ("surge_toxicity", "wiki_toxicity", "jigsaw_ibm", "toxigen")
NEWS = "news:article_extraction_benchmark"  # real news articles: a clean-document source (see load_news)
OBFUSCATION_SAMPLE = 400
OBFUSCATED_SOURCES = PROMPT_SOURCES + COMMENT_SOURCES  # the default set whose positives are rewritten
SPEED_TEXTS = 200
PER_SOURCE = 300
PROSE_DOCS = 300
SEED = 13
# (name, encoder, scope, encoder precision; None = the policy's): the shipped default (the encoder
# confirms what the fast tier would fire on), the fast tier alone (a machine without the encoder),
# the encoder on the whole uncertain band, and the shipped default with each encoder precision.
CONFIGS = (
    ("shipped_confirm", "required", "confirm", None),
    ("fast_tier_only", "off", "off", None),
    ("encoder_band", "required", "band", None),
    ("encoder_all", "required", "all", None),
    ("confirm_fp32", "required", "confirm", "fp32"),
    ("confirm_bf16", "required", "confirm", "bf16"),
)
# encoder_band judges ~75% of windows with the encoder (~100x the cost), encoder_all every window: only on request.
DEFAULT_CONFIGS = ["shipped_confirm", "fast_tier_only"]
RATE = 0.5

# ---------------------------------------------------------------- obfuscation transforms (eval-only)
HOMOGLYPHS = {
    "a": "а",
    "c": "с",
    "e": "е",
    "i": "і",
    "j": "ј",
    "o": "о",
    "p": "р",
    "s": "ѕ",
    "x": "х",
    "y": "у",
    "h": "һ",
    "k": "κ",
    "v": "ν",
    "t": "τ",
}
LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7", "b": "8", "g": "9", "l": "1"}


def _rng(text: str, name: str) -> random.Random:
    return random.Random(hashlib.sha256(f"{name}\x00{text}".encode()).digest())


def _substitute(text: str, table: dict[str, str], name: str) -> str:
    rng = _rng(text, name)
    return "".join(table[ch.lower()] if ch.lower() in table and rng.random() < RATE else ch for ch in text)


def homoglyphs(text: str) -> str:
    """Latin letters -> Cyrillic/Greek lookalikes at half of the letters that have one."""
    return _substitute(text, HOMOGLYPHS, "homoglyph")


def leet(text: str) -> str:
    """Letters -> digits at half of the letters that have a leet form."""
    return _substitute(text, LEET, "leet")


def fullwidth(text: str) -> str:
    """Printable ASCII -> fullwidth forms at half of the characters."""
    rng = _rng(text, "fullwidth")
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" and rng.random() < RATE else ch for ch in text)


def zero_width(text: str) -> str:
    """A zero-width space (or joiner) after half of the characters."""
    rng = _rng(text, "zero_width")
    return "".join(ch + rng.choice("\u200b\u200c\u200d") if rng.random() < RATE else ch for ch in text)


def spaced(text: str) -> str:
    """A space inside words after half of the letters that another letter follows ("ki l l")."""
    rng = _rng(text, "spaced")
    out = []
    for i, ch in enumerate(text):
        out.append(ch)
        if ch.isalpha() and i + 1 < len(text) and text[i + 1].isalpha() and rng.random() < RATE:
            out.append(" ")
    return "".join(out)


TRANSFORMS: dict[str, Callable[[str], str]] = {
    "homoglyph": homoglyphs,
    "leet": leet,
    "fullwidth": fullwidth,
    "zero_width": zero_width,
    "spaced": spaced,
}


# ---------------------------------------------------------------------------------------- metrics
def roc_auc(y: np.ndarray, s: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return round(float(roc_auc_score(y, s)), 4) if 0 < y.sum() < len(y) else None


def prf(y: np.ndarray, pred: np.ndarray) -> dict[str, float | int]:
    """Precision, recall, F1 and counts of binary predictions."""
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {
        "n": len(y),
        "positives": int(y.sum()),
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(f1, 4),
    }


def binary_report(y: np.ndarray, score: np.ndarray, fired: np.ndarray) -> dict:
    return {**prf(y, fired), "roc_auc": roc_auc(y, score)}


BOOTSTRAP = 1000  # resamples for the 95% intervals


def bootstrap_picks(strata: list[str]) -> np.ndarray:
    """`BOOTSTRAP` resamples of row indices, `[BOOTSTRAP, n]`: drawn with replacement within each
    stratum (a source), so every source keeps its size in every resample. Fixed seed."""
    rng = np.random.default_rng(SEED)
    groups = [np.flatnonzero(np.asarray(strata) == s) for s in sorted(set(strata))]
    return np.concatenate([g[rng.integers(0, len(g), size=(BOOTSTRAP, len(g)))] for g in groups], axis=1)


def resampled(y: np.ndarray, fired: np.ndarray, picks: np.ndarray, stat: str) -> np.ndarray:
    """F1 (`stat="f1"`) or firing rate (`"rate"`) of each resample in `picks`."""
    f = fired[picks]
    if stat == "rate":
        return f.mean(axis=1)
    pos = y[picks] == 1
    tp, fp, fn = (f & pos).sum(1), (f & ~pos).sum(1), (~f & pos).sum(1)
    return 2 * tp / np.maximum(2 * tp + fp + fn, 1)


def interval95(y: np.ndarray, fired: np.ndarray, strata: list[str], stat: str) -> list[float]:
    """Percentile bootstrap 95% interval of F1 (`stat="f1"`) or of the firing rate (`"rate"`), rows
    resampled within each source. Why: one sample of ~300 rows per source moved clean-prose FPR by
    3.6 points and comments F1 by 0.036 between two disjoint samples; the interval says how far a
    figure can move by the drawing of rows alone (rows are treated as independent within a source)."""
    lo, hi = np.percentile(resampled(y, fired, bootstrap_picks(strata), stat), [2.5, 97.5])
    return [round(float(lo), 4), round(float(hi), 4)]


def shipped_harm(policy: Policy, mode: str, encoder: str, scope: str, precision: str | None) -> HarmDetector:
    """The policy's harm detector for `mode` with one configuration (precision None: the policy's)."""
    options = {**policy.detectors.options("harm"), "encoder": encoder, f"{mode}_scope": scope}
    if precision is not None:
        options["encoder_precision"] = precision
    return HarmDetector(**options, mode=mode)


class Judge:
    """The shipped policy in runtime mode with one harm-detector configuration."""

    def __init__(self, encoder: str, scope: str, precision: str | None = None):
        self.policy = Policy.load(default_policy_path())
        self.harm = shipped_harm(self.policy, "runtime", encoder, scope, precision)
        self.filter = Filter(self.policy, mode="runtime", detectors={"harm": self.harm})

    def judge(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(scores, fired) per text and harm category."""
        scores = np.zeros((len(texts), len(CATEGORIES)))
        fired = np.zeros((len(texts), len(CATEGORIES)), dtype=bool)
        for start in range(0, len(texts), 64):
            for i, v in enumerate(self.filter.check_batch(texts[start : start + 64]), start):
                scores[i] = [v.categories.get(c, 0.0) for c in CATEGORIES]
                fired[i] = [c in v.fired for c in CATEGORIES]
        return scores, fired


class Scored:
    """Test rows with their category scores and fired flags under one configuration."""

    def __init__(self, judge: Judge, rows: list[Row]):
        self.rows = rows
        before = dict(judge.harm.stats)
        self.scores, self.fired = judge.judge([r.text for r in rows])
        windows = judge.harm.stats["windows"] - before["windows"]
        self.encoder_share = (judge.harm.stats["encoder_windows"] - before["encoder_windows"]) / max(
            windows, 1
        )
        self.any_score = self.scores.max(axis=1) if rows else np.zeros(0)
        self.any_fired = self.fired.any(axis=1) if rows else np.zeros(0, dtype=bool)

    def source(self, name: str) -> np.ndarray:
        return np.array([r.source == name for r in self.rows], dtype=bool)

    def labels(self, k: int) -> np.ndarray:
        return np.array([r.labels[k] for r in self.rows])

    def harmful(self) -> np.ndarray:
        return np.array([r.harmful for r in self.rows])


def per_category(sc: Scored, safe: np.ndarray) -> dict:
    """Per category: pooled over test sources and per test source (one-class sources vs XSTest safe)."""
    out = {}
    sources = sorted({r.source for r in sc.rows})
    for k, cat in enumerate(CATEGORIES):
        lab = sc.labels(k)
        entry: dict = {"sources": {}}
        # The news articles came later: without them the pooled figures stay comparable with earlier runs.
        pooled = (lab != NULL) & ~sc.source(NEWS)
        for src in sources:
            m = sc.source(src) & (lab != NULL)
            if not m.any():
                continue
            note = None
            if (lab[m] == 1).all():
                m = m | (safe & ~sc.source(src))
                note = "xstest safe prompts"
            elif (lab[m] == 0).all():
                entry["sources"][src] = {"n": int(m.sum()), "fpr": round(float(sc.fired[m, k].mean()), 4)}
                continue
            rep = binary_report(lab[m], sc.scores[m, k], sc.fired[m, k])
            if note:
                rep["negatives"] = note
            entry["sources"][src] = rep
        if (lab[pooled] == 1).any():
            entry["pooled"] = binary_report(lab[pooled], sc.scores[pooled, k], sc.fired[pooled, k])
            strata = [r.source for r, keep in zip(sc.rows, pooled, strict=True) if keep]
            entry["pooled"]["f1_ci95"] = interval95(lab[pooled], sc.fired[pooled, k], strata, "f1")
        out[cat] = entry
    return out


def any_harm(sc: Scored, profanity_check: np.ndarray) -> dict:
    """Any-harm per source with a harmful verdict, pooled prompts / comments, with alt-profanity-check."""
    harm = sc.harmful()
    out: dict = {"sources": {}}
    groups = {"chat_prompts": PROMPT_SOURCES, "comments": COMMENT_SOURCES}
    for name, srcs in [*[(s, (s,)) for s in sorted({r.source for r in sc.rows})], *groups.items()]:
        m = np.isin([r.source for r in sc.rows], srcs) & (harm != NULL)
        if not m.any():
            continue
        rep = {
            "winnow": binary_report(harm[m], sc.any_score[m], sc.any_fired[m]),
            "alt_profanity_check": binary_report(harm[m], profanity_check[m], profanity_check[m] >= 0.5),
        }
        if name in groups:
            strata = [r.source for r, keep in zip(sc.rows, m, strict=True) if keep]
            rep["winnow"]["f1_ci95"] = interval95(harm[m], sc.any_fired[m], strata, "f1")
        (out if name in groups else out["sources"])[name] = rep
    return out


def clean_fpr(sc: Scored) -> dict:
    """False-positive rates (any harm category, and per category) on clean documents and safe prompts."""
    groups = {
        "clean_prose_4kb": [r.source.startswith("prose:") for r in sc.rows],
        "medquad_heldout": [r.source == "medquad_benign_medical" for r in sc.rows],
        "medquad_questions_heldout": [r.source == "medquad_questions" for r in sc.rows],
        "news_articles": [r.source == NEWS for r in sc.rows],
        "xstest_safe": [r.source == "xstest_prompts" and r.harmful == 0 for r in sc.rows],
    }
    out = {}
    for name, mask in groups.items():
        m = np.array(mask, dtype=bool)
        if not m.any():  # e.g. the news articles, which only the first sample holds
            out[name] = {"n": 0, "any_fpr": None, "any_fpr_ci95": None, "per_category": {}}
            continue
        fired = sc.fired[m]
        strata = [r.source for r, keep in zip(sc.rows, m, strict=True) if keep]
        out[name] = {
            "n": int(m.sum()),
            "any_fpr": round(float(fired.any(axis=1).mean()), 4),
            "any_fpr_ci95": interval95(np.zeros(int(m.sum())), fired.any(axis=1), strata, "rate"),
            "per_category": {c: round(float(fired[:, k].mean()), 4) for k, c in enumerate(CATEGORIES)},
        }
    return out


def pretrain_documents(encoder: str, scope: str, precision: str | None, rows: list[Row]) -> dict:
    """What `make pipeline` does with the held-out clean documents: the shipped policy in pre-training
    mode, where a classifier hit only flags a document and the curated terms (and the sexual-with-minor
    conjunction) drop it. Shares of documents dropped and flagged for a harm category, and dropped for
    another reason (a document quality or language already dropped is not scored by the classifier)."""
    policy = Policy.load(default_policy_path())
    harm = shipped_harm(policy, "pretrain", encoder, scope, precision)
    pretrain = Filter(policy, mode="pretrain", detectors={"harm": harm})
    groups = {
        "clean_prose_4kb": [r.text for r in rows if r.source.startswith("prose:")],
        "medquad_heldout": [r.text for r in rows if r.source == "medquad_benign_medical"],
        "news_articles": [r.text for r in rows if r.source == NEWS],
        "project_web_pages": [r["text"] for r in _read_jsonl(WEB_PAGES)],
    }
    out = {}
    for name, texts in groups.items():
        verdicts = pretrain.check_batch(texts)
        dropped = [v.action == "drop" and v.reason in CATEGORIES for v in verdicts]
        flagged = [
            not d and bool(set(v.fired) & set(CATEGORIES)) for d, v in zip(dropped, verdicts, strict=True)
        ]
        other = [v.action == "drop" and v.reason not in CATEGORIES for v in verdicts]
        unscored = ["harm" in v.skipped for v in verdicts]
        out[name] = {
            "n": len(texts),
            "dropped_for_harm": round(float(np.mean(dropped)), 4) if texts else None,
            "flagged_for_harm": round(float(np.mean(flagged)), 4) if texts else None,
            # dropped for another reason (quality, language, PII, ...); those the rules, language or
            # quality dropped first were never scored by the harm classifier (skip_dropped_in)
            "dropped_for_other": round(float(np.mean(other)), 4) if texts else None,
            "not_scored_by_harm": round(float(np.mean(unscored)), 4) if texts else None,
        }
    return out


SHORT_MESSAGES = ROOT / "tests" / "fixtures" / "harm" / "short_messages.json"


def short_messages(judge: Judge) -> dict:
    """Everyday chat messages of one to six words, and short harmful requests, on which a harm category
    fires (at runtime a fired category blocks; profanity is only flagged): very
    short texts are where a bag-of-n-grams head is least sure (the probe is ours, not a test source)."""
    probe = json.loads(SHORT_MESSAGES.read_text(encoding="utf-8"))
    out = {}
    for kind in ("benign", "harmful"):
        texts = probe[kind]
        _, fired = judge.judge(texts)
        hits = [t for t, f in zip(texts, fired.any(axis=1), strict=True) if f]
        out[kind] = {"n": len(texts), "fired": len(hits), "texts_fired": hits}
    return out


HARD_NEGATIVES = ROOT / "data" / "harm_hard_negatives" / "hard_negatives.jsonl"
WEB_PAGES = ROOT / "data" / "harm_web_negatives" / "pages.jsonl"
SHORT_PROBE = ROOT / "data" / "harm_short_messages" / "messages.jsonl"
PROMPT_PROBE = ROOT / "data" / "harm_prompt_probe"
GROUP_PROBE = ROOT / "data" / "harm_group_probe"
HELP_PROBE = ROOT / "data" / "harm_help_probe"
TONE_PROBE = ROOT / "data" / "harm_tone_probe"
TONE_LABELS = ("hostile", "violent", "calm")
EMOJI_PROBE = ROOT / "data" / "harm_emoji_probe"
EMOJI_LABELS = ("harmful", "benign", "plain_harmful", "plain_benign")
SELF_HARM_PROBE = ROOT / "data" / "harm_self_harm_probe"


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _fired_share(judge: Judge, rows: list[dict], group: str) -> dict:
    """Share of `rows` (each a dict with "text" and `group`) on which a harm category fires at run time,
    overall, per category and per value of `group`."""
    _, fired = judge.judge([r["text"] for r in rows])
    per_group = {}
    for value in sorted({r[group] for r in rows}):
        m = np.array([r[group] == value for r in rows])
        per_group[value] = round(float(fired[m].any(axis=1).mean()), 4)
    return {
        "n": len(rows),
        "any_fpr": round(float(fired.any(axis=1).mean()), 4),
        "per_category": {c: round(float(fired[:, k].mean()), 4) for k, c in enumerate(CATEGORIES)},
        f"per_{group}": per_group,
    }


def project_hard_negatives(judge: Judge) -> dict:
    """Share of the project's own hard negatives (safe texts with harmful-sounding words, 16 kinds,
    data/harm_hard_negatives) on which a harm category fires, overall and per kind and category.

    Written for the project, not a public test source, and written knowing which kinds of text the
    classifier over-blocks; no shipped model was trained or tuned on it."""
    return _fired_share(judge, _read_jsonl(HARD_NEGATIVES), "kind")


def project_web_pages(judge: Judge) -> dict:
    """Share of the project's own benign web pages (160 commercial, blog and how-to pages of 1.2-2.5 KB,
    16 genres, data/harm_web_negatives) on which a harm category fires, overall and per genre and category.

    Written for the project without reading any data, after the fast tier was seen firing on such pages
    in `benchmarks.filter_speed`; no shipped model was trained or tuned on them (two tries that trained on
    them did not ship: BENCHMARKS.md, nineteenth session)."""
    return _fired_share(judge, _read_jsonl(WEB_PAGES), "genre")


def _probe_by_label(judge: Judge, rows: list[dict], labels: tuple[str, ...]) -> dict:
    """Per label of `rows` (dicts with "text", "label", "group"): how many fire any harm category under `judge`'s
    configuration (any category counts, not only the one a message was written for), the share per group, how
    many each category fires on, and the texts that fired, so two runs can be paired."""
    _, fired = judge.judge([r["text"] for r in rows])
    hit = fired.any(axis=1)
    out = {}
    for label in labels:
        idx = [i for i, r in enumerate(rows) if r["label"] == label]
        groups = sorted({rows[i]["group"] for i in idx})
        out[label] = {
            "n": len(idx),
            "fired": int(hit[idx].sum()),
            "share_fired": _rate(hit[idx]),
            "per_group": {g: _rate(hit[[i for i in idx if rows[i]["group"] == g]]) for g in groups},
            "per_category": {c: int(fired[idx, k].sum()) for k, c in enumerate(CATEGORIES)},
            "texts_fired": [rows[i]["text"] for i in idx if hit[i]],
        }
    return out


def project_short_messages(judge: Judge) -> dict:
    """The project's 222 short chat messages (data/harm_short_messages): the harmful ones on which any harm
    category fires, per group (= the category a message was written for), and the benign ones.

    Written for the project without reading any data, after a variant lost one of the 16 harmful
    messages of `short_messages`; no shipped model was trained or tuned on them. No sexual_minors rows."""
    return _probe_by_label(judge, _read_jsonl(SHORT_PROBE), ("harmful", "benign"))


def project_prompt_probe(judge: Judge) -> dict:
    """The project's 324 chat prompts (data/harm_prompt_probe): 150 harmful requests (25 per category, no
    sexual_minors or profanity) on which any harm category fires, and 174 safe prompts with harmful-sounding
    words (seven kinds, help-seeking among them) on which one fires.

    Written for the project without reading any data, after the short-message probe had been read by several
    variants; never trained on, but used in ship rules' decisions (which ones: data/harm_prompt_probe/README.md)."""
    return _folder_probe(judge, PROMPT_PROBE)


def project_group_probe(judge: Judge) -> dict:
    """The project's 630 chat messages that name groups of people (data/harm_group_probe): 236 harmful ones (hate
    without slurs, violence and harassment aimed at a group or a person for who they are) on which any harm category
    fires, and 394 safe ones (questions, facts, news and policy, one's own identity, counter-speech, appreciation) on
    which one fires; per group and category.

    Written for the project without reading any data, as the fresh messages of two ship rules
    (SHIP_RULE-2026-12-06-hate-rows-{heads,negatives}.md), which found the violence head firing on safe text about
    groups; never trained on, read by later variants too (which ones: data/harm_group_probe/README.md)."""
    return _folder_probe(judge, GROUP_PROBE)


def project_help_probe(judge: Judge) -> dict:
    """The project's 303 chat messages about harm (data/harm_help_probe): 189 people asking for help (supporting a
    friend who self-harms, escaping abuse, an overdose in front of them, a child's disclosure, reporting a crime, their
    own recovery) on which a harm category fires, and 114 harmful requests on the same topics caught; per group and
    category.

    Written for the project without reading any data, as the fresh messages of SHIP_RULE-2026-12-06-help-seeking-rows.md;
    never trained on, read by later variants too (which ones: data/harm_help_probe/README.md)."""
    return _folder_probe(judge, HELP_PROBE)


def project_tone_probe(judge: Judge) -> dict:
    """The project's 1,246 casual messages (data/harm_tone_probe): 420 hostile without violence (insults, contempt,
    demeaning statements about groups, profane rants, put-downs), 414 violent (threats, wishes of harm, incitement,
    praise of attacks, requests for how to hurt), 412 calm (chat, disagreement, small talk, harmless violent idioms);
    per label how many fire any harm category and each category. Which category fires is the point: the violence count
    on the hostile messages measures how often the filter calls an insult violence.

    Written for the project without reading any data, as the fresh messages of two ship rules
    (SHIP_RULE-2026-12-07-hostile-not-violent{,-balanced}.md, not shipped); never trained on (which variants read it:
    data/harm_tone_probe/README.md)."""
    return _folder_probe(judge, TONE_PROBE, TONE_LABELS)


def project_emoji_probe(judge: Judge) -> dict:
    """The project's 615 chat messages by emoji (data/harm_emoji_probe): 198 harmful ones written with emoji (hate,
    violence, harassment, self-harm) caught, 230 benign ones with emoji (80 of them with emoji that look harsh in a
    harmless use, 💀 🔪 💣) on which a harm category fires, and, from the same writers without emoji, 98 harmful and 89
    benign ones; per label, group and category.

    Written for the project without reading any data, as the fresh messages of SHIP_RULE-2026-12-07-emoji-names.md (the
    encoder reads every emoji as one unknown token, which the heads learnt as a sign of harm); never trained on (which
    variants read it: data/harm_emoji_probe/README.md)."""
    return _folder_probe(judge, EMOJI_PROBE, EMOJI_LABELS)


def project_self_harm_probe(judge: Judge) -> dict:
    """The project's 345 chat messages about self-harm (data/harm_self_harm_probe): 149 in which the writer expresses
    suicidal ideation, intent, self-injury or a goodbye (no method) caught, and 196 safe ones (asking for help, support,
    recovery, information, news, figurative speech) on which a harm category fires; per group and category, so the
    self_harm count says how often the right category is named.

    Written for the project without reading any data, as the fresh messages of
    SHIP_RULE-2026-12-07-all-dev-documents.md; never trained on (which variants read it:
    data/harm_self_harm_probe/README.md)."""
    return _folder_probe(judge, SELF_HARM_PROBE)


def _folder_probe(judge: Judge, folder: Path, labels: tuple[str, ...] = ("harmful", "safe")) -> dict:
    """`_probe_by_label` over a probe folder's `<label>.jsonl` files, each row labelled by its file's name."""
    rows = [{**r, "label": label} for label in labels for r in _read_jsonl(folder / f"{label}.jsonl")]
    return _probe_by_label(judge, rows, labels)


# Log-odds offsets by which `chat_operating_points` moves every harm classifier threshold (0: as shipped), in
# steps of 0.25: between two offsets a curve's recall at a given false-positive rate is only known to lie between
# their values, so a coarse grid leaves two variants' curves incomparable.
OFFSETS = tuple(-2.0 + 0.25 * i for i in range(41))
PRINTED_OFFSETS = (-2.0, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0)


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


def classifier_margins(policy: Policy, results: list) -> np.ndarray:
    """Per text (one detector result of the harm classifier each), how far in log-odds its strongest
    runtime harm-classifier entry of the policy lies above that entry's threshold (negative: below all).
    Scores are clipped to [1e-9, 1 - 1e-9]; categories limited to some `languages` are not handled (the
    shipped policy has no such harm category), so `chat_operating_points` checks itself at offset 0."""
    margins = np.full(len(results), -np.inf)
    for name, cat in policy.categories.items():
        if name not in CATEGORIES or "runtime" not in cat.applies_to:
            continue
        for ref in cat.detectors:
            if ref.detector != "harm" or not ref.applies_in("runtime"):
                continue
            scores = np.array([r.scores.get(ref.key, 0.0) for r in results])
            margins = np.maximum(
                margins, _log_odds(scores) - _log_odds(np.array(policy.threshold_for(name, ref)))
            )
    return margins


def threshold_sweep(
    y: np.ndarray, other: np.ndarray, margin: np.ndarray, offsets: tuple[float, ...] = OFFSETS
) -> list[dict]:
    """Recall on the harmful texts (y == 1), the share of the others (y == 0) that fire, and F1, when every
    harm classifier threshold moves by `offset` in log-odds: a text fires when another detector's entry
    fires (`other`) or its classifier margin reaches the offset."""
    pos, neg = y == 1, y == 0
    out = []
    for offset in offsets:
        fire = other | (margin >= offset)
        tp, fp = int((fire & pos).sum()), int((fire & neg).sum())
        f1 = 2 * tp / max(tp + fp + int(pos.sum()), 1)
        out.append(
            {"offset": offset, "recall": _rate(fire[pos]), "safe_fired": _rate(fire[neg]), "f1": round(f1, 4)}
        )
    return out


def chat_operating_points(judge: Judge, sc: Scored) -> dict:
    """What other thresholds would give on the chat prompts (the harmful test prompts and XSTest's safe
    ones): `threshold_sweep` over them. Why: chat-prompt F1 and XSTest's false positives pull thresholds
    opposite ways, and a change that only moves along this curve is not a better classifier. The curve
    describes the shipped policy only if offset 0 reproduces every shipped verdict (`reproduces_shipped`)."""
    idx = [i for i, r in enumerate(sc.rows) if r.source in PROMPT_SOURCES and r.harmful in (0, 1)]
    texts = [sc.rows[i].text for i in idx]
    y = np.array([sc.rows[i].harmful for i in idx], dtype=np.int64)
    others = Filter(Policy.model_validate(without_harm_classifier(shipped_policy_data())), mode="runtime")
    other = np.array([any(c in v.fired for c in CATEGORIES) for v in others.check_batch(texts)], dtype=bool)
    margin = classifier_margins(judge.policy, judge.harm.detect_batch(texts))
    same = int(((other | (margin >= 0)) == sc.any_fired[idx]).sum())
    return {
        "n": len(idx),
        "harmful": int(y.sum()),
        "fired_without_classifier": int(other.sum()),  # the floor: terms and other detectors
        "reproduces_shipped": f"{same} of {len(idx)}",
        "curve_valid": same == len(idx),
        "points": threshold_sweep(y, other, margin),
    }


def _obfuscation_rows(sc: Scored, sources: tuple[str, ...] | None) -> tuple[list[int], list[int]]:
    """The harmful rows of `sources` (None: every source) that are rewritten or framed (at most OBFUSCATION_SAMPLE, in
    hash order), and XSTest's safe prompts."""
    idx = [i for i, r in enumerate(sc.rows) if r.harmful == 1 and (sources is None or r.source in sources)]
    idx = sorted(idx, key=lambda i: hashlib.sha256(sc.rows[i].text.encode()).hexdigest())[:OBFUSCATION_SAMPLE]
    return idx, [i for i, r in enumerate(sc.rows) if r.source == "xstest_prompts" and r.harmful == 0]


def obfuscation(judge: Judge, sc: Scored, sources: tuple[str, ...] | None = OBFUSCATED_SOURCES) -> dict:
    """Detection rate (any harm category fired) of plain test positives vs each rewrite at half of
    the characters, overall and per source, and the false-positive rate of XSTest's safe prompts
    under the same rewrite. `sources`: whose harmful rows are rewritten (None: every test source's).
    A rate over no rows is None."""
    idx, safe_idx = _obfuscation_rows(sc, sources)
    plain = sc.any_fired[idx]
    by_source = {
        src: np.array([sc.rows[i].source == src for i in idx])
        for src in sorted({sc.rows[i].source for i in idx})
    }
    out = {
        "n": len(idx),
        "plain_detection_rate": _rate(plain),
        "xstest_safe_n": len(safe_idx),
        "xstest_safe_plain_fpr": _rate(sc.any_fired[safe_idx]),
        "per_source": {src: {"n": int(m.sum()), "plain": _rate(plain[m])} for src, m in by_source.items()},
    }
    for name, fn in TRANSFORMS.items():
        fired = judge.judge([fn(sc.rows[i].text) for i in idx])[1].any(axis=1)
        rate = _rate(fired)
        out[name] = {
            "detection_rate": rate,
            "points_vs_plain": None if rate is None else round(100 * (fired.mean() - plain.mean()), 2),
            "xstest_safe_fpr": _rate(judge.judge([fn(sc.rows[i].text) for i in safe_idx])[1].any(axis=1)),
        }
        for src, m in by_source.items():
            out["per_source"][src][name] = _rate(fired[m])
    return out


# Neutral framings written for the evaluation (thirty-third session): a chat answer or message often opens with one.
# The rows' meaning is unchanged, so a robust classifier's verdicts should be too.
FRAMINGS: dict[str, str] = {
    "honestly": "Honestly, ",
    "well": "Well, ",
    "quick_question": "Quick question: ",
    "sure_answer": "Sure, here is my answer. ",
    "lol": "lol ",
}


def framing(judge: Judge, sc: Scored, sources: tuple[str, ...] | None = OBFUSCATED_SOURCES) -> dict:
    """The obfuscation's harmful rows (same sample) and XSTest's safe prompts, each with a neutral phrase put before
    it: detection rate (any harm category fired), points against the plain rows, and how many rows the phrase turns
    from fired to not fired ("lost") and back ("gained"). The phrases are not transforms of the text, so they say how
    much a verdict leans on the opening words rather than on what is asked."""
    idx, safe_idx = _obfuscation_rows(sc, sources)
    plain, plain_safe = sc.any_fired[idx], sc.any_fired[safe_idx]
    out: dict = {"n": len(idx), "plain_detection_rate": _rate(plain), "xstest_safe_n": len(safe_idx)}

    def fired_on(prefix: str, rows: list[int]) -> np.ndarray:
        texts = [prefix + sc.rows[i].text for i in rows]
        return judge.judge(texts)[1].any(axis=1) if texts else np.zeros(0, dtype=bool)

    for name, prefix in FRAMINGS.items():
        fired, safe = fired_on(prefix, idx), fired_on(prefix, safe_idx)
        rate = _rate(fired)
        out[name] = {
            "prefix": prefix,
            "detection_rate": rate,
            "points_vs_plain": None if rate is None else round(100 * (fired.mean() - plain.mean()), 2),
            "lost": int((plain & ~fired).sum()),
            "gained": int((fired & ~plain).sum()),
            "xstest_safe_fpr": _rate(safe),
            "xstest_safe_points_vs_plain": None
            if not safe_idx
            else round(100 * (safe.mean() - plain_safe.mean()), 2),
        }
    return out


LONG_DOC_SAMPLE = 400  # harmful rows placed in clean documents (hash order), as the obfuscation


class LongCase(NamedTuple):
    """A harmful row placed as its own paragraph inside a clean document: the page and where the row lies in it."""

    text: str
    start: int
    end: int
    where: str  # "end": after the document's last paragraph; "middle": at a paragraph break past its middle


def long_document_cases(message: str, document: str) -> list[LongCase]:
    """`message` appended to `document` as its last paragraph, and inserted as a paragraph at the document's first
    paragraph break ("\n\n", else a line break, else a space) at or past its middle."""
    document = document.rstrip()
    half = len(document) // 2
    cut = next(
        (i for i in (document.find(sep, half) for sep in ("\n\n", "\n", " ")) if i != -1), len(document)
    )
    head, tail = document[:cut].rstrip(), document[cut:].lstrip()
    middle = head + "\n\n" + message + ("\n\n" + tail if tail else "")
    return [
        LongCase(document + "\n\n" + message, len(document) + 2, len(document) + 2 + len(message), "end"),
        LongCase(middle, len(head) + 2, len(head) + 2 + len(message), "middle"),
    ]


def _placement(sc: Scored, sources: tuple[str, ...]) -> tuple[list[int], list[str]]:
    """The harmful rows of `sources` placed in clean documents (at most LONG_DOC_SAMPLE, in hash order) and the
    sample's clean prose documents they are placed in."""
    idx = [i for i, r in enumerate(sc.rows) if r.harmful == 1 and r.source in sources]
    idx = sorted(idx, key=lambda i: hashlib.sha256(sc.rows[i].text.encode()).hexdigest())[:LONG_DOC_SAMPLE]
    return idx, sorted({r.text for r in sc.rows if r.source.startswith("prose:")})


def _picked(message: str, documents: list[str]) -> str:
    """The clean document a harmful row is placed in: chosen by the row's hash."""
    return documents[int(hashlib.sha256(message.encode()).hexdigest()[:12], 16) % len(documents)]


def long_documents(judge: Judge, sc: Scored, sources: tuple[str, ...] = OBFUSCATED_SOURCES) -> dict:
    """Deliverable 4 of the harm issue, measured: is a harmful paragraph inside a long clean page found? Each harmful
    row of `sources` (the obfuscation's, at most LONG_DOC_SAMPLE in hash order) is placed in a clean held-out prose
    document of the sample (picked by the row's hash), after its end and in its middle (`long_document_cases`).
    Rates per placement: `located`: a harm category fires on the page with a span overlapping the row (the
    classifier's best window for a category that reached its threshold, or a term match); `classifier_located`: the
    same from the classifier's windows alone; `page_fired`: a harm category fires anywhere on the page (what a
    pre-training drop or a runtime block sees; the `clean_pages` documents that received a row fire alone at
    `clean_pages_fired`). A profanity flag counts as firing here, as in the other detection rates. Beside them,
    the same rows alone: `alone` (a harm category fires) and `classifier_alone` (the classifier fires)."""
    idx, documents = _placement(sc, sources)
    if not idx or not documents:
        return {"n": 0, "documents": len(documents)}
    messages = [sc.rows[i].text for i in idx]
    cases = [c for m in messages for c in long_document_cases(m, _picked(m, documents))]
    pages = sorted({_picked(m, documents) for m in messages})  # the clean documents that received a row
    verdicts = judge.filter.check_batch([c.text for c in cases])
    found = judge.harm.detect_batch([c.text for c in cases])
    harm = set(CATEGORIES)
    out: dict = {
        "n": len(idx),
        "documents": len(documents),
        "alone": _rate(sc.any_fired[idx]),
        "classifier_alone": _rate(np.array([bool(r.spans) for r in judge.harm.detect_batch(messages)])),
        "clean_pages": len(pages),
        "clean_pages_fired": _rate(judge.judge(pages)[1].any(axis=1)),
    }
    for where in ("end", "middle"):
        picked = [(c, v, f) for c, v, f in zip(cases, verdicts, found, strict=True) if c.where == where]
        by_terms = np.array(
            [any(k in harm and a < c.end and b > c.start for k, a, b in v.spans) for c, v, _ in picked]
        )
        by_classifier = np.array(
            [any(s.start < c.end and s.end > c.start for s in f.spans) for c, _, f in picked]
        )
        out[where] = {
            "located": _rate(by_terms | by_classifier),
            "classifier_located": _rate(by_classifier),
            "page_fired": _rate(np.array([bool(harm & set(v.fired)) for _, v, _ in picked])),
        }
    return out


STREAM_CHUNK = 16  # characters per piece fed to the stream guard


def served(judge: Judge, texts: list[str]) -> list[tuple[bool, str]]:
    """Each text as a model's answer through `StreamGuard` with `winnow serve`'s defaults (every answer, streamed or
    not, goes through it), fed in STREAM_CHUNK-character pieces: (the answer was stopped, the stop reason)."""
    defaults = {
        k: ServeConfig.model_fields[k].get_default(call_default_factory=True)
        for k in ("strict", "max_holdback", "classify_lines", "line_margin", "fail_closed", "scan_every")
    }
    out = []
    for text in texts:
        guard = StreamGuard(judge.filter, **defaults)
        for i in range(0, len(text), STREAM_CHUNK):
            guard.feed(text[i : i + STREAM_CHUNK])
            if guard.stopped:
                break
        if not guard.stopped:
            guard.close()
        verdict = guard.verdict
        out.append((verdict is not None and verdict.action in BLOCKING, guard.stop_reason))
    return out


def served_documents(judge: Judge, sc: Scored) -> dict:
    """The same clean held-out documents, and the long-document cases' harmful rows in the middle of a clean page
    (`long_document_cases`), served as model answers (`served`). The guard also scores the lines each piece
    completes on their own and stops at max(threshold, `line_min_score`, the threshold raised by `line_margin`
    log-odds): stricter than `check()` of the whole text, in both directions (the figures depend a little on the
    piece size: a piece may complete two short lines at once). Per group: answers stopped, stopped by a line
    (reason "<category> (line)"), and blocked by `check()` of the whole text (a profanity flag is not a block)."""
    idx, documents = _placement(sc, OBFUSCATED_SOURCES)
    groups = {
        "clean_prose_4kb": documents,
        "news_articles": [r.text for r in sc.rows if r.source == NEWS],
        "long_documents_middle": [
            long_document_cases(sc.rows[i].text, _picked(sc.rows[i].text, documents))[1].text for i in idx
        ]
        if documents
        else [],
    }
    out = {}
    for name, texts in groups.items():
        answers = served(judge, texts)
        verdicts = judge.filter.check_batch(texts) if texts else []
        # a block, not a firing: a profanity flag does not block
        blocked = np.array([v.action in BLOCKING for v in verdicts], dtype=bool)
        out[name] = {
            "n": len(texts),
            "stopped": _rate(np.array([s for s, _ in answers], dtype=bool)),
            "stopped_by_a_line": _rate(
                np.array([s and r.endswith("(line)") for s, r in answers], dtype=bool)
            ),
            "check_blocks": _rate(blocked),
        }
    return out


def _rate(flags: np.ndarray) -> float | None:
    """The share of True, rounded; None for no rows (a mean over nothing is not a figure)."""
    return round(float(flags.mean()), 4) if len(flags) else None


def speed(harm: HarmDetector, rows: list[Row]) -> dict:
    """ms per 2 KB text on one core (after warm-up), and the share of windows the encoder judged."""
    prose = [r.text for r in rows if r.source.startswith("prose:")]
    texts = [t[:2048] for t in prose[:SPEED_TEXTS]]
    if not texts:  # a sample past the last prose document (e.g. --offset 900)
        return {"texts": 0}
    harm.detect_batch(texts[:10])
    before = dict(harm.stats)
    times = []
    for t in texts:
        t0 = time.perf_counter()
        harm.detect_batch([t])
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1e3
    windows = harm.stats["windows"] - before["windows"]
    return {
        "texts": len(times),
        "ms_per_2kb_p50": round(float(np.percentile(ms, 50)), 3),
        "ms_per_2kb_p99": round(float(np.percentile(ms, 99)), 3),
        "encoder_window_share": round(
            (harm.stats["encoder_windows"] - before["encoder_windows"]) / max(windows, 1), 4
        ),
    }


def load_news(data: Path) -> list[Row]:
    """Real news and blog articles (../web/article_extraction_benchmark: the human-annotated article
    body of 181 pages; benchmark MIT, articles (c) their publishers, read for evaluation only), one
    document per article, all categories 0. Never trained or tuned on; the issue's "news about
    violence" hard negatives in the form a pre-training crawl holds them."""
    path = data / "web" / "article_extraction_benchmark" / "ground-truth.json"
    if not path.is_file():
        return []
    truth = json.loads(path.read_text(encoding="utf-8"))
    zero = (0,) * len(CATEGORIES)
    bodies = (truth[k]["articleBody"].strip() for k in sorted(truth))
    return [Row(b, zero, NEWS, "test", "document", 0) for b in bodies if b]


def sample(rows: list[Row], per_source: int, offset: int = 0) -> list[Row]:
    """At most `per_source` rows per test source (salted hash order); clean documents: PROSE_DOCS.
    `offset`: skip that many rows of each source's order first (a second, disjoint sample)."""
    by_source: dict[str, list[Row]] = {}
    for r in rows:
        key = "prose" if r.source.startswith("prose:") else r.source
        by_source.setdefault(key, []).append(r)
    out = []
    for key, group in sorted(by_source.items()):
        cap = PROSE_DOCS if key in ("prose", NEWS) else per_source
        rank = sorted(group, key=lambda r: hashlib.sha256(f"{SEED}\x00{r.text}".encode()).digest())
        out += rank[offset : offset + cap] if cap > 0 else group[offset:]
    return out


def row_outcomes(rows: list[Row], fired: dict[str, np.ndarray]) -> dict:
    """Per row: a key (hash of source and text), its source, labels ("1", "0" or "-" per category) and
    harmful flag, and per configuration the categories that fired as a hex bit mask (bit k = category
    k). `benchmarks.compare_harm` pairs two such files row by row."""
    out: dict = {"categories": list(CATEGORIES), "rows": [], "fired": {}}
    for r in rows:
        key = hashlib.sha256(f"{r.source}\x00{r.text}".encode()).hexdigest()[:16]
        labels = "".join("-" if v == NULL else str(v) for v in r.labels)
        out["rows"].append({"key": key, "source": r.source, "labels": labels, "harmful": r.harmful})
    weights = 1 << np.arange(len(CATEGORIES))
    for name, f in fired.items():
        out["fired"][name] = [format(int(m), "02x") for m in (f.astype(np.int64) @ weights)]
    return out


def evaluate(
    data: Path,
    per_source: int,
    configs: list[str],
    offset: int = 0,
    obfuscated: tuple[str, ...] | None = OBFUSCATED_SOURCES,
) -> dict:
    from profanity_check import predict_prob

    rows = sample([r for r in load_all(data) if r.split == "test"] + load_news(data), per_source, offset)
    safe = np.array([r.source == "xstest_prompts" and r.harmful == 0 for r in rows])
    apc = np.asarray(predict_prob([r.text for r in rows]), dtype=np.float64)
    res: dict = {
        "note": "test sources only (never trained or tuned on); see filters/models/HARM_MODEL_CARD.md",
        "per_source_cap": per_source,
        "offset": offset,
        "rows": len(rows),
        "obfuscated_sources": "all" if obfuscated is None else list(obfuscated),
    }
    fired: dict[str, np.ndarray] = {}
    for name, encoder, scope, precision in CONFIGS:
        if name not in configs:
            continue
        judge = Judge(encoder, scope, precision)
        sc = Scored(judge, rows)
        fired[name] = sc.fired
        res[name] = {
            "encoder": encoder,
            "encoder_scope": scope,
            "per_category": per_category(sc, safe),
            "any_harm": any_harm(sc, apc),
            "false_positives": clean_fpr(sc),
            "encoder_precision": judge.harm.encoder.precision if judge.harm.encoder else None,
            "encoder_packed": judge.harm.encoder.packed if judge.harm.encoder else None,
            "detector_options": judge.harm.__getstate__(),  # what was measured, as the policy set it
            "pretrain_documents": pretrain_documents(encoder, scope, precision, rows),
            "short_messages": short_messages(judge),
            "project_hard_negatives": project_hard_negatives(judge),
            "project_web_pages": project_web_pages(judge),
            "project_short_messages": project_short_messages(judge),
            "project_prompt_probe": project_prompt_probe(judge),
            "project_group_probe": project_group_probe(judge),
            "project_help_probe": project_help_probe(judge),
            "project_tone_probe": project_tone_probe(judge),
            "project_emoji_probe": project_emoji_probe(judge),
            "project_self_harm_probe": project_self_harm_probe(judge),
            "chat_operating_points": chat_operating_points(judge, sc),
            "encoder_window_share": round(sc.encoder_share, 4),
            "obfuscation": obfuscation(judge, sc, obfuscated),
            "framing": framing(judge, sc, obfuscated),
            "long_documents": long_documents(judge, sc),
            "served_documents": served_documents(judge, sc),
            "cost_one_core": speed(judge.harm, rows),
        }
        print_summary(name, res[name])
    res["row_outcomes"] = row_outcomes(rows, fired)
    return res


def print_summary(name: str, res: dict) -> None:
    print(f"== {name}")
    print("category        source                          n    P      R      F1     AUC")
    for cat, entry in res["per_category"].items():
        for src, r in [*entry["sources"].items(), ("POOLED", entry.get("pooled"))]:
            if r and "f1" in r:
                auc = "  -  " if r["roc_auc"] is None else f"{r['roc_auc']:.3f}"
                print(
                    f"{cat:15} {src:30} {r['n']:5} {r['precision']:.3f}  {r['recall']:.3f}  {r['f1']:.3f}  {auc}"
                )
    print("any-harm (winnow vs alt-profanity-check F1 / AUC)")
    ah = res["any_harm"]
    for src, r in [*ah["sources"].items(), *((k, v) for k, v in ah.items() if k != "sources")]:
        w, a = r["winnow"], r["alt_profanity_check"]
        ci = f" (95% interval {w['f1_ci95']})" if "f1_ci95" in w else ""
        print(
            f"  {src:30} n={w['n']:5} F1 {w['f1']:.3f} / {a['f1']:.3f}  AUC {w['roc_auc']} / {a['roc_auc']}{ci}"
        )
    for src, r in res["false_positives"].items():
        print(f"FPR {src:26} n={r['n']:5} any {r['any_fpr']} (95% interval {r['any_fpr_ci95']})")
    for src, r in res["pretrain_documents"].items():
        print(
            f"pretrain {src:23} n={r['n']:5} dropped {r['dropped_for_harm']} flagged {r['flagged_for_harm']} "
            f"(dropped for another reason {r['dropped_for_other']}, not scored by harm {r['not_scored_by_harm']})"
        )
    short = res["short_messages"]
    print(
        f"a harm category fires on short everyday messages {short['benign']['fired']}/{short['benign']['n']}, "
        f"on short harmful requests {short['harmful']['fired']}/{short['harmful']['n']}"
    )
    hard = res["project_hard_negatives"]
    print(f"a harm category fires on the project's hard negatives: {hard['any_fpr']} of {hard['n']}")
    web = res["project_web_pages"]
    print(f"a harm category fires on the project's benign web pages: {web['any_fpr']} of {web['n']}")
    probe = res["project_short_messages"]
    print(
        f"the project's short messages: a harm category fires on {probe['harmful']['fired']}/"
        f"{probe['harmful']['n']} harmful, {probe['benign']['fired']}/{probe['benign']['n']} benign"
    )
    for key in ("project_prompt_probe", "project_group_probe", "project_help_probe"):
        p = res[key]
        print(
            f"{key}: a harm category fires on {p['harmful']['fired']}/{p['harmful']['n']} harmful, "
            f"{p['safe']['fired']}/{p['safe']['n']} safe (per category {p['safe']['per_category']})"
        )
    tone = res["project_tone_probe"]
    print(
        "project_tone_probe: violence fires on {}/{} hostile messages without violence (any category {}), on {}/{} "
        "violent ones (any {}); a harm category fires on {}/{} calm ones".format(
            tone["hostile"]["per_category"]["violence"],
            tone["hostile"]["n"],
            tone["hostile"]["fired"],
            tone["violent"]["per_category"]["violence"],
            tone["violent"]["n"],
            tone["violent"]["fired"],
            tone["calm"]["fired"],
            tone["calm"]["n"],
        )
    )
    emo = {k: f"{v['fired']}/{v['n']}" for k, v in res["project_emoji_probe"].items()}
    print(
        f"project_emoji_probe: a harm category fires on {emo['benign']} benign messages with emoji ({emo['plain_benign']} "
        f"without), catches {emo['harmful']} harmful ones with emoji ({emo['plain_harmful']} without)"
    )
    sh = res["project_self_harm_probe"]
    print(
        f"project_self_harm_probe: a harm category fires on {sh['harmful']['fired']}/{sh['harmful']['n']} self-harm "
        f"messages (self_harm on {sh['harmful']['per_category']['self_harm']}), on {sh['safe']['fired']}/"
        f"{sh['safe']['n']} safe ones"
    )
    points = res["chat_operating_points"]
    if not points["curve_valid"]:
        print(
            f"WARNING: the operating-point sweep reproduces only {points['reproduces_shipped']} shipped verdicts"
        )
    print(
        f"chat prompts, every classifier threshold moved by a log-odds offset ({points['reproduces_shipped']} "
        "shipped verdicts reproduced at 0): "
        + "; ".join(
            f"{p['offset']:+g}: recall {p['recall']} XSTest safe {p['safe_fired']} F1 {p['f1']}"
            for p in points["points"]
            if p["offset"] in PRINTED_OFFSETS
        )
    )
    print("encoder window share", res["encoder_window_share"])
    print("obfuscation", json.dumps(res["obfuscation"]))
    print("framing", json.dumps(res["framing"]))
    print("long documents", json.dumps(res["long_documents"]))
    print("served as answers (stream guard)", json.dumps(res["served_documents"]))
    print("cost", json.dumps(res["cost_one_core"]), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=SHARED_DATA, help="the shared data folder")
    ap.add_argument("--out", type=Path, default=OUT, help="where the JSON results go")
    ap.add_argument(
        "--rows",
        type=Path,
        default=None,
        help="also write every row's outcome here (for benchmarks.compare_harm: paired differences)",
    )
    ap.add_argument(
        "--per-source", type=nonnegative_int, default=PER_SOURCE, help="rows per test source (0: every row)"
    )
    ap.add_argument(
        "--offset",
        type=nonnegative_int,
        default=0,
        help="skip this many rows of each test source's fixed order first: --offset 300 is a second sample, "
        "disjoint from the default one that every variant was chosen on",
    )
    ap.add_argument(
        "--configs",
        nargs="+",
        default=DEFAULT_CONFIGS,
        choices=[c[0] for c in CONFIGS],
        help="which detector configurations to evaluate (encoder_band takes about an hour on one core)",
    )
    ap.add_argument(
        "--obfuscation-sources",
        choices=["default", "all"],
        default="default",
        help="whose harmful rows the obfuscation rewrites: the chat-prompt and comment sources (default) or "
        "every test source's (all: rows past the default sources' end, e.g. --offset 4500, still have some)",
    )
    args = ap.parse_args(argv)
    require_writable_file(args.out, "--out")
    if args.rows is not None:
        require_writable_file(args.rows, "--rows")
    # Every file load_all reads (harm/SOURCES.md, the toxicity sets, the clean prose), before any work.
    if any(shared_data_missing(args.data, rel) for rel in REQUIRED_FILES):
        return 2
    import torch

    torch.set_num_threads(1)
    code = code_version()  # the commit the figures belong to, read before the run
    obfuscated = None if args.obfuscation_sources == "all" else OBFUSCATED_SOURCES
    res = evaluate(args.data, args.per_source, args.configs, args.offset, obfuscated)
    res["command"] = " ".join(
        ["python -m benchmarks.eval_harm", *(argv if argv is not None else sys.argv[1:])]
    )
    res["machine"] = machine_info("numpy", "torch")
    res["code"] = code
    outcomes = res.pop("row_outcomes")
    if args.rows is not None:
        meta = {k: res[k] for k in ("command", "code", "offset", "per_source_cap")}
        args.rows.parent.mkdir(parents=True, exist_ok=True)
        args.rows.write_text(json.dumps({**meta, **outcomes}) + "\n", encoding="utf-8")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
