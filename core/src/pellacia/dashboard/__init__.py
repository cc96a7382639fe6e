"""``pellacia-dist dashboard``: the operator's live terminal view (Textual)."""
