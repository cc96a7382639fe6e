"""The ``pellacia-dist`` command line: thin, it parses, calls a service, renders."""
