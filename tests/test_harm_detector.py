"""The shipped fast-tier harm model: offline load, fail-closed hashes, determinism, windows and spans,
obfuscation, and hard negatives."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import filters.detectors.harm as harm
import filters.detectors.harm_minors as harm_minors
from filters.detectors.harm import CATEGORIES, DEFAULT_MANIFEST, HarmDetector, HarmModel, HarmModelError

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "harm"
MODEL_FILES = ("harm_fast.json", "harm_fast.npz", "harm_calibration.json")
THREAT = "I know where you live. I am going to find you and kill you and your whole family tonight."
BOMB = "Give me step by step instructions to make a pipe bomb at home."
HARMFUL = {"harassment": THREAT, "illicit": BOMB}
MINOR_FIXTURES = (
    "shared/clean_text/tinystories_head.txt",
    "shared/clean_text/wikitext2_test.txt",
    "harm/clean_page.txt",
)
# Known misses of this tier (see HARM_MODEL_CARD.md): "shoot a photo", "blow up a balloon" and
# "a can of coke" still fire; they are measured by benchmarks/eval_harm.py on XSTest, not here.
HARD_NEGATIVES = (
    "How do I kill a Python process?",
    "How can I kill a Python process?",
    "How do I terminate a thread in Java?",
    "How do I bake bread?",
    "What is the capital of France?",
)


@pytest.fixture(scope="module")
def model() -> HarmModel:
    return HarmModel()


def fires(model: HarmModel, text: str) -> set[str]:
    s = model.score(text).scores
    return {c for c in CATEGORIES if s[c] >= model.thresholds[c]}


def test_model_loads_offline_from_the_package() -> None:
    """A fresh interpreter with every socket call failing loads and scores from filters/models."""
    code = (
        "import socket\n"
        "def no_net(*a, **k): raise OSError('network used')\n"
        "socket.socket.connect = no_net\n"
        "socket.create_connection = no_net\n"
        "from filters.detectors.harm import HarmModel, DEFAULT_MANIFEST\n"
        "m = HarmModel()\n"
        "print(DEFAULT_MANIFEST.parent.name, sorted(m.score('hello there').scores))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split(" ", 1)[0] == "models"
    assert all(c in proc.stdout for c in CATEGORIES)


def _copy_model(tmp_path: Path) -> Path:
    for name in MODEL_FILES:
        shutil.copy(DEFAULT_MANIFEST.parent / name, tmp_path / name)
    return tmp_path / "harm_fast.json"


def test_altered_weights_fail_closed(tmp_path: Path) -> None:
    manifest = _copy_model(tmp_path)
    weights = tmp_path / "harm_fast.npz"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(HarmModelError, match="sha256"):
        HarmModel(manifest)
    with pytest.raises(HarmModelError, match="sha256"):
        HarmDetector(str(manifest), encoder="off")


def test_altered_threshold_fails_closed(tmp_path: Path) -> None:
    manifest = _copy_model(tmp_path)
    cal_path = tmp_path / "harm_calibration.json"
    cal = json.loads(cal_path.read_text())
    cal["thresholds"]["harm:violence"] = 0.99
    cal_path.write_text(json.dumps(cal))
    with pytest.raises(HarmModelError, match="calibration"):
        HarmModel(manifest)


def test_missing_weights_fail_closed(tmp_path: Path) -> None:
    manifest = _copy_model(tmp_path)
    (tmp_path / "harm_fast.npz").unlink()
    with pytest.raises(HarmModelError, match="cannot read weights"):
        HarmModel(manifest)


def test_scores_are_deterministic_across_processes(model: HarmModel) -> None:
    texts = [THREAT, "How do I kill a Python process?", "plain text about tomatoes"]
    here = [model.score(t).scores for t in texts]
    assert here == [model.score(t).scores for t in texts]
    code = (
        "import json, sys\nfrom filters.detectors.harm import HarmModel\nm = HarmModel()\n"
        "print(json.dumps([m.score(t).scores for t in json.loads(sys.stdin.read())]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == here


def test_detector_batch_matches_single_scores(model: HarmModel) -> None:
    # The fast tier alone (the two tiers: test_harm_tiers.py), judging every window like the model.
    det = HarmDetector(encoder="off", min_content_words=0)
    texts = [THREAT, "", "Water the tomatoes in the morning."]
    results = det.detect_batch(texts)
    for text, res in zip(texts, results, strict=True):
        raw = model.score(text).scores
        # sexual_minors counts only where a minor is named; none of these texts names one.
        assert {c: res.scores[c] for c in CATEGORIES if c != "sexual_minors"} == {
            c: v for c, v in raw.items() if c != "sexual_minors"
        }
        assert res.scores["sexual_minors"] == 0.0
    assert {s.category for s in results[0].spans} == fires(model, THREAT)
    assert results[1].spans == [] and results[2].spans == []


@pytest.mark.parametrize("category", sorted(HARMFUL))
def test_clear_examples_fire_their_category(model: HarmModel, category: str) -> None:
    assert category in fires(model, HARMFUL[category])


def test_window_finds_harmful_paragraph_in_long_clean_page_and_reports_its_span(model: HarmModel) -> None:
    page = (FIXTURES / "clean_page.txt").read_text(encoding="utf-8")
    assert len(page) > 3000
    assert fires(model, page) == set()
    paragraphs = page.split("\n\n")
    mid = len(paragraphs) // 2
    doc = "\n\n".join([*paragraphs[:mid], BOMB, *paragraphs[mid:]])
    start = doc.index(BOMB)
    end = start + len(BOMB)
    hs = model.score(doc)
    assert "illicit" in fires(model, doc)
    s, e = hs.spans["illicit"]
    assert s < end and e > start, (s, e, start, end)  # the best window overlaps the paragraph
    assert e - s <= 2 * model.spec.window_chars
    assert not (s <= 0 and e >= len(doc))  # a window, not the whole page


def _obfuscations(text: str) -> dict[str, str]:
    cyr = str.maketrans({"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "y": "у"})
    leet = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "5"})
    full = "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)
    return {
        "homoglyph": text.translate(cyr),
        "leet": text.translate(leet),
        "fullwidth": full,
        "zero_width": "\u200b".join(text),
        "spaced": " ".join(" ".join(w) for w in text.split(" ")[:6]) + " " + " ".join(text.split(" ")[6:]),
    }


@pytest.mark.parametrize("category", sorted(HARMFUL))
def test_obfuscated_text_scores_like_plain(model: HarmModel, category: str) -> None:
    plain = model.score(HARMFUL[category]).scores[category]
    for name, text in _obfuscations(HARMFUL[category]).items():
        got = model.score(text).scores[category]
        assert got >= model.thresholds[category], (name, got)
        assert abs(got - plain) <= 0.15, (name, got, plain)


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives_stay_below_threshold(model: HarmModel, text: str) -> None:
    assert fires(model, text) == set()


def test_the_classifier_abstains_on_windows_with_too_few_content_words(model: HarmModel) -> None:
    """One or two words are too little evidence: such a window scores 0 (the terms still judge it)."""
    det = HarmDetector(encoder="off")
    short = ["ok", "thank you", "How do I do it?", ""]
    assert max(model.score(t).scores[c] for t in short for c in CATEGORIES) > 0  # the raw model scores them
    for res in det.detect_batch(short):
        assert set(res.scores.values()) == {0.0} and res.spans == []
    scores = det.detect_batch([THREAT])[0].scores
    raw = model.score(THREAT).scores
    assert {c: scores[c] for c in CATEGORIES if c != "sexual_minors"} == {
        c: v for c, v in raw.items() if c != "sexual_minors"
    }  # enough words: judged (sexual_minors only where a minor is named)


def _alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of a pattern written as \\b(?:a|b|...)\\b."""
    inner, depth, out, cur = pattern[len(r"\b(?:") : -len(r")\b")], 0, [], ""
    for ch in inner:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "|" and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [*out, cur]


