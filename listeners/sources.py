"""The sources file (``config/sources.yaml``): which listeners run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from listeners.base import Listener
from listeners.replay import ReplayListener
from mentionflow.config_files import load_config
from mentionflow.settings import PROJECT_ROOT

__all__ = ["ReplaySource", "SourceConfig", "SourcesFile", "build_listener", "load_sources"]


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,127}$")
    enabled: bool = True


class ReplaySource(_Source):
    kind: Literal["replay"]
    path: Path

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value if value.is_absolute() else PROJECT_ROOT / value


SourceConfig = Annotated[ReplaySource, Field(discriminator="kind")]


class SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    sources: list[SourceConfig] = Field(default_factory=list)

    @field_validator("sources")
    @classmethod
    def _unique(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dupes)}")
        return sources

    def enabled(self) -> list[SourceConfig]:
        return [s for s in self.sources if s.enabled]

    def get(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(f"no source named {name!r}")


def load_sources(path: Path) -> SourcesFile:
    return load_config(path, SourcesFile)


def build_listener(config: SourceConfig) -> Listener:
    if isinstance(config, ReplaySource):
        if not config.path.exists():
            raise FileNotFoundError(f"source {config.name}: replay file {config.path} does not exist")
        return ReplayListener(config.name, config.path)
    raise ValueError(f"unsupported source kind {config.kind!r}")  # pragma: no cover
