"""``pellacia-dist serve``: the REST API for the editorial dashboard."""

from __future__ import annotations

import click

from pellacia.cli.context import AppContext, fail, pass_app


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8700, show_default=True)
@pass_app
def serve(app: AppContext, host: str, port: int) -> None:
    """Serve the REST API (docs at /docs, spec at /openapi.json) until SIGTERM/Ctrl-C.

    \b
    Every /v1 endpoint needs an API key:
      pellacia-dist api-key create --name dashboard --scopes read,write
    """
    try:
        import uvicorn

        from pellacia.api.app import create_app
    except ModuleNotFoundError as exc:
        fail(f"the API needs {exc.name}: pip install 'pellacia-dist[api]'", code=2)
    from pellacia.errors import ConfigError

    app.default_log_level = "info"
    try:
        api = create_app(app.settings, app.registry)
    except ConfigError as exc:
        fail(str(exc), code=2)
    uvicorn.run(api, host=host, port=port, log_level="info", proxy_headers=False)
