"""Telegram alert sink for pellacia-dist."""
