"""QualityDetector against datatrove's own filters on real documents: same decision, same reason."""

from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path

import pytest
from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.pipeline.filters.gopher_repetition_filter import (
    find_all_duplicate,
    find_top_duplicate,
    get_n_grams,
)
from datatrove.utils.text import split_into_sentences, split_into_words

from filters.detectors import quality as qd
from filters.detectors import quality_rules as qr
from filters.detectors.quality import QualityDetector
from tests.langid_data import langid_file

DATATROVE = {
    "gopher_quality": GopherQualityFilter,
    "gopher_repetition": GopherRepetitionFilter,
    "c4": C4QualityFilter,
    "fineweb": FineWebQualityFilter,
}


def _corpus(d: Path) -> list[str]:
    """~110 real documents (≤ 2.5 KB each to keep datatrove's reference run short), many failing some rule."""
    docs: list[str] = []
    for f in sorted((d / "web/dolma_fixtures").glob("cc_en_head-*.jsonl")):
        docs += [json.loads(line)["text"][:2000] for line in f.open(encoding="utf-8")]
    with gzip.open(d / "web/dolma_fixtures/provided_documents_000.json.gz", "rt", encoding="utf-8") as f:
        docs += [json.loads(line)["text"][:2000] for line in f]
    gt = json.loads((d / "web/article_extraction_benchmark/ground-truth.json").read_text())
    docs += [gt[k]["articleBody"][:2000] for k in sorted(gt)[:25]]
    stories = (d / "clean_text/tinystories_head.txt").read_text()[:30_000]  # no delimiters: cut in chunks
    docs += [stories[i : i + 2500] for i in range(0, 30_000, 2500)]
    for name in ("wikitext2_valid.txt", "tinyshakespeare_input.txt"):
        text = (d / "clean_text" / name).read_text()
        docs += [text[i : i + 2500] for i in range(0, 2500 * 6, 2500)]
    for f in sorted((d / "clean_text/gutenberg").glob("*.txt")):
        text = f.read_text(encoding="utf-8", errors="replace")
        docs += [text[:2500], text[len(text) // 2 : len(text) // 2 + 2500]]
    # Web-page text as a naive extractor gives it (menus, scripts, CSS): fails C4 / FineWeb / Gopher rules.
    for f in sorted((d / "web/trafilatura_eval/pages").glob("*.html"))[:8]:
        raw = f.read_text(encoding="utf-8", errors="replace")
        docs.append(re.sub(r"<[^>]{0,2000}>", "\n", raw)[:2000])
    # Lists and repeated lines built from real text: list_ratio, short lines, dup lines/paragraphs, n-grams.
    pairs = langid_file("lingua_word_pairs_75lang_100each.tsv").read_text().splitlines()[1:]
    en = [p.split("\t")[1] for p in pairs if p.startswith("en\t")]
    docs.append("\n".join(en[:80]))
    sentences = [
        s.split("\t")[1]
        for s in langid_file("lingua_sentences_75lang_250each.tsv").read_text().splitlines()[1:]
        if s.startswith("en\t")
    ]
    docs.append("\n".join(sentences[:5] * 6))
    docs.append("\n\n".join(sentences[5:8] * 4))
    docs.append(" ".join(sentences[10:14]) + " " + " ".join([sentences[14]] * 5))
    docs.append("\n".join(f"• {s}" for s in sentences[20:40]))
    docs.append("\n".join(s.rstrip(".") + "..." for s in sentences[40:60]))
    docs.append("\n".join(sentences[60:70]) + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.")
    docs.append(" ".join(sentences[70:90]).replace(" the ", " #the "))
    docs += ["", "   \n\n  ", "word " * 60, "Ok."]
    return docs


@pytest.fixture(scope="module")
def corpus(shared_data: Path) -> list[str]:
    return _corpus(shared_data)


@pytest.fixture(scope="module")
def reference(corpus: list[str]) -> dict[str, list[str]]:
    """datatrove's reason per check per document ("" = kept), each filter run alone on the original text."""
    out = {}
    for check, cls in DATATROVE.items():
        f = cls()
        reasons = []
        for i, text in enumerate(corpus):
            r = f.filter(Document(text=text, id=str(i)))
            reasons.append("" if r is True else r[1])
        out[check] = reasons
    return out


def test_each_check_matches_datatrove(corpus, reference):
    shared = QualityDetector().tokenizer
    for check, expected in reference.items():
        det = QualityDetector(checks=[check])
        det.tokenizer = shared
        got = det.detect_batch(corpus)
        for i, (res, exp) in enumerate(zip(got, expected, strict=True)):
            assert res.labels["quality_reason"] == (f"{check}:{exp}" if exp else ""), (
                check,
                i,
                corpus[i][:200],
            )
            assert res.scores["low_quality"] == (1.0 if exp else 0.0)


def test_gopher_long_doc_rule(shared_data: Path):
    """The > 100,000-word rule, both paths: the spaCy word count (words without whitespace between
    them, so the no-tokenizer shortcut cannot decide) and the shortcut, checked against datatrove."""
    assert GopherQualityFilter().max_doc_words == qd.MAX_DOC_WORDS == 100_000
    det = QualityDetector(checks=["gopher_quality"])
    glued = "cat," * 100_001  # one whitespace-free piece: only spaCy's infix rules find the words
    assert not qd.surely_too_long(glued)
    assert not qd.surely_too_long("... " * 200_000)  # symbol-only pieces are not words
    weird_spaces = "a\x1cb c\u3000d\x85e\x0bf\u2028g\th\x1fi"
    assert split_into_words(weird_spaces, "en") == weird_spaces.split()  # spaCy splits where str.split does
    (res,) = det.detect_batch([glued])
    assert res.labels["quality_reason"] == "gopher_quality:gopher_long_doc"
    text = (shared_data / "clean_text/tinystories_head.txt").read_text()[:600_000]
    assert qd.surely_too_long(text)
    r = GopherQualityFilter().filter(Document(text=text, id="long"))
    assert r is not True and r[1] == "gopher_long_doc"
    (res,) = QualityDetector().detect_batch([text])
    assert (
        res.labels["quality_reason"] == "gopher_quality:gopher_long_doc" and res.scores["low_quality"] == 1.0
    )


def test_corpus_exercises_many_reasons(reference):
    """The parity test is only meaningful if documents fail many different rules of every check."""
    reasons = {(c, r) for c, rs in reference.items() for r in rs if r}
    for check in DATATROVE:
        assert any(c == check for c, _ in reasons), check
    assert len(reasons) >= 14, sorted(reasons)
    assert sum(1 for r in reference["gopher_quality"] if not r) >= 40  # and many documents pass


def test_all_checks_first_reason_and_score(corpus, reference):
    det = QualityDetector()
    for i, res in enumerate(det.detect_batch(corpus)):
        expected = next((f"{c}:{reference[c][i]}" for c in DATATROVE if reference[c][i]), "")
        assert res.labels["quality_reason"] == expected
        q = res.scores["quality"]
        assert 0.0 <= q <= 1.0
        assert (q == 1.0) == (expected == "")


def test_words_equal_datatrove_tokenizer(corpus):
    det = QualityDetector()
    sample = corpus[::8]
    assert det.tokenizer.words_batch(sample) == [split_into_words(t, "en") for t in sample]


def test_sentence_counts_equal_datatrove(corpus):
    # Real lines plus whitespace variants (tabs, double spaces, leading blanks) that spaCy makes tokens of;
    # counted twice so the second pass runs on the per-chunk sentence cache.
    lines = [ln.strip() for t in corpus[::6] for ln in t.splitlines() if ln.strip()][:300]
    lines += [ln.replace(". ", ".  ").replace(" ", "\t", 2) for ln in lines[:60]]
    lines += ["", " ", "  Hi. there", "Ok.\u3000Next one! yes", "a .\n b", "!!! ?? x. y"]
    expected = [len(split_into_sentences(ln, "en")) for ln in lines]
    tok = QualityDetector().tokenizer
    assert tok.count_sentences_batch(lines) == expected
    assert [tok.count_sentences(ln) for ln in lines] == expected


def test_batching_and_order_do_not_change_results(corpus):
    docs = corpus[::5]
    a = QualityDetector().detect_batch(docs)
    det = QualityDetector()
    b = [det.detect_batch([t])[0] for t in reversed(docs)][::-1]
    assert a == b


def test_dup_ngram_fast_path_equals_datatrove_find_all_duplicate():
    rng = random.Random(7)
    vocab = ["a", "ab", "b", "ba", "the", "cat", "sat"]  # "".join collisions on purpose ("a"+"b" == "ab")
    for _ in range(300):
        words = [rng.choice(vocab) for _ in range(rng.randint(0, 60))]
        spans = qr.WordSpans(words)
        for n in range(5, 11):
            assert qr.dup_ngram_chars(spans, n) == find_all_duplicate(words, n), (words, n)


def _repetitive_docs(corpus: list[str]) -> list[list[str]]:
    """Word lists from real text, from plain to very repetitive: pasted paragraphs, repeated
    phrases, boilerplate lines, tiny vocabularies with "".join collisions, and short documents."""
    rng = random.Random(11)
    plain = [t.split() for t in corpus[:40]]
    docs = list(plain)
    for words in plain[:30]:
        phrase = words[: rng.randint(2, 12)]
        mixed = list(words)
        for _ in range(rng.randint(1, 25)):
            at = rng.randint(0, len(mixed))
            mixed[at:at] = phrase
        docs.append(mixed)
        docs.append(words + words[: rng.randint(0, len(words))])
    vocab = ["a", "ab", "b", "ba", "the", "cat", "sat"]
    docs += [[rng.choice(vocab) for _ in range(rng.randint(0, 80))] for _ in range(60)]
    return docs


def test_ngram_bounds_decide_exactly_like_exact_counts(corpus):
    """The bounded checks give the exact answer at every limit around the true value."""
    for words in _repetitive_docs(corpus):
        spans = qr.WordSpans(words)
        for n in (2, 3, 4):
            true = qr.top_ngram_chars(words, n)
            grams = get_n_grams(words, n)
            if grams:
                assert true == find_top_duplicate(grams)
            else:
                assert true is None
            for limit in {0, 1, 50, *((true - 1, true, true + 1) if true else ())}:
                got = qr.top_ngram_within(spans, {n: limit})[n]
                assert got == (true is None or true <= limit), (words[:20], n, limit)
        for n in range(5, 11):
            true = find_all_duplicate(words, n)
            for limit in {0, 1, 50, true - 1, true, true + 1}:
                assert qr.dup_ngram_within(spans, {n: limit})[n] == (true <= limit), (words[:20], n, limit)


def test_char_limits_match_datatrove_fractions():
    for size in (1, 7, 100, 999, 4046, 123_457):
        for frac in (0.1, 0.11, 0.12, 0.13, 0.14, 0.15, 0.16, 0.18, 0.2):
            c = qr._largest_within(size, frac)
            assert c / size <= frac < (c + 1) / size


def test_whitespace_regex_is_str_isspace():
    ws = re.compile(r"\s")
    for cp in [*list(range(0, 12544)), 65279, 8287, 12288]:
        c = chr(cp)
        assert (ws.match(c) is not None) == c.isspace(), hex(cp)


def test_rejects_unknown_checks_and_options():
    with pytest.raises(ValueError):
        QualityDetector(checks=["gopher_quality", "nope"])
    with pytest.raises(ValueError):
        QualityDetector(min_doc_words=10)


def test_overlong_chunks_are_tokenized_in_pieces():
    """spaCy's affix splitting is quadratic in a chunk's length, so chunks over MAX_CHUNK characters
    are cut into pieces first; shorter chunks are untouched."""
    from filters.detectors.quality_tokenizer import MAX_CHUNK

    tok = QualityDetector().tokenizer
    long_chunk = "a1:" * (2 * MAX_CHUNK // 3 + 5)  # over 2 * MAX_CHUNK characters, no whitespace
    pieces = [long_chunk[i : i + MAX_CHUNK] for i in range(0, len(long_chunk), MAX_CHUNK)]
    expected = [w for p in pieces for w in split_into_words(p, "en")]
    assert tok.words_batch([f"Start {long_chunk} end."]) == [["Start", *expected, "end", "."]]
    normal = "A plain sentence, with (brackets) and U.S. abbreviations."
    assert tok.words_batch([normal]) == [split_into_words(normal, "en")]
