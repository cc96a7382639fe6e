"""Alert routing: every registered sink, each isolated (DESIGN §2, §4)."""

from pellacia.alerts.dispatch import AlertDispatcher, level_at_least, record_alert

__all__ = ["AlertDispatcher", "level_at_least", "record_alert"]
