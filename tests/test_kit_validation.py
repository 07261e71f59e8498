"""The one reading of a pydantic ValidationError (`kit.validation`, issue 16): every room names a bad
field the same way, and a typo gets a suggestion wherever the model is known."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kit.validation import FieldError, closest, did_you_mean, field_errors, known_fields


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Source(_Strict):
    path: str
    text_field: str = "text"


class Limits(_Strict):
    threshold: float = 0.5


class Run(_Strict):
    sources: list[Source]
    limits: Limits | None = None
    by_name: dict[str, Limits] = Field(default_factory=dict)
    tuned: Annotated[Limits, Field(description="an annotated field")] = Limits()
    seed: int = 0
    hidden: str = Field("", exclude=True)

    @field_validator("seed")
    @classmethod
    def _small(cls, seed: int) -> int:
        if seed > 10:
            raise ValueError("must be at most 10")
        return seed


def _errors(raw: dict, model: type[BaseModel] | None = Run, **kw) -> list[str]:
    with pytest.raises(ValidationError) as e:
        Run.model_validate(raw)
    return [str(f) for f in field_errors(e.value, model, **kw)]


def test_dotted_paths_and_validator_messages_without_pydantic_prefix() -> None:
    msgs = _errors({"sources": [{"path": "a"}, {}], "seed": 11})
    assert msgs == ["sources.1.path: Field required", "seed: must be at most 10"]


def test_unknown_fields_get_a_suggestion_at_every_depth() -> None:
    raw = {
        "sources": [{"path": "a", "text_feild": "t"}],
        "limits": {"treshold": 0.1},
        "by_name": {"x": {"threshhold": 0.1}},
        "tuned": {"thresold": 0.1},
        "colour": 1,
    }
    assert _errors(raw) == [
        "sources.0.text_feild: unknown field; did you mean 'text_field'?",
        "limits.treshold: unknown field; did you mean 'threshold'?",
        "by_name.x.threshhold: unknown field; did you mean 'threshold'?",
        "tuned.thresold: unknown field; did you mean 'threshold'?",
        "colour: unknown field",  # nothing close: no guess
    ]
    # without the model: the same paths, no guesses
    assert _errors({"limits": {"treshold": 0.1}, "sources": []}, None) == ["limits.treshold: unknown field"]


def test_a_typo_of_a_required_field_is_not_also_reported_missing() -> None:
    assert _errors({"sourcs": []}) == ["sourcs: unknown field; did you mean 'sources'?"]
    # without the model nothing is suggested, so the missing field is reported too
    assert _errors({"sourcs": []}, None) == ["sources: Field required", "sourcs: unknown field"]


def test_prefix_and_top_level() -> None:
    assert _errors({"sources": [], "seed": 11}, prefix="run") == ["run.seed: must be at most 10"]

    class Whole(_Strict):
        a: int = 0

        @model_validator(mode="after")
        def _never(self) -> Whole:
            raise ValueError("never valid")

    with pytest.raises(ValidationError) as e:
        Whole.model_validate({})
    assert [str(f) for f in field_errors(e.value)] == ["never valid"]
    assert field_errors(e.value, top_level="(top level)") == [FieldError("(top level)", "never valid")]


def test_known_fields_and_suggestions() -> None:
    assert known_fields(Run, ()) == ["sources", "limits", "by_name", "tuned", "seed"]  # not `hidden`
    assert known_fields(Run, ("sources", 0)) == ["path", "text_field"]
    assert known_fields(Run, ("by_name", "any")) == ["threshold"]
    assert known_fields(Run, ("seed",)) == []
    assert known_fields(Run, ("nowhere", 1)) == []
    assert closest("sede", ["seed", "sources"]) == "seed"
    assert closest("zzz", ["seed"]) is None
    assert did_you_mean("near_dedupe", ["ingest", "near_dedup"]) == "; did you mean 'near_dedup'?"
    assert did_you_mean("zzz", ["ingest"]) == ""
