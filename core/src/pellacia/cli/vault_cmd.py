"""``pellacia-dist vault``: the key that encrypts stored credentials.

Keys are never printed: they go from file to file (0600), and messages name
them by id only.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from pellacia.cli.context import AppContext, emit_json, fail, json_option, pass_app


@click.group()
def vault() -> None:
    """The vault key: export it, import it on a new machine, rotate it.

    The key comes from PELLACIA_SECRET_KEY or from secret.key in the data
    directory. Database backups do not contain it, and without it the stored
    credentials cannot be opened: keep an export apart from the backups.
    """


def _env_key(app: AppContext) -> str | None:
    secret = app.settings.secret_key
    return secret.get_secret_value() if secret else None


@vault.command("export-key")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True, help="Replace FILE when it exists.")
@json_option
@pass_app
def export_key(app: AppContext, file: Path, force: bool, as_json: bool) -> None:
    """Write the vault key ring to FILE (mode 0600), to keep apart from backups.

    FILE is a valid secret.key: `vault import-key FILE` on a new machine.
    """
    from pellacia.errors import ConfigError
    from pellacia.vault import export_keys, load_keyring

    try:
        ring = load_keyring(app.settings.data_dir, _env_key(app), create=False)
    except ConfigError as exc:
        fail(str(exc))
    try:
        path = export_keys(ring, file, force=force)
    except ConfigError as exc:  # FILE exists, or cannot be written: nothing written
        fail(str(exc), code=2)
    ids = [key.key_id for key in ring.keys]
    if as_json:
        emit_json({"file": str(path), "key_ids": ids})
        return
    older = f" and {len(ids) - 1} older key(s)" if len(ids) > 1 else ""
    click.echo(f"vault key {ids[0]}{older} written to {path} (mode 0600)")
    click.echo("Keep it apart from the database backups: a backup with its key opens every token.")


@vault.command("import-key")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@json_option
@pass_app
def import_key(app: AppContext, file: Path, as_json: bool) -> None:
    """Make the keys of FILE (a `vault export-key`) this machine's vault keys.

    The imported current key seals from now on; keys already here are kept
    after it, so nothing they sealed becomes unreadable.
    """
    from pellacia.errors import ConfigError
    from pellacia.vault import KEY_FILE_NAME, import_keys

    if app.settings.secret_key is not None:
        fail(
            "the vault key comes from PELLACIA_SECRET_KEY here: put the key(s) of "
            f"{file} in that variable (comma-separated, current first) instead"
        )
    try:
        result = import_keys(app.settings.data_dir, file)
    except ConfigError as exc:
        fail(str(exc), code=2)
    path = app.settings.data_dir / KEY_FILE_NAME
    if as_json:
        emit_json(
            {
                "key_file": str(path),
                "current": result.current,
                "added": list(result.added),
                "kept": list(result.kept),
            }
        )
        return
    click.echo(f"imported into {path}: key {result.current} seals from now on")
    if result.kept:
        click.echo(f"kept for reading what they sealed: {', '.join(result.kept)}")


@vault.command("new-key")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def new_key(file: Path) -> None:
    """Write a new random key to FILE (0600), e.g. to rotate PELLACIA_SECRET_KEY."""
    from pellacia.errors import ConfigError
    from pellacia.vault import new_key_file

    try:
        key = new_key_file(file)
    except ConfigError as exc:
        fail(str(exc), code=2)
    click.echo(f"new vault key {key.key_id} written to {file.expanduser()} (mode 0600)")


@vault.command("rotate-key")
@json_option
@pass_app
def rotate_key(app: AppContext, as_json: bool) -> None:
    """Re-encrypt every stored credential under a new key, in one transaction.

    With a key file (secret.key), a new key is made; the old ring is saved
    first as secret.key.old-<id> (0600: backups taken before need it), then
    the file holds the new key only. With PELLACIA_SECRET_KEY, set it to the
    new key (`vault new-key FILE`), a comma and the old key, then run this;
    afterwards drop the old key from the variable.
    """
    from pellacia.errors import ConfigError
    from pellacia.log import redact_text
    from pellacia.store.pool import connect
    from pellacia.vault import VaultError, rotate

    settings = app.settings
    env_value = _env_key(app)

    async def run() -> Any:
        pool = await connect(settings, app.registry.migrations, max_size=1)
        try:
            async with pool.acquire() as conn:
                return await rotate(conn, settings.data_dir, env_value)
        finally:
            await pool.close()

    try:
        done = asyncio.run(run())
    except (ConfigError, VaultError) as exc:
        fail(str(exc))
    except OSError as exc:  # the database is unreachable
        fail(f"rotation failed: {redact_text(str(exc))}")
    if as_json:
        emit_json(
            {
                "key_id": done.new_key_id,
                "old_key_ids": list(done.old_key_ids),
                "resealed": done.resealed,
                "old_keys_file": str(done.old_keys_file) if done.old_keys_file else None,
            }
        )
        return
    click.echo(f"re-encrypted {done.resealed} credential(s) under key {done.new_key_id}")
    if done.old_keys_file is not None:
        click.echo(
            f"the old key(s) are in {done.old_keys_file}: keep it with the backups' key "
            "(backups taken before need it), then export the new key: "
            "pellacia-dist vault export-key FILE"
        )
    else:
        click.echo("now drop the old key(s) from PELLACIA_SECRET_KEY and restart the services")
