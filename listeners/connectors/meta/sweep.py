"""Reading Graph API edges newest-first without losing anything across restarts.

A run is a *sweep*: a list of tasks (``{"edge": "feed", "id": "<page id>"}``),
each paged through with ``paging.next``. Reading a post edge adds a comments
task for every post in the comment window, so new comments on recent posts
are found too. After every page the listener yields a checkpoint holding:

- ``since``: per edge, the high-water mark (unix seconds) of completed sweeps;
  only items at or after it are published, and edges that take ``since`` are
  asked for no more;
- ``sweep``: the sweep in progress (``started``, remaining ``tasks``, the
  ``page`` parameters of the next page, e.g. ``after``, and the ``top`` time
  seen per edge), or None when it is complete.

An interrupted sweep resumes at the page it stopped at; a completed one moves
each edge's mark to the newest time it saw, but never past the sweep's start
minus ``margin_s``: an item created while the sweep ran (or stamped by a clock
a little behind ours) may have been missed, so the next sweep reads it, and
the runner's seen ids drop what it reads twice.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

from listeners.base import Checkpoint, ListenerOutput, Rejected
from listeners.connectors.meta.graph import GraphClient, graph_time, next_page
from listeners.errors import ContentGone
from mentionflow.models import Mention

__all__ = ["Edge", "GraphSweep", "Task"]

log = logging.getLogger(__name__)

Task = dict[str, str]


@dataclass(frozen=True)
class Edge:
    name: str
    #: path under the API root, ``{id}`` is the task's object id
    path: str
    fields: str
    time_field: str
    params: Mapping[str, str] = field(default_factory=dict)
    #: the edge takes ``since`` (time-based paging)
    takes_since: bool = False
    #: items come newest first, so paging stops at the first older one
    newest_first: bool = True
    #: the edge whose items' comments are read (for items in the comment window)
    comments: str | None = None


class GraphSweep:
    """Subclasses name their edges and root tasks, and map items to mentions."""

    edges: ClassVar[dict[str, Edge]] = {}

    def __init__(self, name: str, graph: GraphClient, *, brand: str, backfill: timedelta, comment_window: timedelta,
                 page_size: int = 50, include_own: bool = False, clock: Callable[[], float] = time.time,
                 margin_s: int = 300) -> None:
        self.name, self.graph, self.brand = name, graph, brand
        self.backfill_s, self.window_s = int(backfill.total_seconds()), int(comment_window.total_seconds())
        self.page_size, self.include_own, self.clock, self.margin_s = page_size, include_own, clock, margin_s
        #: why items were not published, by reason (own posts, no text, deleted objects)
        self.skipped: Counter[str] = Counter()

    def close(self) -> None:
        self.graph.close()

    def roots(self) -> list[Task]:
        raise NotImplementedError

    def map_item(self, edge: Edge, task: Task, item: dict[str, Any]) -> Mention | None:
        """The mention for an item; None skips it (count why in ``skipped``); ValueError rejects it."""
        raise NotImplementedError

    def wants_comments(self, item: dict[str, Any]) -> bool:
        return True

    def poll(self, cursor: dict[str, Any] | None) -> Iterator[ListenerOutput]:
        now = int(self.clock())
        cursor = copy.deepcopy(cursor or {})
        since: dict[str, int] = {k: int(v) for k, v in (cursor.get("since") or {}).items()}
        for edge in self.edges:
            since.setdefault(edge, now - self.backfill_s)
        sweep = cursor.get("sweep") or {"started": now, "tasks": self.roots(), "page": None, "top": {}}
        while sweep["tasks"]:
            task = sweep["tasks"][0]
            edge = self.edges.get(task.get("edge", ""))  # None: a task of a version that read other edges
            more = (yield from self._page(edge, task, since[edge.name], sweep)) if edge else None
            if more:
                sweep["page"] = more
            else:
                sweep["tasks"].pop(0)
                sweep["page"] = None
            done = not sweep["tasks"]
            if done:
                for name, top in sweep["top"].items():
                    since[name] = max(since[name], min(int(top), int(sweep["started"]) - self.margin_s))
            yield Checkpoint({"since": dict(since), "sweep": None if done else copy.deepcopy(sweep)})
        if self.skipped:
            log.info("%s: not published: %s", self.name, ", ".join(f"{n} {why}" for why, n in self.skipped.items()))

    def _page(self, edge: Edge, task: Task, floor: int, sweep: dict[str, Any]) -> Iterator[ListenerOutput]:
        """Read one page, yield what it holds; return the next page's parameters or None."""
        window_start = int(sweep["started"]) - self.window_s
        reach = min(floor, window_start) if edge.comments else floor
        sent: dict[str, Any] = {"fields": edge.fields, "limit": self.page_size, **edge.params}
        if edge.takes_since:
            sent["since"] = reach
        sent.update(sweep["page"] or {})
        try:
            body = self.graph.get(edge.path.format(id=task["id"]), sent)
        except ContentGone as exc:
            log.info("%s: skipping %s of %s: %s", self.name, edge.name, task["id"], exc)
            self.skipped["deleted objects"] += 1
            return None
        data = body.get("data")
        if not isinstance(data, list):
            where = f"{self.name}: {edge.name} of {task['id']}"
            yield Rejected(json.dumps(body).encode(), f"{where}: answer has no data list")
            return None
        older = False
        for item in data:
            raw = json.dumps(item, ensure_ascii=False).encode()
            where = f"{self.name}: {edge.name} item {item.get('id') if isinstance(item, dict) else '?'}"
            try:
                if not isinstance(item, dict):
                    raise ValueError("expected a JSON object")
                at = int(graph_time(item.get(edge.time_field)).timestamp())
            except ValueError as exc:
                yield Rejected(raw, f"{where}: {edge.time_field}: {exc}")
                continue
            if at < reach:
                older = True
                continue
            if edge.comments and at >= window_start and isinstance(item.get("id"), str) and self.wants_comments(item):
                self._add_task(sweep, edge.comments, item)
            if at < floor:
                continue  # read only to find its comments; published by an earlier sweep
            sweep["top"][edge.name] = max(int(sweep["top"].get(edge.name, 0)), at)
            try:
                mention = self.map_item(edge, task, item)
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                yield Rejected(raw, f"{where}: {exc}")
                continue
            if mention is not None:
                yield mention
        if older and edge.newest_first:
            return None
        return next_page(body, sent)

    @staticmethod
    def _add_task(sweep: dict[str, Any], edge: str, item: dict[str, Any]) -> None:
        task = {"edge": edge, "id": item["id"]}
        url = item.get("permalink_url") or item.get("permalink")
        if isinstance(url, str):
            task["url"] = url
        if all(t["edge"] != edge or t["id"] != task["id"] for t in sweep["tasks"]):
            sweep["tasks"].append(task)
