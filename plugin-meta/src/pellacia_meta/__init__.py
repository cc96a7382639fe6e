"""Instagram and Facebook (Graph API) platform plugin for pellacia-dist."""
