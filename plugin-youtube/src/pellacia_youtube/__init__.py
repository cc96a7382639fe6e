"""YouTube Data API v3 platform plugin for pellacia-dist."""
