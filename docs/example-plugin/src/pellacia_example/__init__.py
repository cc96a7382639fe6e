"""Worked example of a pellacia-dist platform plugin: the made-up "Example Video"."""
