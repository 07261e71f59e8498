"""lid.176 with py3langid's second opinion (filters/detectors/langid.py, langid_fusion.py)."""

from __future__ import annotations

import csv
import pickle
import statistics

import pytest

from filters.detectors.langid import LangIdDetector, Lid176Detector
from filters.detectors.langid_fusion import SecondOpinion, fuse
from tests.langid_data import langid_file

LID = frozenset({"en", "de", "nl", "ceb", "hr", "sr"})
PY = frozenset({"en", "de", "nl", "zu", "hr", "sr", "zxx"})


def test_fuse_language_only_one_model_knows_keeps_that_models_verdict():
    # lid.176 is sure of a language py3langid cannot name: py3langid's spread must not veto it.
    label, score = fuse({"ceb": 0.8, "en": 0.2}, {"en": 0.3, "nl": 0.35, "de": 0.35}, LID, PY)
    assert label == "ceb" and 0.5 < score <= 1.0
    # ... and the reverse: a language only py3langid knows wins when py3langid is sure.
    label, _ = fuse({"en": 0.3, "nl": 0.3, "de": 0.4}, {"zu": 0.9, "en": 0.1}, LID, PY)
    assert label == "zu"


def test_fuse_weights_second_model_more_and_agreement_never_lowers_score():
    # lid.176 unsure between hr and sr, py3langid sure of sr: the pool follows py3langid.
    label, score = fuse({"hr": 0.5, "sr": 0.4, "en": 0.1}, {"sr": 0.9, "hr": 0.1}, LID, PY)
    assert label == "sr"
    # Agreement: the score is at least lid.176's own probability for that label.
    label, score = fuse({"de": 0.85, "nl": 0.15}, {"de": 0.5, "nl": 0.5}, LID, PY)
    assert label == "de" and score >= 0.85


def test_fuse_never_answers_no_language_class_and_is_deterministic():
    lid = {"en": 0.5, "de": 0.5}
    second = {"zxx": 0.5, "en": 0.25, "de": 0.25}
    results = {fuse(lid, second, LID, PY) for _ in range(3)}
    assert len(results) == 1
    (label, score), *_ = results
    assert label == "de"  # exact tie between de and en: the label order breaks it
    assert 0.0 <= score <= 1.0


def test_fuse_keeps_lid176_when_second_model_has_nothing_to_go_on():
    # py3langid near-uniform (no features): its spread must not hand the win to a label only
    # lid.176 knows ("ceb" would borrow lid.176's own 0.2 against en's 0.6 ** 0.2 * 0.01 ** 0.8).
    second = {lab: 0.01 for lab in PY - {"zxx"}} | {"zxx": 0.94}
    assert fuse({"en": 0.6, "ceb": 0.2, "de": 0.2}, second, LID, PY) == ("en", 0.6)


def test_one_language_has_one_code_whichever_model_named_it():
    """py3langid writes Paraguayan Guarani "gug", lid.176 writes Guarani "gn": the detector says "gn"."""
    second = SecondOpinion()
    assert "gug" not in second.labels and "gn" in second.labels
    # A tune-half paragraph of the Guarani UDHR (benchmarks/data/udhr, odd-numbered articles).
    text = (
        "Mayma yvypóra ou ko yvy ári iñapytlʼyre ha eteĩcha dignidad ha derecho jeguerekópe; ha ikatu rupi "
        "oikuaa añetéva ha añeteʼyva, iporãva ha ivaíva, tekotevẽ pehenguéicha oiko oñondivekuéra."
    )
    ranked = second.rank(text)
    assert "gug" not in ranked and max(ranked, key=ranked.__getitem__) == "gn"
    assert LangIdDetector().detect_batch([text])[0].labels["lang"] == "gn"


def test_symbols_and_digits_get_lid176_answer():
    texts = ["\U0001f600\U0001f600\U0001f600 \U0001f389", "12345 678 90", "-- // ** ##"]
    alone = Lid176Detector().detect_batch(texts)
    assert LangIdDetector().detect_batch(texts) == alone


