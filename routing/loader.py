"""Reading rules files (validation errors name the file and line)."""

from __future__ import annotations

from pathlib import Path

from mentionflow.config_files import ConfigFileError, load_config, parse_config
from routing.rules import RuleSet

__all__ = ["RulesError", "load_rules", "parse_rules"]

RulesError = ConfigFileError


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    return parse_config(text, RuleSet, source)


def load_rules(path: Path) -> RuleSet:
    return load_config(path, RuleSet)
