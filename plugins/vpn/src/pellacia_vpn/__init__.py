"""VPN and proxy fallback routes for pellacia-dist."""
