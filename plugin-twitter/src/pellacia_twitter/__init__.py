"""X/Twitter API v2 platform plugin for pellacia-dist."""
