"""Browser-automation fallback (Playwright) for pellacia-dist."""
