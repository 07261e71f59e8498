"""The run config: YAML, validated so that a typo or a bad value names its field.

Relative paths in a config (sources, policy, caches) are resolved against the
directory of the config file, so a run behaves the same from any working
directory and on any node of a cluster that sees the same files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dedup.config import DedupConfig, ExactOnlyConfig
from kit.validation import did_you_mean, field_errors
from kit.yaml_file import yaml_error_line
from pipeline.sections import validate_sections
from tokenization.config import TokenizeConfig

STAGE_NAMES = ("ingest", "exact_dedup", "filter", "near_dedup", "tokenize")
# The example run config shipped with winnow, named when a config path leads nowhere.
SHIPPED_EXAMPLE = "configs/default.yaml"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class CommonCrawlSpec(Strict):
    """A slice of a Common Crawl crawl, read from its `<kind>.paths.gz` index."""

    crawl: str = Field(pattern=r"^CC-MAIN-\d{4}-\d{2}$")
    kind: Literal["wet", "warc"] = "wet"
    files: str = Field(
        "0:1", pattern=r"^\d*:\d*$", description="a Python slice of the paths index, e.g. '0:10'"
    )
    base_url: str = "https://data.commoncrawl.org"


class SourceSpec(Strict):
    """One input: a path, glob or URI; or a Common Crawl slice."""

    uri: str | None = None
    commoncrawl: CommonCrawlSpec | None = None
    format: Literal["warc", "wet", "arc", "jsonl", "parquet", "text"] | None = None
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    text_field: str = "text"

    @model_validator(mode="before")
    @classmethod
    def _plain_path(cls, value: Any) -> Any:
        """`sources: [data/*.jsonl]` is what people write first; it means `{uri: data/*.jsonl}`."""
        return {"uri": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_kind(self) -> SourceSpec:
        if (self.uri is None) == (self.commoncrawl is None):
            raise ValueError("give exactly one of `uri` or `commoncrawl`")
        return self


class IngestConfig(Strict):
    sources: list[SourceSpec] = Field(min_length=1)
    cache_dir: str = "~/.cache/winnow/downloads"
    extract_html: bool = True
    max_doc_bytes: int = Field(50_000_000, gt=0)
    min_text_chars: int = Field(1, ge=1, description="documents shorter than this are removed as empty_text")
    batch_rows: int = Field(2048, gt=0, description="rows buffered before a Parquet write: bounds memory")
    part_rows: int = Field(
        100_000, gt=0, description="documents per output part: the unit of later parallelism"
    )
    retries: int = Field(5, ge=0)
    timeout_s: float = Field(60.0, gt=0, description="one network read may wait this long")
    download_deadline_s: float = Field(
        3600.0, gt=0, description="total time one download may take, retries included"
    )
    min_download_rate: float = Field(
        1024.0, ge=0, description="bytes/s over 60 s below which a download attempt is retried"
    )


# Rows per Arrow batch when a dedup stage applies its decision to each part (the part mapper's batch):
# it bounds memory and sets where the output parts' row groups end, so output bytes depend on it.
ApplyBatchRows = Annotated[
    int, Field(gt=0, description="rows per batch when the decision is applied to each part: bounds memory")
]


class ExactDedupSection(ExactOnlyConfig):
    """`exact_dedup:`: dedup's own exact-only model, plus the batch size of the pipeline's per-part apply."""

    batch_rows: ApplyBatchRows = 2048


class NearDedupSection(DedupConfig):
    """`near_dedup:`: dedup's own model (`winnow dedup`'s), plus the batch size of the per-part apply."""

    batch_rows: ApplyBatchRows = 2048


class FilterStageConfig(Strict):
    policy: str | None = Field(None, description="policy file; unset: the policy shipped with winnow")
    mode: Literal["pretrain", "runtime"] = "pretrain"
    batch_rows: int = Field(512, gt=0)
    actors: int | None = Field(
        None, ge=1, description="filter actors (each loads the models once); default: CPUs"
    )


class RayConfig(Strict):
    address: str | None = Field(
        None, description="existing cluster (ray://host:10001 or 'auto'); default local"
    )
    num_cpus: int | None = Field(None, ge=1, description="CPUs for a local instance; default: all")


class RunConfig(Strict):
    name: str = Field("default", pattern=r"^[A-Za-z0-9_.-]+$")
    run_dir: str | None = None
    stages: list[str] = Field(default_factory=lambda: list(STAGE_NAMES))
    ingest: IngestConfig
    exact_dedup: ExactDedupSection = Field(default_factory=ExactDedupSection)
    filter: FilterStageConfig = FilterStageConfig()
    near_dedup: NearDedupSection = Field(default_factory=NearDedupSection)
    tokenize: TokenizeConfig = Field(default_factory=TokenizeConfig)
    ray: RayConfig = RayConfig()
    base_dir: str = Field(
        ".", description="set by the loader: the directory of the config file", exclude=True
    )

    @field_validator("stages")
    @classmethod
    def _stages_known(cls, stages: list[str]) -> list[str]:
        unknown = [s for s in stages if s not in STAGE_NAMES]
        if unknown:
            hint = did_you_mean(unknown[0], STAGE_NAMES)
            raise ValueError(f"unknown stage(s) {unknown}{hint} (known: {list(STAGE_NAMES)})")
        if not stages or stages[0] != "ingest":
            raise ValueError("the first stage must be 'ingest'")
        if len(set(stages)) != len(stages):
            raise ValueError("a stage is listed twice")
        if "tokenize" in stages and stages[-1] != "tokenize":
            raise ValueError("'tokenize' must be the last stage")
        return stages

    @model_validator(mode="after")
    def _resolve_library_paths(self) -> RunConfig:
        """The libraries' own paths (tokenizer, LSH index) made config-relative, like every other path."""
        tok = self.tokenize.tokenizer
        if tok.path:
            tok.path = self.resolve(tok.path)
        if self.near_dedup.index_dir:
            self.near_dedup.index_dir = self.resolve(self.near_dedup.index_dir)
        return self

    def policy_path(self) -> str:
        """The filter stage's policy: the config's own, or the one shipped with winnow."""
        if self.filter.policy is None:
            from filters.policy import default_policy_path

            return str(default_policy_path())
        return self.resolve(self.filter.policy)

    def resolve(self, path: str) -> str:
        """A config-relative path made absolute (URIs and absolute paths unchanged)."""
        if "://" in path:
            return path
        path = os.path.expanduser(path)
        return path if os.path.isabs(path) else os.path.normpath(os.path.join(self.base_dir, path))


