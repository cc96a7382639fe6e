"""The REST API (``pellacia-dist serve``): a thin HTTP face over the CLI's services."""
