"""Scheduling: the worker, queue services, and timers (DESIGN §3-§4)."""

#: deliveries a worker runs at once unless told otherwise: one post to all six
#: platforms goes out in one wave, not two (uploads stream from disk: a slot
#: costs a connection and little memory)
DEFAULT_CONCURRENCY = 8
