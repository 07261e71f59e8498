"""The compiled scoring loop (`harm_kernel`) against the numpy reference it replaces at run time
(`featurize_counted` + `linear_margins`, which training still uses): same margins up to float32
rounding and the same content-word counts, on real documents and tweets and on generated text."""

from __future__ import annotations

import csv
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filters.detectors import harm, harm_features, harm_kernel
from filters.normalize import normalize

REPO = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-5  # the reference sums float32 products; the kernel sums in float64


@pytest.fixture(scope="module")
def model() -> harm.HarmModel:
    return harm.HarmModel()


def _reference(model: harm.HarmModel, text: str, bounds: list[tuple[int, int]]):
    features, content = harm_features.featurize_counted(text, bounds, model.spec)
    return model.margins(*features, len(bounds)), content


def _assert_same(model: harm.HarmModel, text: str, window_chars: int = 400) -> None:
    bounds = harm.window_bounds(text, window_chars)
    got, got_content = model.window_margins(text, bounds)
    want, want_content = _reference(model, text, bounds)
    assert got.shape == want.shape == (len(bounds), len(model.categories))
    np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE, err_msg=text[:80])
    np.testing.assert_array_equal(got_content, want_content, err_msg=text[:80])


def test_real_documents_and_tweets_score_as_the_reference(model, shared_data: Path):
    texts = [(REPO / "tests/fixtures/harm/clean_page.txt").read_text(encoding="utf-8")]
    with open(shared_data / "web/dolma_fixtures/cc_en_head-0091.jsonl", encoding="utf-8") as f:
        texts += [json.loads(line)["text"] for line in f]
    with open(shared_data / "toxicity/davidson_labeled_data.csv", encoding="utf-8") as f:
        texts += [r["tweet"] for r in list(csv.DictReader(f))[:300]]
    for raw in texts:
        _assert_same(model, normalize(raw).text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a",
        "ok",
        "how do i",  # framing words only: no word features, char n-grams only from spaces
        "the the the the",
        "x" * 1000,  # one run of letters: tokens cut every 40 characters, windows with no space to cut at
        "ki11 the p30p13 " * 40,
        "Ünïcödé wörds ﬁne 日本語のテキスト ① ²",
        "word " * 300 + "kill " * 5,
    ],
)
def test_edge_cases_score_as_the_reference(model, text):
    _assert_same(model, normalize(text).text)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    text=st.lists(
        st.sampled_from([*"abcdeilosty _-.!0123é日", "how ", "the ", "kill ", "  ", "x" * 45]),
        max_size=300,
    ).map("".join),
    window=st.sampled_from([5, 37, 400]),
)
def test_generated_text_scores_as_the_reference(model, text, window):
    _assert_same(model, text, window)


def test_the_scratch_table_is_handed_back_zeroed(model):
    text = normalize("Give me step by step instructions to make a pipe bomb at home. " * 20).text
    model.window_margins(text, harm.window_bounds(text, 400))
    assert not harm._SCRATCH.tables[model.spec.n_features].any()


@pytest.mark.parametrize(
    "spec",
    [
        harm.FeatureSpec(n_features=16, char_ngrams=(2,), word_ngrams=(1,), window_chars=37),
        harm.FeatureSpec(n_features=256, char_ngrams=(3, 4, 5, 6, 7), word_ngrams=(2,), window_chars=60),
        harm.FeatureSpec(n_features=1 << 12, char_ngrams=(2, 5), word_ngrams=(1, 2), window_chars=400),
    ],
)
def test_other_feature_specs_and_crowded_tables_score_as_the_reference(spec, shared_data: Path):
    """Small tables (many n-grams share a bucket), other n-gram lengths and random weights."""
    rng = np.random.default_rng(7)
    weights = rng.normal(size=(spec.n_features, 3)).astype(np.float32)
    bias = rng.normal(size=3).astype(np.float32)
    with open(shared_data / "toxicity/davidson_labeled_data.csv", encoding="utf-8") as f:
        texts = [normalize(r["tweet"]).text for r in list(csv.DictReader(f))[:60]]
    texts.append((REPO / "tests/fixtures/harm/clean_page.txt").read_text(encoding="utf-8"))
    counts = np.zeros(spec.n_features, dtype=np.int64)
    for text in filter(None, texts):
        bounds = harm.window_bounds(text, spec.window_chars)
        cp = harm_features.folded_codepoints(text)
        got, got_content = harm_kernel.window_margins(
            cp, harm_features.word_chars(cp), np.array([s for s, _ in bounds]), np.array([e for _, e in bounds]),
            harm_features.FRAMING_HASHES, weights, bias, np.array(spec.char_ngrams),
            np.array([n in spec.word_ngrams for n in (1, 2)]), harm_features.MAX_TOKEN, counts,
        )  # fmt: skip
        features, want_content = harm_features.featurize_counted(text, bounds, spec)
        want = harm.linear_margins(features, len(bounds), weights, bias)
        np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE, err_msg=text[:80])
        np.testing.assert_array_equal(got_content, want_content)
        assert not counts.any()


def test_windows_that_do_not_tile_the_text_are_refused(model):
    for bounds in ([(1, 5)], [(0, 5), (3, 8)], [(0, 50)], []):
        with pytest.raises(ValueError, match="windows must be"):
            model.window_margins("a short text", bounds)


def test_the_model_pickles(model):
    again = pickle.loads(pickle.dumps(model))
    text = normalize("how do i make a pipe bomb at home").text
    bounds = harm.window_bounds(text, 400)
    np.testing.assert_array_equal(
        again.window_margins(text, bounds)[0], model.window_margins(text, bounds)[0]
    )


def test_one_character_ngrams_and_no_character_ngrams_are_refused():
    for char_ngrams in ((1, 2, 3), ()):
        with pytest.raises(harm.HarmModelError, match="char n-grams 2 or longer"):
            harm.FeatureSpec.from_json(harm.FeatureSpec(char_ngrams=char_ngrams).to_json())


def test_without_a_writable_cache_the_loop_is_compiled_per_process():
    """numba refuses `cache=True` where it finds no writable cache directory (a read-only install);
    the kernel then compiles in memory and scores the same."""
    code = (
        "import numba.core.caching as c; c.CacheImpl._locator_classes = []\n"
        "from filters.detectors import harm, harm_features, harm_kernel\n"
        "assert type(harm_kernel.window_margins._cache).__name__ == 'NullCache'\n"
        "m = harm.HarmModel(); t = 'how do i make a pipe bomb at home ' * 30\n"
        "b = harm.window_bounds(t, 400); got = m.window_margins(t, b)[0]\n"
        "f, _ = harm_features.featurize_counted(t, b, m.spec); want = m.margins(*f, len(b))\n"
        "assert abs(got - want).max() < 1e-5, abs(got - want).max(); print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
