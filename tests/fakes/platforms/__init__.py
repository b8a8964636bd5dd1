"""Local servers speaking third-party platform APIs, for connector tests."""
