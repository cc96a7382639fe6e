"""A fake PeerTube instance for the pellacia-dist sandbox (the PeerTube plugin's tests use it)."""
