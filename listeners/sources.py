"""The sources file (``config/sources.yaml``): which listeners run, and how.

Each entry's ``kind`` picks its connector's config class (see
``listeners.connectors``); unknown kinds, unknown keys, inline secrets and
repeated names fail at load with the file and line.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from listeners.connectors import connector_classes
from listeners.connectors.base import SourceBase
from mentionflow.config_files import LocatedValueError, load_config

__all__ = ["SourcesFile", "load_sources"]


class _SourcesFileBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    sources: list[Any] = Field(default_factory=list)

    @field_validator("sources")
    @classmethod
    def _unique(cls, sources: list[SourceBase]) -> list[SourceBase]:
        seen: set[str] = set()
        for n, s in enumerate(sources):
            if s.name in seen:
                raise LocatedValueError(f"source name {s.name!r} is used twice", (n, "name"))
            seen.add(s.name)
        return sources

    def enabled(self) -> list[SourceBase]:
        return [s for s in self.sources if s.enabled]

    def get(self, name: str) -> SourceBase:
        for s in self.sources:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.sources) or "none"
        raise KeyError(f"no source named {name!r} (configured: {known})")


@cache
def _model() -> type[_SourcesFileBase]:
    classes = tuple(connector_classes().values())
    entry = Annotated[Union[classes], Field(discriminator="kind")]  # noqa: UP007 - built at runtime
    return create_model("SourcesFile", __base__=_SourcesFileBase, sources=(list[entry], Field(default_factory=list)))


SourcesFile = _SourcesFileBase


def load_sources(path: Path) -> _SourcesFileBase:
    return load_config(path, _model())
