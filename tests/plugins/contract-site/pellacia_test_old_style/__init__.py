"""Test plugins for the hook contract (see plugin.py)."""
