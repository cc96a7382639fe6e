"""Run as ``python bench/<script>.py``, this folder comes first on ``sys.path``,
where ``queue.py`` would shadow the standard library's ``queue`` module (which
asyncio, aiohttp and concurrent.futures import). Each script imports this first."""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
