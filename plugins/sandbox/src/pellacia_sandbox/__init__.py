"""Local fakes of the platform APIs, with fault injection, for pellacia-dist."""
