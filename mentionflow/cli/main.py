"""Entry point: ``mentionflow <command>``."""

from __future__ import annotations

import logging
import os

import click

from mentionflow import __version__
from mentionflow.cli.api import api_cmd, tokens_group
from mentionflow.cli.deliveries import deliver_cmd, deliveries_group
from mentionflow.cli.demo import demo_cmd
from mentionflow.cli.evaluate import evaluate_cmd
from mentionflow.cli.filters import classify_cmd, route_cmd
from mentionflow.cli.rules import rules_group
from mentionflow.cli.sources import intake_cmd, listen_cmd, sources_group
from mentionflow.cli.up import up_cmd
from mentionflow.cli.workers import worker_cmd

__all__ = ["main"]


@click.group()
@click.version_option(__version__, prog_name="mentionflow")
@click.option("-v", "--verbose", count=True, help="more logging (-v info, -vv debug)")
def cli(verbose: int) -> None:
    """Mentionflow: social listening and response routing."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    if os.environ.get("MENTIONFLOW_LOG_LEVEL"):
        level = logging.getLevelName(os.environ["MENTIONFLOW_LOG_LEVEL"].upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("kafka", "transformers", "alembic", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


@cli.command("build-encoder")
def build_encoder_cmd() -> None:
    """Build (or verify) the default encoder in the cache directory."""
    from classifiers.encoder import ensure_encoder
    from mentionflow.settings import get_settings

    click.echo(ensure_encoder(get_settings().cache_dir))


for command in (classify_cmd, route_cmd, rules_group, api_cmd, tokens_group, demo_cmd, evaluate_cmd, up_cmd,
                worker_cmd, deliver_cmd, deliveries_group, sources_group, listen_cmd, intake_cmd):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="mentionflow")
