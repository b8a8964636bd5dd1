"""Reading rules files (validation errors name the file and line), and
reloading them in a running router without ever running on a broken file."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from mentionflow.config_files import ConfigFileError, load_config, parse_config
from routing.engine import RoutingEngine
from routing.rules import RuleSet

__all__ = ["ReloadingRules", "RulesError", "load_rules", "parse_rules"]

log = logging.getLogger(__name__)

RulesError = ConfigFileError


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    return parse_config(text, RuleSet, source)


def load_rules(path: Path) -> RuleSet:
    return load_config(path, RuleSet)


class ReloadingRules:
    """The engine for a rules file, re-read when the file changes.

    Called once per batch; the file is stat'ed at most every
    ``check_every_s``. A file that no longer validates is reported once per
    change (file, line, problem) and the rules already running stay in force:
    a typo in production must not stop routing or route by half a policy.
    The first load has nothing to fall back to, so it raises.
    """

    def __init__(self, path: Path, check_every_s: float = 2.0) -> None:
        self.path = path
        self._check_every_s = check_every_s
        self._stamp = self._file_stamp()
        self._engine = RoutingEngine(load_rules(path))
        self._checked_at = time.monotonic()
        self.last_error: str | None = None

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def __call__(self) -> RoutingEngine:
        now = time.monotonic()
        if now - self._checked_at < self._check_every_s:
            return self._engine
        self._checked_at = now
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return self._engine
        self._stamp = stamp
        try:
            rules = load_rules(self.path)
        except (RulesError, OSError) as exc:
            self.last_error = str(exc)
            log.error("rules file %s changed but cannot be used; keeping the running rules:\n%s", self.path, exc)
            return self._engine
        self._engine = RoutingEngine(rules)
        self.last_error = None
        log.info("reloaded %d rules from %s", len(rules.rules), self.path)
        return self._engine
