"""Test helpers: a VPN "world" in network namespaces (tests and bench/vpn.py use it)."""
