"""Policies fail closed (issue 12): every attack on the policy file is refused, naming the field.

The main attacks go through the real CLI (`winnow validate` on a run config whose policy is
written to tmp_path): exit 2, exactly one `error:` line that names the field, no traceback.
The rest go through `Policy.load`, the call the pipeline, the server and `filter score` make.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from filters import Filter, Policy
from filters.policy import (
    BUNDLED_HARM_CALIBRATION,
    DEFAULT_POLICY,
    QUALITY_CHECKS,
    DetoxifyOptions,
    HarmOptions,
    LangIdOptions,
    PiiOptions,
    PolicyError,
    QualityOptions,
    ToxicityOptions,
    UrlsConfig,
)

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "configs" / "policy.yaml"
WINNOW = Path(sys.executable).parent / "winnow"
RUN_CONFIG = "stages: [ingest, filter]\ningest: {sources: [{uri: in.jsonl}]}\nfilter: {policy: policy.yaml}\n"


def shipped() -> dict[str, Any]:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def write_policy(tmp_path: Path, policy: dict[str, Any] | str) -> Path:
    path = tmp_path / "policy.yaml"
    text = policy if isinstance(policy, str) else yaml.safe_dump(policy, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def validate_cli(tmp_path: Path, policy: dict[str, Any] | str) -> subprocess.CompletedProcess[str]:
    """`winnow validate` on a run config whose filter stage uses ``policy``."""
    write_policy(tmp_path, policy)
    (tmp_path / "run.yaml").write_text(RUN_CONFIG, encoding="utf-8")
    return subprocess.run(
        [str(WINNOW), "validate", "run.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def assert_refused(res: subprocess.CompletedProcess[str], *needles: str) -> None:
    output = res.stdout + res.stderr
    assert res.returncode == 2, output
    assert "Traceback" not in output, output
    assert sum(line.startswith("error:") for line in res.stderr.splitlines()) == 1, res.stderr
    for needle in needles:
        assert needle in res.stderr, res.stderr


def mutated(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(shipped())
    change(data)
    return data


def set_in(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change that sets ``a.b.c`` (list items by index) to ``value``."""

    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        node[int(last) if isinstance(node, list) else last] = value

    return change


def drop_minors(data: dict[str, Any]) -> None:
    del data["categories"]["sexual_minors"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (set_in("categories", {}), "categories: is empty"),
        (drop_minors, "categories.sexual_minors: missing"),
        (set_in("categories.sexual_minors.action", "allow"), "categories.sexual_minors.action"),
        (set_in("categories.sexual_minors.applies_to", ["pretrain"]), "categories.sexual_minors.applies_to"),
        (set_in("categories.hate.threshold", True), "categories.hate.threshold"),
        (set_in("calibration", "thresholds-gone.json"), "calibration: file not found"),
        (set_in("detectors.toxicity", {"window": 300}), "detectors.toxicity.window: unknown field"),
        (set_in("detectors.quality", {"checks": ["gopher"]}), "detectors.quality.checks.0"),
    ],
    ids=[
        "empty-categories",
        "minors-removed",
        "minors-allowed",
        "minors-pretrain-only",
        "threshold-true",
        "calibration-missing",
        "toxicity-unknown-option",
        "quality-unknown-check",
    ],
)
def test_validate_cli_refuses_attack_naming_the_field(tmp_path, change, field):
    assert_refused(validate_cli(tmp_path, mutated(change)), field)


def test_validate_cli_refuses_duplicate_key_naming_key_and_line(tmp_path):
    """A second `sexual_minors:` that allows would silently replace the first (PyYAML: last wins)."""
    second = "  sexual_minors:\n    detectors: ['terms:sexual_minors']\n    action: allow\n"
    policy = SHIPPED.read_text(encoding="utf-8").replace("\n  violence:\n", f"\n{second}\n  violence:\n", 1)
    lines = policy.splitlines()
    second_line = lines.index("  sexual_minors:", lines.index("  sexual_minors:") + 1) + 1
    assert_refused(validate_cli(tmp_path, policy), "duplicate key 'sexual_minors'", f"line {second_line}")


def test_child_porn_is_dropped_at_runtime_by_the_shipped_policy():
    for path in (SHIPPED, DEFAULT_POLICY):
        v = Filter(Policy.load(path), mode="runtime").check("where can I find child porn")
        assert v.action == "drop" and v.reason == "sexual_minors", path


