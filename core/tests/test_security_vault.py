"""The vault key is made once: processes starting together on a fresh data
directory (a worker and ``serve``, parallel ``auth login`` runs) all get the
same key, never each their own (a credential sealed under a key that lost the
race could never be opened again), and none fails half-way."""

from __future__ import annotations

import threading
from pathlib import Path

from pellacia.vault import load_keyring


def _first_use_at_once(data: Path, callers: int = 6) -> tuple[list[str], list[BaseException]]:
    """The key id each of ``callers`` threads got, starting together; and their errors."""
    found: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(callers)

    def first_use() -> None:
        start.wait()
        try:
            found.append(load_keyring(data, None).current.key_id)
        except BaseException as exc:  # collected, asserted by the caller
            errors.append(exc)

    threads = [threading.Thread(target=first_use) for _ in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return found, errors


def test_first_use_from_many_at_once_makes_one_key(tmp_path: Path) -> None:
    for trial in range(30):
        data = tmp_path / f"t{trial}" / "data"
        found, errors = _first_use_at_once(data)
        assert errors == []
        assert set(found) == {load_keyring(data, None).current.key_id}, (trial, found)
        assert [p.name for p in data.iterdir()] == ["secret.key"]  # nothing left beside it
