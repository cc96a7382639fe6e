"""Fakes of the platform APIs, one module per platform, each a ``FakePlatform``."""
