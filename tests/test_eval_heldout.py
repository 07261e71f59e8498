"""The held-out evaluations' own logic: the PII fixture and its scoring, the eval-only obfuscation
transforms, and the uncurated term lists used as the "before" of the held-out terms figure."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import re
from collections import Counter
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_DIR = ROOT / "tests" / "fixtures" / "pii_heldout"


def _load(name: str) -> ModuleType:
    """A benchmark script as a module (benchmarks/ is not an installed package)."""
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    env = dict(os.environ)
    try:
        spec.loader.exec_module(mod)
    finally:  # the scripts set thread defaults (OMP_NUM_THREADS) for their own runs only
        os.environ.clear()
        os.environ.update(env)
    return mod


ep = _load("eval_pii_heldout")
er = _load("eval_rules")
# Recorded in tests/fixtures/pii_heldout/README.md; rebuilding with the pinned versions must give it.
FIXTURE_SHA256 = "f7c26947401cc05e1a52b498a2bbebdbe32f9fe498f0cbf208e560c43702d539"


def test_fixture_is_the_recorded_build() -> None:
    data = (FIXTURE_DIR / "pii_heldout.jsonl").read_bytes()
    assert hashlib.sha256(data).hexdigest() == FIXTURE_SHA256
    header = json.loads(data.splitlines()[0])
    assert header["faker"] == "40.54.0" and header["python-stdnum"] == "2.2"


def _template_regex(template: str) -> re.Pattern[str]:
    head, _, tail = template.partition("{v}")
    return re.compile(re.escape(head) + r".+" + re.escape(tail), re.S)


def test_fixture_splits_use_disjoint_template_halves_and_exact_spans() -> None:
    rows = ep.load_set()
    counts = Counter((r["split"], r["spans"][0][2] if r["spans"] else None) for r in rows)
    for split in ("tune", "test"):
        for t in ep.TYPES:
            assert counts[split, t] == 70
        assert counts[split, None] == 120
    # Only the template table is needed: read it from build.py's source without importing faker.
    tree = ast.parse((FIXTURE_DIR / "build.py").read_text(encoding="utf-8"))
    node = next(
        n for n in tree.body if isinstance(n, ast.AnnAssign) and getattr(n.target, "id", "") == "TEMPLATES"
    )
    table: dict[str, list[str]] = ast.literal_eval(node.value)
    for r in rows:
        if not r["spans"]:
            continue
        (s, e, t), templates = r["spans"][0], table[r["spans"][0][2]]
        half = len(templates) // 2
        own = templates[:half] if r["split"] == "tune" else templates[half:]
        other = templates[half:] if r["split"] == "tune" else templates[:half]
        assert any(_template_regex(x).fullmatch(r["text"]) for x in own), r["text"]
        assert not any(_template_regex(x).fullmatch(r["text"]) for x in other), r["text"]
        assert 0 <= s < e <= len(r["text"]) and not r["text"][s:e].isspace()


def test_score_counts_hits_misses_and_false_spans() -> None:
    rows = [
        {"split": "test", "text": "mail a@b.org now", "spans": [[5, 12, "EMAIL"]], "format": "email"},
        {"split": "test", "text": "SSN 123456789", "spans": [[4, 13, "US_SSN"]], "format": "digits"},
        {"split": "test", "text": "Firmware 1.2.3.4", "spans": [], "format": "negative: Firmware"},
        {"split": "tune", "text": "ignored", "spans": [[0, 7, "IBAN"]], "format": "compact"},
    ]
    preds = [[(5, 12, "EMAIL")], [(0, 3, "PHONE")], [(9, 16, "IP_ADDRESS")], []]
    sc = ep.score(rows, preds, "test")
    assert sc["types"]["EMAIL"]["exact_recall"] == 1.0 and sc["types"]["EMAIL"]["exact_precision"] == 1.0
    assert sc["types"]["US_SSN"]["gold"] == 1 and sc["types"]["US_SSN"]["exact_recall"] == 0.0
    assert sc["types"]["IP_ADDRESS"]["predicted"] == 1 and sc["types"]["IP_ADDRESS"]["exact_precision"] == 0.0
    assert sc["types"]["IBAN"]["gold"] == 0  # the tune row is not in the test score
    assert sc["other_types_predicted"] == {"PHONE": 1}
    assert sc["recall_by_format"]["US_SSN: digits"] == {"n": 1, "recall": 0.0}
    assert [f["span"] for f in sc["false_spans"]] == ["1.2.3.4"]
    assert sc["negative_sentences"] == 1


def test_eval_only_transforms_change_words_deterministically() -> None:
    words = ["faggot", "nigger", "retard", "bitch"]
    for name, fn in er.EVAL_ONLY_TRANSFORMS.items():
        out = [fn(w) for w in words]
        assert out == [fn(w) for w in words], name
        assert all(o != w for o, w in zip(out, words, strict=True)), name
    assert er._masked_vowel("fuck") == "f*ck"
    assert set(er._separators("kill")[1::2]) <= set(er._EVAL_SEPARATORS)
    text = "you are a faggot and a retard"
    spans = [(10, 16), (23, 29)]
    assert er._rewrite(text, spans, er._masked_vowel) == "you are a f*ggot and a r*tard"


def test_uncurated_lists_keep_what_the_curation_removed() -> None:
    from filters.terms import default_matcher

    plain, shipped = er._uncurated_matcher(), default_matcher()
    text = "This vacuum really sucks up the dust. The cock crowed at dawn."
    assert {s.label for s in plain.match(text)[1]} >= {"ldnoobw:en"}
    assert not [s for s in shipped.match(text)[1] if s.category in er.HARM]
    assert len(plain.match(text)[1]) >= 2