class ConfigError(ValueError):
    """A config that cannot run; the message names the field."""


def format_validation_error(err: ValidationError, source: str, model: type[BaseModel] | None = None) -> str:
    """`invalid config <source>:` and every error on its own indented line, named by its dotted field
    (`kit.validation.field_errors`: `did you mean` for a mistyped key of `model`)."""
    lines = [f"invalid config {source}:"]
    lines += [f"  {e}" for e in field_errors(err, model, top_level="(top level)")]
    return "\n".join(lines)


def load_config(path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read and validate a run config; raise ConfigError naming every bad field."""
    path = Path(path)
    try:
        raw = yaml.safe_load(read_config_text(path))
    except yaml.YAMLError as e:
        raise ConfigError(f"config {path} is not valid YAML: {yaml_error_line(e)}") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"config {path} must be a mapping at the top level")
    raw.update(overrides or {})
    return parse_config(raw, source=str(path), base_dir=str(path.resolve().parent))


def read_config_text(path: Path) -> str:
    """The config file's text; a path that is no readable UTF-8 file is a ConfigError that says what
    to give instead (one `error:` line, not an OSError or UnicodeDecodeError traceback)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise ConfigError(
            f"config file not found: {path}; check the path (the shipped example is {SHIPPED_EXAMPLE})"
        ) from e
    except IsADirectoryError as e:
        raise ConfigError(f"{path} is a directory; give a config file such as {_example_in(path)}") from e
    except OSError as e:
        raise ConfigError(
            f"cannot read config {path}: {e.strerror}; check the path and its permissions"
        ) from e
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {e.start}, line {line}); give a YAML run config saved as UTF-8"
        ) from e


def _example_in(directory: Path) -> str:
    """The config file to suggest for a directory: its default.yaml if it has one, else the shipped one."""
    candidate = directory / "default.yaml"
    return str(candidate) if candidate.is_file() else SHIPPED_EXAMPLE


def parse_config(raw: dict[str, Any], source: str = "<dict>", base_dir: str = ".") -> RunConfig:
    try:
        cfg = RunConfig.model_validate({**raw, "base_dir": base_dir})
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, source, RunConfig)) from e
    _validate_sections(cfg, source)
    return cfg


def _validate_sections(cfg: RunConfig, source: str) -> None:
    """Validate library-owned sections with the libraries' own models, so errors name the field."""
    errors = validate_sections(cfg)
    if errors:
        raise ConfigError("\n".join([f"invalid config {source}:", *errors]))


def dump_config(cfg: RunConfig) -> str:
    """The config with every default filled in and every path absolute, as YAML: what `config.yaml` in
    the run directory holds, so a reader (the report, a person) needs neither the config file's
    directory nor winnow's defaults to know what ran."""
    data = cfg.model_dump(mode="json", exclude={"base_dir"})
    for source in data["ingest"]["sources"]:
        if source["uri"] is not None:
            source["uri"] = cfg.resolve(source["uri"])
    data["ingest"]["cache_dir"] = cfg.resolve(cfg.ingest.cache_dir)
    data["filter"]["policy"] = cfg.policy_path()
    if data["run_dir"] is not None:
        data["run_dir"] = cfg.resolve(data["run_dir"])
    return yaml.safe_dump(data, sort_keys=False)
