"""Language ID and the bundled toxicity model on real labeled data; bad input never raises."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from filters.detectors.base import Detector, DetectorResult
from filters.detectors.langid import LangIdDetector
from filters.detectors.quality import QualityDetector
from filters.detectors.toxicity import CATEGORIES, MODELS_DIR, ToxicityDetector
from tests.langid_data import langid_file

BAD_INPUTS = [
    "",
    "   \n\t ",
    "\x00\x01\x02\xff\xfe" * 200,
    bytes(range(256)).decode("latin-1") * 20,
    "lone \ud800 surrogate \udfff here",
    "混合 scripts смешанные نص mixed " * 50,
    "\u200b\u202e\ufeff" * 100,
]


def test_detectors_follow_protocol():
    for det in (LangIdDetector(), QualityDetector(), ToxicityDetector()):
        assert isinstance(det, Detector)
        clone = pickle.loads(pickle.dumps(det))
        assert clone.detect_batch(["hello world, this is a test."]) == det.detect_batch(
            ["hello world, this is a test."]
        )


def test_langid_accuracy_on_real_sentences():
    rows = langid_file("lingua_sentences_75lang_250each.tsv").read_text(encoding="utf-8").splitlines()[1:]
    by_lang: dict[str, list[str]] = {}
    for row in rows:
        lang, text = row.split("\t", 1)
        by_lang.setdefault(lang, []).append(text)
    langs = ["en", "de", "fr", "es", "ru", "zh", "ja", "ar", "hi", "pt", "it", "nl", "pl", "tr", "ko", "vi"]
    texts = [t for lang in langs for t in by_lang[lang][:60]]
    gold = [lang for lang in langs for _ in by_lang[lang][:60]]
    res = LangIdDetector().detect_batch(texts)
    acc = np.mean([r.labels["lang"] == g for r, g in zip(res, gold, strict=True)])
    assert acc >= 0.95  # measured 0.98 on these 16 languages
    assert all(0.0 <= r.scores["lang_score"] <= 1.0 for r in res)
    en = [r for r, g in zip(res, gold, strict=True) if g == "en"]
    assert np.mean([r.labels["lang"] == "en" for r in en]) >= 0.95


def test_langid_empty_and_multiline():
    det = LangIdDetector()
    empty, multi = det.detect_batch(
        ["  \n ", "Das ist ein Satz.\nUnd noch ein deutscher Satz über das Wetter."]
    )
    assert empty.labels == {"lang": "unknown"} and empty.scores == {"lang_score": 0.0}
    assert multi.labels["lang"] == "de"


@pytest.fixture(scope="module")
def tox_test_split(shared_data: Path):
    from scripts.train_toxicity import category_targets, load_tweets, split_of

    test = [
        (t, category_targets(lab))
        for t, lab, _ in load_tweets(shared_data / "toxicity")
        if split_of(t) == "test"
    ]
    return [t for t, _ in test], {c: np.array([y[c] for _, y in test]) for c in CATEGORIES}


def test_toxicity_separates_held_out_test_split(tox_test_split):
    from sklearn.metrics import roc_auc_score

    texts, targets = tox_test_split
    res = ToxicityDetector().detect_batch(texts)
    floors = {"toxicity": 0.92, "profanity": 0.92, "hate": 0.66}  # measured 0.952 / 0.959 / 0.707
    for c, floor in floors.items():
        scores = np.array([r.scores[c] for r in res])
        assert scores.min() >= 0.0 and scores.max() <= 1.0
        assert roc_auc_score(targets[c], scores) >= floor, c


def test_toxicity_scores_wikipedia_talk_never_trained_on(shared_data: Path):
    import csv

    from sklearn.metrics import roc_auc_score

    with (shared_data / "toxicity/wiki_toxicity_nonfuzzed_testset.csv").open(
        newline="", encoding="utf-8"
    ) as f:
        rows = list(csv.DictReader(f))
    res = ToxicityDetector().detect_batch([r["comment"] for r in rows])
    y = [r["toxic"] == "True" for r in rows]
    assert roc_auc_score(y, [r.scores["toxicity"] for r in res]) >= 0.72  # measured 0.765


def test_thresholds_file_consistent():
    thresholds = json.loads((MODELS_DIR / "toxicity_thresholds.json").read_text())
    calib = json.loads((MODELS_DIR / "toxicity_calibration.json").read_text())
    assert set(thresholds) == set(CATEGORIES) == set(calib["platt"])
    assert all(0.0 < v < 1.0 for v in thresholds.values())
    for c, t in thresholds.items():  # reachable: fastText's probabilities saturate at 1.0
        p = calib["platt"][c]
        assert t < 1.0 / (1.0 + np.exp(-(p["a"] * np.log(1e6) + p["b"]))), c
    assert calib["sizes"]["test"] > 0 and calib["sizes"]["dev"] > 0
    assert (MODELS_DIR / "toxicity.ftz").stat().st_size < 5 * 2**20
    assert (MODELS_DIR / "MODEL_CARD.md").is_file()
    assert not any("wiki" in d or "jigsaw" in d for d in calib["data"])  # CC BY-SA sets stay evaluation-only


def test_toxicity_is_local_in_long_documents(shared_data: Path):
    """One hateful line in a long clean text still counts (windows, max over windows)."""
    thresholds = json.loads((MODELS_DIR / "toxicity_thresholds.json").read_text())
    det = ToxicityDetector()
    gt = json.loads((shared_data / "web/article_extraction_benchmark/ground-truth.json").read_text())
    body = next(v["articleBody"] for k, v in sorted(gt.items()) if len(v["articleBody"]) > 4000)[:4000]
    line = "fuck you, you stupid bitch"
    (score,) = det.detect_batch([body[:2000] + "\n" + line + "\n" + body[2000:]])
    assert score.scores["toxicity"] >= thresholds["toxicity"]
    assert score.scores["profanity"] >= thresholds["profanity"]


def test_split_is_fixed_and_disjoint(shared_data: Path):
    from scripts.train_toxicity import book_blocks, example_split, load_tweets, preprocess, split_of

    by_text: dict[str, set[str]] = {}
    for t, _, src in load_tweets(shared_data / "toxicity"):
        by_text.setdefault(preprocess(t), set()).add(example_split(t, src))
    assert all(len(s) == 1 for s in by_text.values())
    # pinned assignments: a change to the salt, the hash or the normalization moves examples between splits
    pinned = {"some text": "train", "example 0": "train", "example 7": "dev", "example 20": "dev"}
    pinned |= {"example 13": "test", "Example   14!": "test"}
    assert {t: split_of(t) for t in pinned} == pinned
    blocks = book_blocks(shared_data / "clean_text")
    counts = {s: sum(1 for _, _, sp in blocks if sp == s) for s in ("train", "dev", "test")}
    # the shipped slice of the books: 131 / 27 / 26 blocks (70 / 15 / 15 by hash)
    assert counts["dev"] >= 20 and counts["test"] >= 20 and counts["train"] > 4 * counts["dev"]
    # a book window belongs to its block's split, whatever its text
    _, source, split = blocks[0]
    assert example_split("any text", source) == split


def test_normalization_removes_tweet_artefacts():
    from filters.detectors.toxicity import preprocess, windows

    tweet = "RT @some_user: you\u2019re so &amp; \u201cgreat\u201d!!! http://t.co/abc #win \U0001f602"
    assert preprocess(tweet) == "youre so great win"
    assert preprocess("Start a part of the art") == "start a part of the art"
    assert preprocess("Caf\u00e9 \u2014 D\u00e9j\u00e0") == "caf\u00e9 d\u00e9j\u00e0"
    text = ("word " * 100 + "\n") * 10
    ws = windows(text, 300)
    assert all(0 < len(w.encode()) <= 300 for w in ws) and " ".join(ws).split() == text.split()


def test_long_clean_prose_is_not_flagged_but_an_inserted_tweet_is(shared_data: Path, tox_test_split):
    """Document-level thresholds: few clean 4 KB WikiText pages (never trained on) cross them,
    most pages with one held-out offensive tweet inserted do."""
    from scripts.train_toxicity import insert_middle

    thresholds = json.loads((MODELS_DIR / "toxicity_thresholds.json").read_text())
    wiki = (shared_data / "clean_text/wikitext2_test.txt").read_text()
    docs = [wiki[i : i + 4000] for i in range(0, 4000 * 100, 4000)]
    det = ToxicityDetector()
    clean = np.array([r.scores["toxicity"] for r in det.detect_batch(docs)])
    texts, targets = tox_test_split
    pool = [t for t, y in zip(texts, targets["profanity"], strict=True) if y and len(t) < 400]
    mixed = det.detect_batch([insert_middle(d, pool[i]) for i, d in enumerate(docs)])
    assert (clean >= thresholds["toxicity"]).mean() <= 0.03  # measured 0.003 on all 313 pages
    assert (
        np.mean([r.scores["toxicity"] >= thresholds["toxicity"] for r in mixed]) >= 0.7
    )  # measured 0.845 on 200 pages


@pytest.mark.parametrize("make", [LangIdDetector, QualityDetector, ToxicityDetector])
def test_bad_inputs_never_raise(make):
    det = make()
    res = det.detect_batch(BAD_INPUTS)
    assert len(res) == len(BAD_INPUTS) and all(isinstance(r, DetectorResult) for r in res)
    for r in res:
        assert all(np.isfinite(v) for v in r.scores.values())
    assert det.detect_batch([]) == []


@pytest.mark.parametrize("make, copies", [(LangIdDetector, 10), (QualityDetector, 1), (ToxicityDetector, 1)])
def test_huge_document(make, copies):
    """One 10 MB smoke case (langid, which only reads a prefix); 1 MB for the others: the
    10 MB cases and the linear-growth figures are in benchmarks/pathological.py."""
    doc = ("The quick brown fox jumps over the lazy dog. " * 24_000 + "\n") * copies
    (res,) = make().detect_batch([doc])
    assert res.scores and all(np.isfinite(v) for v in res.scores.values())
