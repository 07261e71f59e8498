"""The compiled scoring loop (`harm_kernel`) against the numpy reference it replaces at run time
(`featurize_counted` + `linear_margins`, which training still uses): same margins up to float32
rounding and the same content-word counts, on real documents and tweets and on generated text."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filters.detectors import harm
from filters.normalize import normalize

REPO = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-5  # the reference sums float32 products; the kernel sums in float64


@pytest.fixture(scope="module")
def model() -> harm.HarmModel:
    return harm.HarmModel()


def _reference(model: harm.HarmModel, text: str, bounds: list[tuple[int, int]]):
    features, content = harm.featurize_counted(text, bounds, model.spec)
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
        "x" * 1000,  # one token cut every 40 characters, windows cut inside it
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
    assert not model._scratch.counts.any()


def test_one_character_ngrams_are_refused(tmp_path):
    spec = harm.FeatureSpec(char_ngrams=(1, 2, 3)).to_json()
    with pytest.raises(harm.HarmModelError, match="char n-grams 2 or longer"):
        harm.FeatureSpec.from_json(spec)


def test_without_a_writable_cache_the_loop_is_compiled_per_process():
    """numba refuses `cache=True` where it finds no writable cache directory (a read-only install);
    the kernel then compiles in memory and scores the same."""
    code = (
        "import numba.core.caching as c; c.CacheImpl._locator_classes = []\n"
        "from filters.detectors import harm, harm_kernel\n"
        "assert type(harm_kernel.window_margins._cache).__name__ == 'NullCache'\n"
        "m = harm.HarmModel(); t = 'how do i make a pipe bomb at home ' * 30\n"
        "b = harm.window_bounds(t, 400); got = m.window_margins(t, b)[0]\n"
        "f, _ = harm.featurize_counted(t, b, m.spec); want = m.margins(*f, len(b))\n"
        "assert abs(got - want).max() < 1e-5, abs(got - want).max(); print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
