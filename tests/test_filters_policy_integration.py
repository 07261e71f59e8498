"""The shipped policy (configs/policy.yaml) with every real detector, on real data.

Floors were measured on this data with the bundled models (see the numbers in each test) and set
with a margin, so a retrained classifier may move them a little but a broken integration (a score
key renamed, a threshold not applied, a language scope lost) fails.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from filters import Filter, Policy
from filters.arrow import annotate
from tests.langid_data import langid_file

POLICY = Path(__file__).resolve().parents[1] / "configs" / "policy.yaml"


@pytest.fixture(scope="module")
def flt() -> Filter:
    return Filter(Policy.load(POLICY), mode="pretrain")


def _detok(text: str) -> str:
    """WikiText's tokenized form back to ordinary prose (" @-@ " -> "-", " , " -> ", "); its <unk>
    (a rare word removed by the dataset) becomes a word again, else Gopher counts 3 symbols for it."""
    text = text.replace("<unk>", "unknown").replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", ".")
    text = re.sub(r" ([,.;:!?)'])", r"\1", text)
    text = text.replace("( ", "(").replace(' " ', ' "')
    return text


def _clean_docs(path: Path, n: int, size: int = 4000, wiki: bool = False) -> list[str]:
    """Consecutive paragraphs of a clean file joined into ~`size`-char documents."""
    raw = path.read_text(encoding="utf-8")
    paras = [p.strip() for p in re.split(r"\n\s*\n" if not wiki else r"\n", raw)]
    paras = [_detok(p) if wiki else " ".join(p.split()) for p in paras]
    paras = [p for p in paras if len(p) > 150 and not p.startswith("=")]
    docs, cur = [], []
    for p in paras:
        cur.append(p)
        if sum(len(x) for x in cur) >= size:
            docs.append("\n\n".join(cur))
            cur = []
        if len(docs) == n:
            break
    return docs


def _davidson(shared: Path, cls: str, n: int) -> list[str]:
    with open(shared / "toxicity/davidson_labeled_data.csv", encoding="utf-8") as f:
        return [r["tweet"] for r in csv.DictReader(f) if r["class"] == cls][:n]


def test_hate_tweets_mostly_dropped(flt: Filter, shared_data: Path):
    hate = _davidson(shared_data, "0", 400)
    vs = flt.check_batch(hate)
    # Measured: 400/400 dropped, every one before the classifiers (pre-training skips them on
    # documents the rules, language or quality already dropped): reason hate 212 (the terms),
    # low_quality 138, language 48, harassment 2.
    assert Counter(v.action for v in vs)["drop"] >= 0.95 * len(hate)
    assert sum(v.reason == "hate" for v in vs) >= 0.45 * len(hate)
    # Scored by every detector (as runtime checks are): hate fires on 376, the reason is hate for 312,
    # low_quality 82, language 6: the terms and the classifiers recognise the hate, not only quality.
    policy = Policy.load(POLICY).model_copy(update={"skip_dropped_in": []})
    full = Filter(policy, mode="pretrain", detectors=flt.detectors).check_batch(hate)
    assert [v.action for v in full] == [v.action for v in vs]
    assert sum("hate" in v.fired for v in full) >= 0.8 * len(hate)
    assert sum(v.reason == "hate" for v in full) >= 0.6 * len(hate)


def test_clean_documents_mostly_kept(flt: Filter, shared_data: Path):
    wiki = _clean_docs(shared_data / "clean_text/wikitext2_valid.txt", 60, wiki=True)
    stories = _clean_docs(shared_data / "clean_text/tinystories_head.txt", 60)
    assert len(wiki) == 60 and len(stories) == 60
    for name, docs, floor in (("wikitext", wiki, 0.8), ("tinystories", stories, 0.9)):
        vs = flt.check_batch(docs)
        kept = [v for v in vs if v.action != "drop"]
        # Measured: WikiText 51/60 kept (9 number-heavy ones fail gopher_below_alpha_threshold),
        # TinyStories 60/60.
        assert len(kept) >= floor * len(docs), (name, Counter(v.reason for v in vs))
        assert all(v.lang == "en" for v in vs)
        # No harm category drops a clean document (flags are allowed: the classifier at its tweet
        # threshold is a flag-only signal in this policy).
        harm = {"hate", "harassment", "sexual", "sexual_minors", "violence", "self_harm", "illicit"}
        assert not [v.reasons for v in vs if v.action == "drop" and v.reason in harm], name


def _lingua(shared: Path) -> dict[str, str]:
    """One ~2 KB document per language from the lingua test sentences."""
    by_lang: dict[str, list[str]] = {}
    with open(langid_file("lingua_sentences_75lang_250each.tsv"), encoding="utf-8") as f:
        for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            by_lang.setdefault(r["lang"], []).append(r["text"])
    return {lang: " ".join(s[:25]) for lang, s in by_lang.items()}


def test_non_english_follows_the_language_list(flt: Filter, shared_data: Path):
    docs = _lingua(shared_data)
    langs = sorted(docs)
    vs = flt.check_batch([docs[lang] for lang in langs])
    keep = set(flt.categories["language"].keep)
    for lang, v in zip(langs, vs, strict=True):
        # Quality heuristics are English-only: never the reason for a non-English document.
        if v.lang != "en":
            assert "low_quality" not in v.fired and v.quality is None and v.quality_reason == "", lang
        if v.lang not in keep:
            assert v.action == "drop" and "language" in v.fired, lang
    kept_langs = {lang for lang, v in zip(langs, vs, strict=True) if v.action != "drop"}
    # Measured: all 20 kept languages present in lingua (as nb/nn for "no") are kept.
    expected = {lang for lang in langs if lang in keep}
    assert len(kept_langs & expected) >= len(expected) - 1, expected - kept_langs
    # Only kept languages survive (lingua's nb/nn come out of lid.176 as "no", which is kept).
    assert all(v.lang in keep for v in vs if v.action != "drop")


def test_pii_redacted(flt: Filter, shared_data: Path):
    data = json.loads((shared_data / "pii/presidio_synth_dataset_v2.json").read_text(encoding="utf-8"))
    samples = [
        d
        for d in data
        if any(s["entity_type"] == "EMAIL_ADDRESS" for s in d["spans"]) and len(d["spans"]) == 1
    ][:30]
    assert len(samples) >= 10
    # Embed in a clean English paragraph so the sample is judged as a document, not a fragment.
    host = _clean_docs(shared_data / "clean_text/tinystories_head.txt", 1)[0]
    vs = flt.check_batch([host + "\n\n" + d["full_text"] for d in samples])
    for d, v in zip(samples, vs, strict=True):
        email = d["spans"][0]["entity_value"]
        assert v.action == "redact", (v.reasons, d["full_text"])
        assert email not in v.text and "<EMAIL>" in v.text


def test_check_equals_check_batch_and_arrow(flt: Filter, shared_data: Path):
    texts = (
        _davidson(shared_data, "0", 8)
        + _davidson(shared_data, "2", 4)
        + _clean_docs(shared_data / "clean_text/wikitext2_valid.txt", 4, wiki=True)
        + list(_lingua(shared_data).values())[:6]
        + ["", "Contact me at jane.doe@example.com or +1 (415) 555-0132.", "short"]
    )
    batch = flt.check_batch(texts)
    single = [flt.check(t) for t in texts]
    assert [v.to_dict() for v in batch] == [v.to_dict() for v in single]
    table = annotate(flt, pa.table({"text": texts, "url": [None] * len(texts)}))
    assert table.column("action").to_pylist() == [v.action for v in batch]
    reasons = table.column("reason").to_pylist()
    qreasons = table.column("quality_reason").to_pylist()
    for v, r, q in zip(batch, reasons, qreasons, strict=True):
        assert q == v.quality_reason
        if r == "low_quality":  # the report groups by reason; the failing check is in quality_reason
            assert re.fullmatch(r"(gopher_quality|gopher_repetition|c4|fineweb):\w+", q)
    assert "low_quality" in reasons


def test_other_languages_term_lists_count_only_in_their_language(shared_data: Path):
    """LDNOOBW lists of other languages hold ordinary words ("nicht" is Dutch-list profanity, "Bitte"
    French-list): with the document's language known they no longer fire, while a language's own
    list still does; with the language unknown (a server's stream) every list counts."""
    from filters.terms import TermsDetector

    docs = _lingua(shared_data)
    det = TermsDetector()

    def other_lists(lang: str | None, text: str) -> set[str]:
        (r,) = det.detect_batch([text], langs=[lang])
        own = {"tl": "fil"}.get(lang or "", lang)
        return {
            s.label
            for s in r.spans
            if s.label.startswith("ldnoobw:") and s.label not in ("ldnoobw:en", f"ldnoobw:{own}")
        }

    unknown = {lang: other_lists(None, t) for lang, t in docs.items()}
    known = {lang: other_lists(lang, t) for lang, t in docs.items()}
    assert sum(map(bool, unknown.values())) >= 10  # measured 15 of 75 documents
    assert not any(known.values())
    assert "ldnoobw:nl" in unknown["de"]
    # The pipeline's path: the engine passes lid.176's language to the terms detector.
    data = {
        "categories": {
            "profanity": {
                "detectors": ["terms:profanity"],
                "threshold": 0.2,
                "action": "flag",
                "applies_to": ["pretrain"],
            },
            "language": {
                "detectors": ["langid"],
                "keep": "all",
                "min_score": 0.0,
                "action": "flag",
                "applies_to": ["pretrain"],
            },
        }
    }
    flt = Filter(Policy.model_validate(data), mode="pretrain")
    v_de = flt.check(docs["de"])
    assert v_de.lang == "de" and "profanity" not in v_de.fired
    own = "Das ist doch Scheiße, verdammte Scheiße."  # German profanity, German list
    assert "profanity" in flt.check(own).fired


def test_whole_filter_pickles(flt: Filter, shared_data: Path):
    """A Filter (every detector of the shipped policy) can be sent to a worker process as is."""
    import pickle

    host = _clean_docs(shared_data / "clean_text/tinystories_head.txt", 1)[0]
    text = f"Write to jo@example.com.\n\n{host}"
    clone = pickle.loads(pickle.dumps(flt))
    assert clone.check(text) == flt.check(text)
    assert clone.check(text).action == "redact"


def test_runtime_checks_scope_term_lists_to_the_text_language():
    """Runtime mode has no language category, yet another language's list must not count in English:
    "bite" is on the French list and "stake" on the Swedish one. The runtime Filter identifies the
    language for the term lists, and a stream's final verdict is still ``check`` of its text."""
    from filters.stream import StreamGuard
    from filters.terms import TermsDetector

    data = {
        "categories": {
            "profanity": {
                "detectors": ["terms:profanity"],
                "threshold": 0.5,
                "action": "flag",
                "applies_to": ["runtime"],
            },
        }
    }
    flt = Filter(Policy.model_validate(data), mode="runtime")
    assert "langid" in flt.detectors
    english = (
        "The dog took a bite of the apple, then another bite, and ran off with the rest of it. "
        "We drove a stake into the ground to hold the tent before the rain came."
    )
    french = "Quelle bite, ce type. Une vraie bite, je te le dis, et je ne lui parlerai plus jamais."
    (unknown,) = TermsDetector().detect_batch([english], langs=[None])
    assert unknown.scores["profanity"] >= 0.5  # every list counting: the French and Swedish words fire
    for text, lang, fires in ((english, "en", False), (french, "fr", True)):
        v = flt.check(text)
        assert v.lang == lang and ("profanity" in v.fired) is fires
        guard = StreamGuard(flt)
        released = "".join(guard.feed(text[i : i + 5]) for i in range(0, len(text), 5)) + guard.close()
        assert released == text and guard.verdict == v
