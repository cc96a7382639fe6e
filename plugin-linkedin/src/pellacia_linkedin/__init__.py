"""LinkedIn Videos and Posts API platform plugin for pellacia-dist."""
