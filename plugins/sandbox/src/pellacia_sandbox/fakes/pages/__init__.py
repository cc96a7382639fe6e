"""Web upload pages of the platform fakes: what the browser layer's page scripts drive.

Each module reproduces one platform's upload page as browser-flows.md §8
models it (hidden file input plus a decoy, progress over time, a gated
publish button, blocking overlays, an editor that only takes real input
events, login wall / captcha / "too many attempts" modes) and lands the
post in its fake's state, where the API fake reads it.
"""
