"""A tiny platform used by pellacia-dist's own tests.

``platform.py`` is a real plugin talking HTTP; ``fake.py`` is the fake remote
it talks to (started by tests on 127.0.0.1, port 0) with fault knobs;
``fixtures.py`` puts this folder on the plugin path for tests.
"""
