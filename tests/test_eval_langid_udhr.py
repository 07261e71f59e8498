"""The UDHR language-ID evaluation: its data is intact and each translation gets the code the detector writes."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter

from benchmarks.eval_langid_udhr import DATA, TSV, detector_label

KNOWN = frozenset({"sq", "als", "no", "ms", "fr", "sr", "gn", "pnb"})


def test_the_paragraphs_match_their_manifest_and_split():
    digest = (DATA / "MANIFEST.sha256").read_text(encoding="utf-8").split()[0]
    assert hashlib.sha256(TSV.read_bytes()).hexdigest() == digest
    with TSV.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    halves = Counter((r["code"], r["half"]) for r in rows)
    codes = {code for code, _ in halves}
    assert len(codes) == 527  # every complete translation in udhr 6.0.0
    assert all(halves[(c, "test")] and halves[(c, "tune")] for c in codes)
    assert all(200 <= len(r["text"]) <= 300 for r in rows)


def test_a_translation_counts_for_the_code_the_detector_writes():
    assert detector_label("als", "als", KNOWN) == "sq"  # Tosk Albanian; lid.176's "als" is Alemannic
    assert detector_label("gsw", "gsw", KNOWN) == "als"
    assert detector_label("nb", "nob", KNOWN) == "no"
    assert detector_label("zlm-Latn", "zlm", KNOWN) == "ms"
    assert detector_label("sr-Latn", "srp", KNOWN) == "sr"
    assert detector_label("lah", "pnb", KNOWN) == "pnb"  # primary tag unknown: the ISO 639-3 code
    assert detector_label("gn", "gug", KNOWN) == "gn"
    assert detector_label("cri", "cri", KNOWN) is None
