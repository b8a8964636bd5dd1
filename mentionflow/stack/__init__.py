"""Local-stack helpers: the bundled broker, worker processes, Airflow."""

from mentionflow.stack.broker import TansuBroker, free_port
from mentionflow.stack.processes import ManagedProcess

__all__ = ["ManagedProcess", "TansuBroker", "free_port"]