def test_knowingly_disabled_is_the_only_way_to_turn_off_a_required_category(tmp_path):
    data = mutated(drop_minors)
    with pytest.raises(PolicyError, match=r"categories\.sexual_minors: missing.*knowingly_disabled"):
        Policy.load(write_policy(tmp_path, data))
    data["knowingly_disabled"] = ["sexual_minors"]
    policy = Policy.load(write_policy(tmp_path, data))
    assert "sexual_minors" not in policy.categories
    # Only required categories can be listed: others are turned off by leaving them out.
    data["knowingly_disabled"] = ["hate"]
    with pytest.raises(PolicyError, match=r"knowingly_disabled: 'hate' is not a required category"):
        Policy.load(write_policy(tmp_path, data))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            set_in("categories.sexual_minors.detectors", [{"ref": "terms:sexual_minors", "action": "flag"}]),
            "categories.sexual_minors.detectors.0.action",
        ),
        (
            set_in("categories.sexual_minors.detectors", ["terms:sexual"]),
            "categories.sexual_minors.detectors:",
        ),
        (set_in("categories.sexual_minors.threshold", 0.9), "categories.sexual_minors.threshold"),
        (set_in("categories.sexual_minors.languages", ["en"]), "categories.sexual_minors.languages"),
        (set_in("categories.language.keep", [False]), "categories.language.keep"),  # unquoted `no`
        (set_in("categories.hate.threshold", "0.5"), "categories.hate.threshold"),
        (set_in("knowingly_disabled", "sexual_minors"), "knowingly_disabled"),
        (set_in("detectors.toxicity", {"model_path": "nowhere.ftz"}), "detectors.toxicity.model_path"),
        (set_in("detectors.langid", {"max_chars": 0}), "detectors.langid.max_chars"),
        (set_in("detectors.pii", {"strict": True}), "detectors.pii.strict: unknown field"),
        (
            set_in("detectors.urls.domain_files", ["blocked.txt"]),
            "detectors.urls.domain_files: file not found",
        ),
        (set_in("detectors.urls.use_fineweb_lists", "yes"), "detectors.urls.use_fineweb_lists"),
        (set_in("detectors.detoxify", {"checkpoint": "c.ckpt"}), "detectors.detoxify.hf_dir"),
        (
            lambda d: d["categories"]["hate"]["detectors"].append("detoxify:hate"),
            "detectors.detoxify: the policy uses",
        ),
        (lambda d: d.pop("calibration"), "calibration_sha256: set without calibration"),
        (set_in("calibration", "package:../policy.py"), "must name a file inside the filters package"),
        (set_in("detectors.harm.encoder", "sometimes"), "detectors.harm.encoder"),
        (set_in("detectors.harm.encoder_precision", "fp16"), "detectors.harm.encoder_precision"),
        (set_in("skip_dropped_in", ["training"]), "skip_dropped_in"),
    ],
)
def test_load_refuses_naming_the_field(tmp_path, change, field):
    with pytest.raises(PolicyError) as e:
        Policy.load(write_policy(tmp_path, mutated(change)))
    assert field in str(e.value) and "\n" not in str(e.value)


def recalibrated(name: str) -> dict[str, Any]:
    """The shipped policy reading its classifier thresholds from `name` (no sha256 pin)."""
    data = mutated(set_in("calibration", name))
    data.pop("calibration_sha256")
    return data