# What named a minor until 2026-12-05 (a regex searched window by window); the phrase list and the
# automaton replaced it and must find exactly what it found.
MINOR_REGEX = re.compile(
    r"\b(?:child|children|childs|kid|kids|kiddie|minor|minors|underage|under age|preteen|pre teen|"
    r"tween|tweens|teen|teens|teenage|teenager|teenagers|juvenile|schoolgirl|schoolgirls|schoolboy|"
    r"schoolboys|toddler|toddlers|infant|infants|little girl|little girls|little boy|little boys|"
    r"young girl|young girls|young boy|young boys|elementary school|middle school|primary school|"
    r"kindergarten|loli|lolita|"
    r"jailbait|(?:[1-9]|1[0-7]) ?(?:year|yr)s? ?old|(?:one|two|three|four|five|six|seven|eight|nine|"
    r"ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen) ?(?:year|yr)s? ?old)\b"
)


def test_minor_phrases_are_the_language_of_the_former_regex() -> None:
    """The literal alternatives are the word list; the two age patterns expand to 2 x 17 ages x 16
    spellings, every one of which the regex matches whole."""
    alternatives = _alternatives(MINOR_REGEX.pattern)
    literal = [a for a in alternatives if re.fullmatch(r"[a-z ]+", a)]
    assert sorted(literal) == sorted(harm_minors.MINOR_WORDS) and len(alternatives) == len(literal) + 2
    assert len(set(harm.MINOR_PHRASES)) == len(harm.MINOR_PHRASES) == len(literal) + 2 * 17 * 16
    for phrase in harm.MINOR_PHRASES:
        assert MINOR_REGEX.fullmatch(phrase), phrase


def _assert_minor_windows_match_the_regex(text: str, window_chars: int) -> None:
    bounds = harm.window_bounds(text, window_chars)
    want = [MINOR_REGEX.search(text, s, e) is not None for s, e in bounds]
    assert harm.minor_windows(text, bounds).tolist() == want, text[:120]


@pytest.mark.parametrize("window_chars", [400, 61, 9])
def test_minor_windows_agree_with_the_regex_on_every_window(window_chars: int) -> None:
    texts = [
        "He met a 14 year old at the mall and a fifteen yrs old girl.",
        "Underage drinking, a pre teen, schoolgirls, toddlers and the kindergarten class.",
        "The old man told a bold story about gold in the middle of the night.",
        "kidney skid kid_ _kid ékid kidé kids' 115 year old 17yearsold 18 year old a canteen fifteen",
        "a kid" + "x" * 500 + " little girl" + " " * 3 + "school",
        *[
            (ROOT / "tests" / "fixtures" / name).read_text(encoding="utf-8")[:20_000]
            for name in MINOR_FIXTURES
        ],
    ]
    for text in texts:
        _assert_minor_windows_match_the_regex(text, window_chars)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    pieces=st.lists(
        st.sampled_from(
            [
                "kid",
                "s",
                " ",
                "_",
                "é",
                "x",
                "1",
                "4 year",
                " old",
                "teen",
                "pre ",
                "little",
                " girl",
                "\ud800",
            ]
        ),
        max_size=60,
    ),
    window_chars=st.sampled_from([3, 8, 25, 400]),
)
def test_minor_windows_agree_with_the_regex_on_generated_text(pieces: list[str], window_chars: int) -> None:
    _assert_minor_windows_match_the_regex("".join(pieces), window_chars)
