"""Scheduling: the worker, queue services, and timers (DESIGN §3-§4)."""
