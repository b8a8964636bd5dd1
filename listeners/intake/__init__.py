"""The push side of listening: an HTTP intake and its queue-to-Kafka publisher."""

from listeners.intake.app import create_intake_app
from listeners.intake.publisher import IntakePublisher

__all__ = ["IntakePublisher", "create_intake_app"]
