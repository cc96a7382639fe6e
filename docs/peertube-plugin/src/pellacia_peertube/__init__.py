"""A pellacia-dist platform plugin for PeerTube: federated, password grant, resumable upload."""
