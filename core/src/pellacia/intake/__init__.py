"""Folder intake: the production stage's ``name.mp4`` + ``name.json``, each submitted once."""