def test_confident_text_never_reaches_the_second_model(monkeypatch: pytest.MonkeyPatch):
    text = (
        "The committee met on Tuesday to discuss the budget for the coming year, and after a long "
        "debate it agreed to fund the new library and to repair the roads in the northern district."
    )
    alone = Lid176Detector().detect_batch([text])[0]
    assert alone.labels["lang"] == "en" and alone.scores["lang_score"] >= 0.9

    def boom(self: SecondOpinion, text: str) -> dict[str, float]:
        raise AssertionError("py3langid ran on a confident text")

    monkeypatch.setattr(SecondOpinion, "rank", boom)
    assert LangIdDetector().detect_batch([text])[0] == alone


def test_pickle_keeps_settings_and_empty_text_is_unknown():
    det = pickle.loads(pickle.dumps(Lid176Detector(max_chars=500)))
    assert (det.max_chars, det.second_opinion, det._second) == (500, False, None)
    det = pickle.loads(pickle.dumps(LangIdDetector()))
    assert det.second_opinion and det._second is not None
    (empty,) = det.detect_batch([" \n\t "])
    assert empty.labels == {"lang": "unknown"} and empty.scores == {"lang_score": 0.0}


def _test_half(name: str, per_language: int) -> list[tuple[str, str]]:
    """Odd rows per language (the half never used to choose the fusion settings)."""
    seen: dict[str, int] = {}
    rows = []
    with langid_file(name).open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        for lang, text in reader:
            k = seen.get(lang, 0)
            seen[lang] = k + 1
            if k % 2 == 1 and k // 2 < per_language:
                rows.append(({"nb": "no"}.get(lang, lang), text))
    return rows


def _macro(rows: list[tuple[str, str]], det: LangIdDetector) -> dict[str, float]:
    res = det.detect_batch([t for _, t in rows])
    hits: dict[str, list[bool]] = {}
    for (lang, _), r in zip(rows, res, strict=True):
        assert 0.0 <= r.scores["lang_score"] <= 1.0
        hits.setdefault(lang, []).append(r.labels["lang"] == lang)
    return {lang: sum(h) / len(h) for lang, h in hits.items()}


def test_second_opinion_beats_lid176_on_held_out_sentences():
    rows = _test_half("lingua_sentences_75lang_250each.tsv", 40)
    alone = _macro(rows, Lid176Detector())
    both = _macro(rows, LangIdDetector())
    assert len(both) == 75
    # Measured on these 40 x 75 rows: lid.176 0.80, with py3langid 0.92. The 0.89 is that measurement less
    # a margin (a regression floor, not a goal); what ties the test to something outside the implementation
    # is the next line, the gain over lid.176 alone, the model the second opinion was added to, on rows held
    # out from the tuning (even rows chose the fusion weight and threshold; these are odd rows).
    assert statistics.fmean(both.values()) >= 0.89
    assert statistics.fmean(both.values()) - statistics.fmean(alone.values()) >= 0.08
    # Languages lid.176 cannot name (or mostly misses) that py3langid fixes.
    for lang in ("zu", "xh", "sn", "st", "lg", "so", "yo", "af"):
        assert both[lang] >= 0.8 > alone[lang], lang
    # No language lid.176 already gets right loses more than a few sentences.
    assert all(both[lang] >= alone[lang] - 0.1 for lang in alone), {
        lang: (alone[lang], both[lang]) for lang in alone if both[lang] < alone[lang] - 0.1
    }


def test_second_opinion_helps_two_word_snippets():
    rows = _test_half("lingua_word_pairs_75lang_100each.tsv", 50)
    alone = statistics.fmean(_macro(rows, Lid176Detector()).values())
    both = statistics.fmean(_macro(rows, LangIdDetector()).values())
    # measured 0.60 -> 0.78: 0.74 is that less a margin (a regression floor); the gain over lid.176 alone on
    # the same held-out rows (>= 0.12) is the comparison with a reference
    assert both >= 0.74 and both - alone >= 0.12


def test_batch_and_single_calls_agree():
    """A detector is a pure function of the text: batching must not change any answer."""
    texts = ["Ngiyabonga kakhulu mngane wami", "ok", "Das ist gut.", "", "Hola amigo, ¿qué tal?", "12 34"]
    det = LangIdDetector()
    assert det.detect_batch(texts) == [det.detect_batch([t])[0] for t in texts]
