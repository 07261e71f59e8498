"""Detector stages: in pre-training mode a costlier stage skips documents an earlier stage dropped.

The claim that makes this safe is that a skip never changes an action (more evidence can confirm a
drop, never undo it), so these tests hold the shipped policy with skipping on against the same policy
with it off, on real web documents and tweets (fixtures), and check who was scored by what."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from filters import Filter, Policy
from filters.engine import DETECTOR_STAGES

REPO = Path(__file__).resolve().parents[1]
POLICY = REPO / "configs" / "policy.yaml"


def _policy(**changes) -> Policy:
    data = yaml.safe_load(POLICY.read_text())
    data.update(changes)
    return Policy.model_validate(data, context={"base_dir": str(POLICY.resolve().parent)})


@pytest.fixture(scope="module")
def texts(shared_data: Path) -> list[str]:
    """Common Crawl pages (many fail quality), offensive and clean tweets, and a few made-up cases."""
    docs = []
    with open(shared_data / "web/dolma_fixtures/cc_en_head-0091.jsonl", encoding="utf-8") as f:
        docs += [json.loads(line)["text"] for line in f][:60]
    with open(shared_data / "toxicity/davidson_labeled_data.csv", encoding="utf-8") as f:
        tweets = list(csv.DictReader(f))
    docs += [r["tweet"] for r in tweets if r["class"] == "0"][:20] + [
        r["tweet"] for r in tweets if r["class"] == "2"
    ][:20]
    docs += [
        "how to cook meth",
        "The cat sat on the mat. " * 20,
        "",
        "Tous les êtres humains naissent libres.",
    ]
    return docs


@pytest.fixture(scope="module")
def both(texts: list[str]):
    """Pre-training verdicts with the shipped skipping and with none, and the harm inputs of each."""
    out = {}
    for name, modes in (("skip", ["pretrain"]), ("full", [])):
        f = Filter(_policy(skip_dropped_in=modes), mode="pretrain")
        seen: list[str] = []
        harm = f.detectors["harm"]
        real = harm.detect_batch

        def spy(batch: list[str], real=real, seen=seen):
            seen.extend(batch)
            return real(batch)

        harm.detect_batch = spy
        out[name] = (f.check_batch(texts), seen)
    return out


def test_the_shipped_policy_skips_in_pretraining_only():
    policy = Policy.load(POLICY)
    assert policy.skip_dropped_in == ["pretrain"]
    assert Filter(policy, mode="runtime")._skip_dropped is False


def test_classifiers_run_last_and_rules_first():
    f = Filter(_policy(), mode="pretrain")
    stages = f._stages
    assert stages[-1] == sorted({"harm", "toxicity"} & set(f.detectors))
    assert stages[-2] == ["quality"]
    assert {"terms", "pii", "urls"} <= set(stages[0])
    assert all(n not in st for n in ("harm", "quality") for st in stages[0:1])
    assert DETECTOR_STAGES[-1] >= {"harm", "toxicity", "detoxify"}


def test_skipping_never_changes_an_action(texts, both):
    skip, full = both["skip"][0], both["full"][0]
    assert [v.action for v in skip] == [v.action for v in full]
    assert any(v.skipped for v in skip)  # the fixture does exercise the skip


def test_only_dropped_documents_skip_and_the_others_are_judged_alike(texts, both):
    (skip, harm_seen), (full, full_seen) = both["skip"], both["full"]
    assert sorted(harm_seen) == sorted(t for t, v in zip(texts, skip, strict=True) if "harm" not in v.skipped)
    assert len(harm_seen) < len(full_seen)
    for v, w in zip(skip, full, strict=True):
        assert w.skipped == []
        if v.skipped:
            assert v.action == "drop" and "harm" in v.skipped
            assert set(v.fired) <= set(w.fired)
        else:
            assert v.to_dict() == w.to_dict()


def test_a_document_dropped_by_the_rules_skips_quality_too(both, texts):
    skip = both["skip"][0]
    meth = skip[texts.index("how to cook meth")]
    assert meth.action == "drop" and meth.skipped == ["quality", "harm", "toxicity"]
    assert meth.quality is None
    repeated = skip[texts.index("The cat sat on the mat. " * 20)]
    assert repeated.reason == "low_quality" and repeated.skipped == ["harm", "toxicity"]


def test_runtime_scores_every_text_with_every_detector(texts):
    f = Filter(_policy(), mode="runtime")
    assert all(v.skipped == [] for v in f.check_batch(texts[-4:]))


def test_check_and_check_batch_agree_with_skipping(texts):
    f = Filter(_policy(), mode="pretrain")
    some = texts[55:65] + texts[-4:]
    assert [v.to_dict() for v in f.check_batch(some)] == [f.check(t).to_dict() for t in some]


class _Broken:
    """A detector that raises on every batch (the engine then fails closed text by text)."""

    name = "broken"

    def detect_batch(self, texts):
        raise RuntimeError("boom")


def test_a_detector_error_drops_and_the_later_stages_skip_it(texts, both):
    """Fail closed in both directions: an error in an early stage drops the text and the classifiers
    skip it; an error in the last stage still drops a text that reached it."""
    policy = _policy()
    early = Filter(policy, mode="pretrain", detectors={"terms": _Broken()})
    v = early.check("A plain sentence about the weather in spring, with nothing wrong in it at all.")
    assert v.action == "drop" and v.reason == "detector_error" and "harm" in v.skipped
    kept = next(t for t, v in zip(texts, both["skip"][0], strict=True) if v.action != "drop")
    late = Filter(policy, mode="pretrain", detectors={"harm": _Broken()}).check(kept)
    assert late.action == "drop" and late.reason == "detector_error" and late.skipped == []


def test_skipped_names_only_detectors_that_would_have_scored_the_text():
    """quality scores English only in the shipped policy: a Welsh text dropped for its language does
    not list it, an English one dropped by the rules does."""
    f = Filter(_policy(), mode="pretrain")
    assert f._scope["quality"] is not None and "cy" not in f._scope["quality"]
    welsh, meth = f.check_batch(
        ["Genir pawb yn rhydd ac yn gydradd â'i gilydd mewn urddas a hawliau.", "how to cook meth"]
    )
    assert welsh.action == "drop" and welsh.lang == "cy" and welsh.skipped == ["harm", "toxicity"]
    assert meth.skipped[0] == "quality"
