"""The mi/tn/ts third opinion: names the three languages on held-out rows, leaves the others alone,
fails closed on a changed model file."""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict

import numpy as np
import pytest

from filters.detectors.langid import LangIdDetector, LangIdTwoModels
from filters.detectors.langid_rare import MODEL_PATH, MODEL_SHA256, RareLanguages, features, load_model
from tests.langid_data import langid_file

TARGETS = ("mi", "tn", "ts")


def _test_rows(name: str) -> dict[str, list[str]]:
    """The odd rows per language of a fixture file: the half the model was not trained on."""
    by: dict[str, list[str]] = defaultdict(list)
    seen: dict[str, int] = defaultdict(int)
    with langid_file(name).open(encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(rows)
        for lang, text in rows:
            if seen[lang] % 2 == 1:
                by[lang].append(text)
            seen[lang] += 1
    return by


@pytest.fixture(scope="module")
def sentences() -> dict[str, list[str]]:
    return _test_rows("lingua_sentences_75lang_250each.tsv")


def test_the_three_languages_are_named_on_held_out_sentences(sentences):
    det = LangIdDetector()
    for lang in TARGETS:
        labels = [r.labels["lang"] for r in det.detect_batch(sentences[lang])]
        assert len(labels) == 40
        assert sum(lab == lang for lab in labels) >= 36, (lang, labels)


def test_before_the_third_opinion_nobody_named_them(sentences):
    """The gap it closes: the two pooled models give these languages' neighbours' labels."""
    det = LangIdTwoModels()
    for lang in TARGETS:
        assert not any(r.labels["lang"] == lang for r in det.detect_batch(sentences[lang]))


def test_other_languages_keep_their_labels(sentences):
    """On the other 72 languages' held-out sentences the third opinion changes no label."""
    texts = [t for lang, ts in sorted(sentences.items()) if lang not in TARGETS for t in ts]
    before = [r.labels["lang"] for r in LangIdTwoModels().detect_batch(texts)]
    after = [r.labels["lang"] for r in LangIdDetector().detect_batch(texts)]
    assert len(texts) > 2800
    assert before == after


def test_it_is_asked_only_about_neighbours():
    rare = RareLanguages()
    maori = "Ko te reo Māori te reo taketake o Aotearoa, ā, he reo whaimana hoki."
    assert rare.relabel("kik", maori) is not None and rare.relabel("kik", maori)[0] == "mi"
    assert rare.relabel("de", maori) is None  # German is not a neighbour of the three
    assert rare.relabel("kik", "1234 !!! ...") is None  # no letters, no opinion
    assert {"kik", "nso", "xh"} <= rare.triggers


def test_features_are_deterministic_and_bounded():
    x = features("Dumela rra, o tsogile jang?")
    assert x.dtype == np.float32 and x.sum() > 0
    assert np.array_equal(x, features("Dumela rra, o tsogile jang?"))
    assert not features("").any() and not features("123 456").any()
    long = features("a" * 100_000)
    assert long.sum() == features("a" * 300).sum()  # reads the first 300 characters only


def test_a_changed_model_file_fails_closed(tmp_path):
    copy = tmp_path / "langid_rare.npz"
    shutil.copyfile(MODEL_PATH, copy)
    assert load_model(copy, MODEL_SHA256)["targets"] == frozenset(TARGETS)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        load_model(copy, MODEL_SHA256)
