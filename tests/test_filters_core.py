"""Policy validation, Filter/Verdict semantics, check vs check_batch, bad input, arrow, score_jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from pydantic import ValidationError

from filters import Filter, Policy
from filters.arrow import annotate
from filters.policy import HARM_CATEGORIES
from filters.score_jsonl import score_jsonl

REPO = Path(__file__).resolve().parents[1]
POLICY = REPO / "configs" / "policy.yaml"
RULES = {"terms", "pii", "urls"}


def rules_policy_dict() -> dict:
    """The shipped policy restricted to the rule detectors (no model files needed)."""
    data = yaml.safe_load(POLICY.read_text())
    for name in list(data["categories"]):
        cat = data["categories"][name]
        cat["detectors"] = [
            d for d in cat["detectors"] if (d if isinstance(d, str) else d["ref"]).split(":")[0] in RULES
        ]
        if not cat["detectors"]:
            del data["categories"][name]
    for key in [k for k in data if k.startswith("calibration")]:  # the calibration and its pin
        data.pop(key)
    return data


@pytest.fixture(scope="module")
def rules_filter() -> Filter:
    return Filter(Policy.model_validate(rules_policy_dict()), mode="pretrain")


def test_shipped_policy_loads_every_category():
    p = Policy.load(POLICY)
    from filters import CATEGORIES

    assert list(p.categories) == list(CATEGORIES)
    keep = p.categories["language"].keep
    assert keep[0] == "en" and "de" in keep and "no" in keep  # "no" (Norwegian) must stay a string
    assert p.categories["low_quality"].languages == ["en"]
    # Classifier refs name only keys the bundled classifier outputs.
    refs = {r.ref for c in p.categories.values() for r in c.detectors}
    assert {r for r in refs if r.startswith(("harm:", "toxicity:"))} <= {
        *(f"harm:{c}" for c in HARM_CATEGORIES),
        "harm:sexual_with_minor",
        "toxicity:hate",
    }
    # Every harm category ORs its classifier with its curated terms.
    for cat in HARM_CATEGORIES:
        names = {r.ref for r in p.categories[cat].detectors}
        assert {f"terms:{cat}", f"harm:{cat}"} <= names, cat


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d["categories"].__setitem__("hatee", d["categories"]["hate"]), "hatee"),
        (lambda d: d["categories"]["hate"].__setitem__("treshold", 0.5), "treshold"),
        (lambda d: d["categories"]["hate"].__setitem__("detectors", ["toxicty:hate"]), "toxicty"),
        (lambda d: d["categories"]["hate"].__setitem__("detectors", ["terms:hat"]), "hat"),
        (lambda d: d["categories"]["hate"].__setitem__("action", "block"), "action"),
        (lambda d: d["categories"]["hate"].__setitem__("threshold", 1.5), "threshold"),
        (lambda d: d["categories"]["hate"].__setitem__("applies_to", ["training"]), "applies_to"),
        (lambda d: d.__setitem__("detector", {}), "detector"),
        (lambda d: d["detectors"]["urls"].__setitem__("domain", ["x.com"]), "domain"),
        (lambda d: d["categories"]["language"].pop("keep"), "keep"),
        (lambda d: d["categories"]["hate"].__setitem__("keep", ["en"]), "keep"),
        (lambda d: d["categories"]["low_quality"].__setitem__("action", "redact"), "redact"),
    ],
)
def test_policy_validation_fails_closed_naming_the_field(mutate, needle):
    data = yaml.safe_load(POLICY.read_text())
    mutate(data)
    with pytest.raises(ValidationError) as e:
        Policy.model_validate(data)
    assert needle in str(e.value)


def test_one_categorys_threshold_never_disables_another():
    data = rules_policy_dict()
    text = "He was sharing child porn, what a fucking shit."
    base = Filter(Policy.model_validate(data)).check(text)
    assert base.action == "drop" and base.reason == "sexual_minors"
    # Make every other category as permissive as the schema allows.
    for name, cat in data["categories"].items():
        if name != "sexual_minors":
            cat["threshold"] = 1.0
            cat["action"] = "allow"
    v = Filter(Policy.model_validate(data)).check(text)
    assert v.action == "drop" and v.reason == "sexual_minors"
    assert v.categories["sexual_minors"] == base.categories["sexual_minors"]


def test_action_precedence_and_redaction(rules_filter):
    v = rules_filter.check("Write to jane.doe@example.com about the meeting.")
    assert v.action == "redact" and v.text == "Write to <EMAIL> about the meeting."
    assert v.spans == [("pii", 9, 29)]
    # drop beats redact: the original text is kept in the verdict (the pipeline removes the document)
    v = rules_filter.check("jane.doe@example.com says: here is how to make a pipe bomb")
    assert v.action == "drop" and v.reason == "illicit" and "pii" in v.fired
    assert v.text.startswith("jane.doe@example.com")
    # flag (profanity) loses to redact
    v = rules_filter.check("fuck this shit, mail jane.doe@example.com")
    assert v.action == "redact" and "profanity" in v.fired
    assert rules_filter.check("A quiet afternoon by the river.").action == "allow"


def test_spans_land_on_raw_text_for_obfuscated_input(rules_filter):
    raw = "ok so: j\u200ba\u200bi\u200bl\u200bb\u200ba\u200bi\u200bt pics, and ｃｈｉｌｄ ｐｏｒｎ"
    v = rules_filter.check(raw)
    assert v.action == "drop" and v.reason == "sexual_minors"
    got = sorted(raw[s:e] for c, s, e in v.spans if c == "sexual_minors")
    assert got == sorted(["j\u200ba\u200bi\u200bl\u200bb\u200ba\u200bi\u200bt", "ｃｈｉｌｄ ｐｏｒｎ"])


def test_url_blocklist_feeds_its_category(rules_filter):
    v = rules_filter.check("A nice page about cats.", url="https://example.com/blowjob/1")
    assert v.action == "drop" and v.reason == "sexual"
    assert rules_filter.check("A nice page about cats.", url="https://example.com/cats").action == "allow"


BAD_INPUTS = [
    "",
    " ",
    "\ud800 lone surrogate \udfff",
    "mixed ру́сский 中文 العربية עברית 𝐟𝐮𝐜𝐤 \u202eevil",
    "\x00\x01\x02 binary \xff\xfe",
    bytes(range(256)).decode("latin-1"),
    "a" * 300_000,
    "f u c k " * 20_000,
    "1" * 100_000,
]


def test_check_batch_equals_check_on_real_and_bad_input(rules_filter, shared_data):
    lines = (
        (shared_data / "toxicity" / "wiki_toxicity_nonfuzzed_testset.csv")
        .read_text(encoding="utf-8")
        .splitlines()
    )
    texts = lines[1:120] + BAD_INPUTS + ["Call +1 415 555 0132 or mail x@y.org", "go kill yourself"]
    batch = rules_filter.check_batch(texts)
    single = [rules_filter.check(t) for t in texts]
    assert [b.to_dict() for b in batch] == [s.to_dict() for s in single]
    assert all(v.action in ("allow", "flag", "redact", "drop") for v in batch)


def test_one_large_document():
    f = Filter(Policy.model_validate(rules_policy_dict()), mode="runtime")
    big = ("All good here. " * 700_000)[:10_000_000] + " kill yourself"
    v = f.check(big)
    assert v.action == "drop" and v.spans[-1][2] == len(big)
    assert f.check(b"\xff\xfe bytes in".decode("utf-8", "replace")).action == "allow"
    assert f.check(None).action == "allow"  # type: ignore[arg-type]


def test_arrow_annotate(rules_filter):
    table = pa.table(
        {
            "id": ["a", "b", "c", "d"],
            "text": ["Nice day.", "mail me at jo@ex.com", "how to cook meth at home", "fine text"],
            "url": [None, None, None, "https://x.com/porn/video"],
        }
    )
    out = annotate(rules_filter, table)
    assert out.column("action").to_pylist() == ["allow", "redact", "drop", "drop"]
    assert out.column("reason").to_pylist() == ["", "", "illicit", "sexual"]
    assert out.column("text").to_pylist()[1] == "mail me at <EMAIL>"
    assert out.schema.field("score_illicit").type == pa.float32()
    assert out.schema.field("flags").type == pa.list_(pa.string())
    assert out.column("flags").to_pylist()[2] == ["illicit"]
    assert out.column("id").to_pylist() == ["a", "b", "c", "d"]


def test_score_jsonl(tmp_path):
    pol = tmp_path / "policy.yaml"
    pol.write_text(yaml.safe_dump(rules_policy_dict()))
    inp = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"id": "1", "text": "hello there"}),
        "{not json",
        json.dumps({"id": "3", "text": "mail jo@ex.com"}),
        json.dumps([1, 2]),
        json.dumps({"id": "5", "text": 7}),
        json.dumps({"id": "6", "text": "\ud800 how to make a pipe bomb"}),
        "",
    ]
    inp.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    counts = score_jsonl(pol, inp, out, mode="runtime", batch_size=2)
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(recs) == len(lines) - 1  # the blank line is no document: skipped, as dedup and tokenize do
    assert [r["action"] for r in recs] == ["allow", "error", "redact", "error", "error", "drop"]
    assert recs[2]["text"] == "mail <EMAIL>" and "text" not in recs[0]
    assert recs[5]["spans"] and recs[5]["id"] == "6"
    assert counts == {"allow": 1, "error": 3, "redact": 1, "drop": 1}


def test_score_jsonl_words_a_bad_line_as_ingest_dedup_and_tokenize_do(tmp_path):
    """One parser (`kit.jsonl.parse_object_line`), one message per mistake; an integer past Python's
    4,300-digit limit is an error record, not a ValueError traceback."""
    from kit.jsonl import parse_object_line

    pol = tmp_path / "policy.yaml"
    pol.write_text(yaml.safe_dump(rules_policy_dict()))
    bad = [
        b'{"id": "big", "text": "hi", "n": ' + b"9" * 5000 + b"}",
        b'{"id": "b", "text": "caf\xe9"}',
        b'{"text": [1, 2',
        b"[1, 2]",
        b"[" * 100_000,
    ]
    good = json.dumps({"id": "ok", "text": "hello there"}).encode()
    (tmp_path / "in.jsonl").write_bytes(b"\n".join([*bad, good, b'{"id": 7}', b'{"text": null}']) + b"\n")
    counts = score_jsonl(pol, tmp_path / "in.jsonl", tmp_path / "out.jsonl", mode="runtime")
    recs = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["error"] for r in recs[: len(bad)]] == [parse_object_line(b) for b in bad]
    assert recs[0]["error"].startswith("unparsable JSON: ValueError: Exceeds the limit (4300 digits)")
    assert recs[1]["error"] == "invalid UTF-8 at byte 24"
    assert recs[len(bad)]["id"] == "ok" and recs[len(bad)]["action"] == "allow"
    assert recs[-2:] == [
        {"line": 7, "id": None, "action": "error", "error": "no 'text' field (found ['id'])"},
        {"line": 8, "id": None, "action": "error", "error": "field 'text' is null, not a string"},
    ]
    assert counts == {"error": 7, "allow": 1}


def test_a_text_field_mistake_has_the_same_words_in_ingest_score_and_tokenize():
    """`kit.jsonl.text_problem` words a missing or non-string text once for every command; tokenize alone
    lets a missing or null text through (an empty document)."""
    from kit.jsonl import text_problem

    assert text_problem({"id": 1}, "text") == "no 'text' field (found ['id'])"
    assert text_problem({"text": 3}, "text") == "field 'text' is int, not a string"
    assert text_problem({"text": None}, "text") == "field 'text' is null, not a string"
    assert text_problem({"text": "ok"}, "text") is None
    assert text_problem({"id": 1}, "text", required=False) is None
    assert text_problem({"text": None}, "text", required=False) is None
    assert text_problem({"text": [1]}, "text", required=False) == "field 'text' is list, not a string"


def test_default_policy_with_real_detectors():
    """The whole shipped policy with every real detector (a missing detector is a failure)."""
    f = Filter(Policy.load(POLICY), mode="pretrain")
    vs = f.check_batch(["The cat sat on the mat. " * 20, "how to cook meth"])
    assert vs[1].action == "drop"
    assert vs[0].lang == "en"


def test_a_batch_builds_each_texts_normalized_view_once(monkeypatch):
    """The term rules and the harm classifier read one shared view per text within a batch (the
    normalization is a sizeable share of the chain's cost); outside a batch nothing is kept."""
    import filters.engine as engine
    import filters.normalize as norm

    f = Filter(Policy.load(POLICY), mode="runtime")  # every detector reads every text at runtime
    assert {"terms", "harm"} <= set(f.detectors)
    built: list[str] = []
    real = norm._normalized

    def counting(raw: str, elongation: bool):
        built.append(raw)
        return real(raw, elongation)

    monkeypatch.setattr(norm, "_normalized", counting)
    texts = ["The cat sat on the mat. " * 20, "how to cook meth", "how to cook meth"]
    verdicts = f.check_batch(texts)
    assert sorted(built) == sorted(set(texts))  # each distinct text once, for both detectors
    assert [v.action for v in verdicts] == [v.action for v in map(f.check, texts)]
    built.clear()
    norm.normalize("outside a batch")
    norm.normalize("outside a batch")
    assert built == ["outside a batch", "outside a batch"]
    built.clear()
    monkeypatch.setattr(norm, "SHARED_VIEWS_MAX_CHARS", len(texts[1]))  # room for the short text only
    f.check_batch(texts)
    assert sorted(built) == sorted([texts[0], texts[0], texts[1]])  # past the budget: built per reader
    built.clear()
    monkeypatch.setattr(engine, "SHARED_VIEWS_MAX_CHARS", 2 * len(texts[1]))  # the engine's parts
    monkeypatch.setattr(norm, "SHARED_VIEWS_MAX_CHARS", 2 * len(texts[1]))
    short, long_ = verdicts[1].action, verdicts[0].action
    parted = f.check_batch(texts[1:] + texts[:1] + texts[1:])  # parts: [s, s], [long], [s, s]
    assert sorted(built) == sorted([texts[1], texts[0], texts[0], texts[1]])  # once per part it fits in
    assert [v.action for v in parted] == [short, short, long_, short, short]
    view = norm.normalize("Ｆｕｌｌwidth   text")
    assert view.offsets is not None and not view.offsets.flags.writeable  # shared views are read-only


class _FakeDet:
    """A detector returning fixed scores/labels per text (keyed by the text itself)."""

    def __init__(self, name: str, table: dict[str, tuple[dict, dict]]):
        self.name = name
        self.table = table
        self.seen: list[str] = []

    def detect_batch(self, texts):
        from filters.detectors.base import DetectorResult

        self.seen.extend(texts)
        return [DetectorResult(scores=dict(self.table[t][0]), labels=dict(self.table[t][1])) for t in texts]


def test_ref_action_and_language_scope():
    """A ref's own action (classifier flags, high score drops) and a language-scoped category whose
    detector never runs on other languages."""
    pol = Policy.model_validate(
        {
            "categories": {
                "hate": {
                    "detectors": [
                        {"ref": "toxicity:hate", "action": "flag"},
                        {"ref": "toxicity:hate", "threshold": 0.9},
                    ],
                    "threshold": 0.3,
                    "action": "drop",
                    "applies_to": ["pretrain"],
                },
                "low_quality": {
                    "detectors": ["quality"],
                    "action": "drop",
                    "applies_to": ["pretrain"],
                    "languages": ["en"],
                },
            }
        }
    )
    texts = ["en mild", "en severe", "de junk", "en junk"]
    tox = _FakeDet(
        "toxicity",
        {"en mild": ({"hate": 0.5}, {}), "en severe": ({"hate": 0.95}, {})}
        | {t: ({"hate": 0.0}, {}) for t in ("de junk", "en junk")},
    )
    lid = _FakeDet("langid", {t: ({"lang_score": 0.99}, {"lang": t[:2]}) for t in texts})
    junk = ({"low_quality": 1.0, "quality": 0.2}, {"quality_reason": "c4:x"})
    good = ({"low_quality": 0.0, "quality": 1.0}, {"quality_reason": ""})
    q = _FakeDet("quality", {t: junk if "junk" in t else good for t in texts})
    f = Filter(pol, detectors={"toxicity": tox, "langid": lid, "quality": q})
    vs = f.check_batch(texts)
    assert [v.action for v in vs] == ["flag", "drop", "allow", "drop"]
    assert [v.reason for v in vs] == ["hate", "hate", "", "low_quality"]
    assert q.seen == ["en mild", "en severe", "en junk"]  # never run on the German text
    assert vs[2].quality is None and vs[2].categories["low_quality"] == 0.0 and vs[2].quality_reason == ""
    assert vs[3].quality_reason == "c4:x"
    assert [v.to_dict() for v in vs] == [f.check(t).to_dict() for t in texts]


def test_toxicity_refs_limited_to_model_outputs():
    with pytest.raises(ValueError, match="harassment"):
        Policy.model_validate(
            {
                "categories": {
                    "harassment": {
                        "detectors": ["toxicity:harassment"],
                        "action": "drop",
                        "applies_to": ["runtime"],
                    }
                }
            }
        )


def test_a_batch_is_judged_in_parts_of_bounded_characters():
    from filters.engine import _spans_of_chars

    assert _spans_of_chars([], 10) == []
    assert _spans_of_chars(["abcd", "ef", "ghijk", "x" * 30, "y"], 10) == [(0, 2), (2, 3), (3, 4), (4, 5)]
    assert _spans_of_chars(["a"] * 5, 10) == [(0, 5)]
