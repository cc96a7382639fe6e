"""``pellacia-dist config``: show the effective settings (secrets masked), check them."""

from __future__ import annotations

import json
from typing import Any

import click

from pellacia.cli.context import AppContext, emit_json, fail, json_option, pass_app


def _overrides(app: AppContext) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if app.sandbox_url:
        overrides["sandbox_url"] = app.sandbox_url
    if app.log_json:
        overrides["log_json"] = True
    if app.log_level:
        overrides["log_level"] = app.log_level
    return overrides


@click.group()
def config() -> None:
    """Show and check the configuration."""


@config.command("show")
@json_option
@pass_app
def show(app: AppContext, as_json: bool) -> None:
    """Print the effective settings, every secret masked, and where they came from."""
    from pellacia.config_check import inspect_config, masked_settings, sources

    inspection = inspect_config(app.config_file, **_overrides(app))
    if inspection.settings is None:
        for problem in inspection.errors:
            click.echo(f"error: {problem.where}: {problem.message}", err=True)
        fail("the configuration cannot be loaded; run 'pellacia-dist config check'")
        return
    data = masked_settings(inspection.settings)
    origin = sources(inspection.settings)
    if as_json:
        emit_json({"sources": origin, "settings": data})
        return
    # plain lines: one setting each, never wrapped, easy to grep
    click.echo(f"# config file: {origin['config_file'] or 'none (defaults and environment)'}")
    click.echo(f"# environment: {', '.join(origin['environment']) or 'none'}")
    if origin["dotenv"]:
        click.echo(f"# .env file: {origin['dotenv']}")
    for key, value in _flatten(data):
        click.echo(f"{key} = {json.dumps(value, ensure_ascii=False)}")


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Dotted ``key = value`` lines; empty tables stay visible as ``{}``."""
    if isinstance(data, dict) and data:
        rows: list[tuple[str, Any]] = []
        for key, value in data.items():
            rows.extend(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return rows
    return [(prefix, data)]


@config.command("check")
@json_option
@pass_app
def check(app: AppContext, as_json: bool) -> None:
    """Explain every problem in the configuration; exit 1 if any is an error."""
    from pellacia.config_check import Problem, check_settings, inspect_config
    from pellacia.plugins import PluginLoadError, load_plugins

    inspection = inspect_config(app.config_file, **_overrides(app))
    problems = list(inspection.problems)
    if inspection.settings is not None:
        try:
            registry = load_plugins(inspection.settings.plugins)
        except PluginLoadError as exc:  # strict mode: the first broken plugin stops loading
            problems.append(Problem("error", "plugins", str(exc)))
        else:
            problems += check_settings(inspection.settings, registry)
        problems.sort(key=lambda p: 0 if p.level == "error" else 1)
    errors = sum(1 for p in problems if p.level == "error")
    warnings = len(problems) - errors
    if as_json:
        emit_json(
            {
                "config_file": str(inspection.config_file) if inspection.config_file else None,
                "ok": errors == 0,
                "problems": [p.to_json() for p in problems],
            }
        )
    else:
        where = inspection.config_file or "none (defaults and environment)"
        click.echo(f"config file: {where}")
        for problem in problems:
            colour = "red" if problem.level == "error" else "yellow"
            label = click.style(f"{problem.level}:", fg=colour, bold=True)
            click.echo(f"{label} {problem.where}: {problem.message}")
        if problems:
            click.echo(f"{errors} error(s), {warnings} warning(s)")
        else:
            click.echo(click.style("ok", fg="green") + ": no problem found")
    if errors:
        raise SystemExit(1)