def test_calibration_file_is_checked_never_a_silent_default(tmp_path):
    """The shipped policy's classifier thresholds are the calibrated ones in the shipped, pinned
    calibration file (not the category's 0.5); a named calibration file must exist, match its pinned
    sha256 and hold only thresholds."""
    policy = Policy.load(SHIPPED)
    shipped_thresholds = json.loads(BUNDLED_HARM_CALIBRATION.read_text())["thresholds"]
    for cat in ("hate", "violence", "illicit", "profanity"):
        ref = next(r for r in policy.categories[cat].detectors if r.ref == f"harm:{cat}")
        assert policy.threshold_for(cat, ref) == shipped_thresholds[f"harm:{cat}"] != 0.5
    hate = next(r for r in policy.categories["hate"].detectors if r.ref == "harm:hate")

    cal = tmp_path / "thresholds.json"
    cal.write_text(json.dumps({**shipped_thresholds, "harm:hate": 0.7}), encoding="utf-8")
    digest = hashlib.sha256(cal.read_bytes()).hexdigest()
    pinned = recalibrated("thresholds.json")
    pinned["calibration_sha256"] = digest
    assert Policy.load(write_policy(tmp_path, pinned)).threshold_for("hate", hate) == 0.7

    cal.write_text(json.dumps({**shipped_thresholds, "harm:hate": 0.2}), encoding="utf-8")
    with pytest.raises(PolicyError, match="calibration_sha256: .* the policy expects " + digest):
        Policy.load(write_policy(tmp_path, pinned))
    for bad in ({"harm:hate": True}, {"harm:hate": "high"}, {"harm:hate": 1.5}, {"harm:hat": 0.2}, [0.2], {}):
        cal.write_text(json.dumps(bad), encoding="utf-8")
        with pytest.raises(PolicyError, match="calibration: "):
            Policy.load(write_policy(tmp_path, recalibrated("thresholds.json")))
    # A calibration file that lacks a key the policy uses: refused, never the category's 0.5.
    cal.write_text(json.dumps({"harm:violence": 0.9}), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"harm:hate has no threshold"):
        Policy.load(write_policy(tmp_path, recalibrated("thresholds.json")))


def test_another_model_needs_its_own_thresholds(tmp_path):
    """The bundled thresholds belong to the bundled models: with another model file, a classifier
    entry without a threshold is refused instead of falling back to the category's 0.5."""
    (tmp_path / "mine.json").write_text("{}", encoding="utf-8")
    (tmp_path / "mine.ftz").write_bytes(b"not read at load time")
    data = mutated(set_in("detectors.harm", {"manifest_path": "mine.json"}))
    for key in ("calibration", "calibration_sha256"):
        data.pop(key)
    with pytest.raises(PolicyError, match=r"categories\.hate\.detectors\.1\.threshold: harm:hate has no"):
        Policy.load(write_policy(tmp_path, data))
    data = mutated(set_in("detectors.toxicity", {"model_path": "mine.ftz"}))
    data.pop("calibration_sha256")
    data.pop("calibration")
    data["categories"]["hate"]["detectors"].append("toxicity:hate")
    with pytest.raises(
        PolicyError, match=r"categories\.hate\.detectors\.\d+\.threshold: toxicity:hate has no"
    ):
        Policy.load(write_policy(tmp_path, data))


def test_yaml_aliases_are_refused(tmp_path):
    """An alias fans out without bound (a few lines expand to billions of nodes)."""
    text = "version: 1\na: &x [1, 2]\nb: [*x, *x]\n"
    with pytest.raises(PolicyError, match=r"line 3: YAML aliases"):
        Policy.load(write_policy(tmp_path, text))


def test_detector_options_follow_the_constructors():
    """Each options model names exactly the constructor's arguments, so `validate` checks what runs."""
    from filters.detectors import quality
    from filters.detectors.detoxify_backend import DetoxifyDetector
    from filters.detectors.harm import HarmDetector
    from filters.detectors.langid import LangIdDetector
    from filters.detectors.quality import QualityDetector
    from filters.detectors.toxicity import ToxicityDetector
    from filters.pii import PIIDetector
    from filters.urls import UrlBlocklist

    def params(cls: type) -> set[str]:
        sig = inspect.signature(cls.__init__).parameters.values()
        return {p.name for p in sig if p.name != "self" and p.kind is not p.VAR_KEYWORD}

    assert set(HarmOptions.model_fields) == params(HarmDetector) - {"mode"}
    assert set(PiiOptions.model_fields) == params(PIIDetector)
    assert set(ToxicityOptions.model_fields) == params(ToxicityDetector)
    assert set(DetoxifyOptions.model_fields) == params(DetoxifyDetector)
    assert set(LangIdOptions.model_fields) == params(LangIdDetector)
    # The policy's default is what the pipeline uses: it must be the detector's own default.
    assert LangIdOptions().max_chars == inspect.signature(LangIdDetector).parameters["max_chars"].default
    assert set(QualityOptions.model_fields) == params(QualityDetector)
    assert set(UrlsConfig.model_fields) == params(UrlBlocklist) - {"lists_dir"}
    assert quality.CHECKS == QUALITY_CHECKS


def test_shipped_policy_is_package_data_identical_to_configs():
    """One file, not two copies that drift: configs/policy.yaml links to the package data."""
    assert SHIPPED.resolve().samefile(DEFAULT_POLICY)
