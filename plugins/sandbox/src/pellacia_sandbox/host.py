"""``SandboxHost``: one aiohttp server on 127.0.0.1 serving every platform fake.

Each fake is a sub-application at ``/<name>/``; ``/_control/`` holds the
control API (faults, token expiry, resets, state, clock). Fakes are imported
lazily from ``KNOWN_FAKES`` (the sandbox's own) and from what installed
plugins register through the ``register_fakes`` hook; one that cannot be
imported or started is skipped and named, with the reason, in
``GET /_control/status``.
"""

from __future__ import annotations

import importlib
import ipaddress
import json
import socket
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from aiohttp import web

from pellacia_sandbox.clock import SandboxClock
from pellacia_sandbox.fakes.base import FakePlatform
from pellacia_sandbox.faults import FaultSpecError, FaultTable, Handler, apply_fault

#: platform name -> "module:class" of its fake (imported only when the host starts)
KNOWN_FAKES: dict[str, str] = {
    "tiktok": "pellacia_sandbox.fakes.tiktok:TikTokFake",
    "youtube": "pellacia_sandbox.fakes.youtube:YouTubeFake",
    "telegram": "pellacia_sandbox.fakes.telegram:TelegramFake",
    "instagram": "pellacia_sandbox.fakes.instagram:InstagramFake",
    "facebook": "pellacia_sandbox.fakes.facebook:FacebookFake",
    "twitter": "pellacia_sandbox.fakes.twitter:TwitterFake",
    "linkedin": "pellacia_sandbox.fakes.linkedin:LinkedInFake",
    "example": "pellacia_sandbox.fakes.example:ExampleFake",
}

#: request-log entries kept per fake (the oldest tenth goes when full)
MAX_LOGGED_REQUESTS = 10_000
#: query parameters whose values the request log masks
_SECRET_WORDS = ("token", "secret", "code", "password", "key", "signature")

#: biggest request body a fake may read at once (uploads stream in chunks)
CLIENT_MAX_SIZE = 1024**3

HOST_KEY: web.AppKey[SandboxHost] = web.AppKey("sandbox_host")
FAKE_KEY: web.AppKey[FakePlatform] = web.AppKey("sandbox_fake")


class NotLoopback(ValueError):
    """The sandbox only ever binds to a loopback address."""


def check_loopback(address: str) -> str:
    """``address`` if it is a loopback IP (or ``localhost``), else ``NotLoopback``."""
    if address == "localhost":
        return "127.0.0.1"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise NotLoopback(f"{address!r} is not a loopback IP address") from None
    if not ip.is_loopback:
        raise NotLoopback(f"refusing to bind the sandbox to {address}: loopback addresses only")
    return address


def load_fake_class(spec: str) -> type[FakePlatform]:
    """Import ``"module:Class"``; ``ModuleNotFoundError`` when the module is absent."""
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    cls = getattr(module, attr)
    if not (isinstance(cls, type) and issubclass(cls, FakePlatform)):
        raise TypeError(f"{spec} is not a FakePlatform subclass")
    return cls


def plugin_fakes() -> tuple[dict[str, str], dict[str, str]]:
    """Fakes the installed plugins register: ``({platform: "module:Class"}, {what: why not})``.

    Each plugin's ``register_fakes`` is called alone, so one that raises is
    reported (keyed ``plugin:<name>``) without hiding the others' fakes.
    """
    from pellacia.plugins import call_plugin_hook, load_plugins

    registry = load_plugins(include_defaults=False, register_objects=False)
    manager = registry.manager
    found: dict[str, str] = {}
    failed: dict[str, str] = {}
    hook = getattr(manager.hook, "register_fakes", None)
    if hook is None:  # a core without the hook
        return found, failed
    for impl in hook.get_hookimpls():
        name = manager.get_name(impl.plugin) or "?"
        staged: dict[str, str] = {}

        def register(platform: str, spec: str, _staged: dict[str, str] = staged) -> None:
            if not isinstance(platform, str) or not isinstance(spec, str) or ":" not in spec:
                raise TypeError(f"register({platform!r}, {spec!r}): give a name and 'module:Class'")
            _staged[platform] = spec

        try:
            call_plugin_hook(manager, "register_fakes", impl.plugin, register=register)
        except Exception as exc:  # one broken plugin must not hide the other fakes
            failed[f"plugin:{name}"] = f"register_fakes failed: {type(exc).__name__}: {exc}"
            continue
        for platform, spec in staged.items():
            if platform in found:
                failed[f"plugin:{name}"] = f"{platform!r} is already registered by another plugin"
                continue
            found[platform] = spec
    return found, failed


class SandboxHost:
    """The sandbox server. ``async with SandboxHost(port=0) as host: host.base_url``.

    ``only`` restricts which fakes load; ``extra`` adds fake classes by name
    (tests of a fake); ``plugins=False`` leaves out the fakes installed
    plugins register (``register_fakes``).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        only: Iterable[str] | None = None,
        extra: Mapping[str, str | type[FakePlatform]] | None = None,
        clock: SandboxClock | None = None,
        plugins: bool = True,
    ) -> None:
        self.bind = check_loopback(host)
        self.port = port
        self.clock = clock or SandboxClock()
        self.faults = FaultTable()
        self.fakes: dict[str, FakePlatform] = {}
        #: fakes not loaded, with the reason
        self.skipped: dict[str, str] = {}
        self._only = set(only) if only is not None else None
        self._extra = dict(extra or {})
        self._plugins = plugins
        self._runner: web.AppRunner | None = None
        self._loaded = False
        self.app: web.Application | None = None

    # ----------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        if self._runner is None:
            raise RuntimeError("the sandbox host is not started")
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        return f"http://{host}:{self.port}"

    def fake(self, name: str) -> FakePlatform:
        """The loaded fake of platform ``name`` (KeyError names what is loaded)."""
        try:
            return self.fakes[name]
        except KeyError:
            loaded = ", ".join(sorted(self.fakes)) or "none"
            raise KeyError(f"no fake {name!r} loaded (loaded: {loaded})") from None

    def _fake_table(self) -> dict[str, str | type[FakePlatform]]:
        """Every fake to try: ours, then the plugins' (never replacing ours), then ``extra``."""
        table: dict[str, str | type[FakePlatform]] = dict(KNOWN_FAKES)
        if self._plugins:
            found, failed = plugin_fakes()
            self.skipped.update(failed)
            for name, spec in found.items():
                if name in table:
                    self.skipped[f"{name} ({spec})"] = "the sandbox already has a fake of it"
                    continue
                table[name] = spec
        table.update(self._extra)
        return table

    def _load_fakes(self) -> None:
        for name, spec in self._fake_table().items():
            if self._only is not None and name not in self._only:
                continue
            try:
                cls = load_fake_class(spec) if isinstance(spec, str) else spec
            except ModuleNotFoundError as exc:
                if isinstance(spec, str) and exc.name == spec.partition(":")[0]:
                    self.skipped[name] = "not available (module not written yet)"
                    continue
                self.skipped[name] = f"failed to import: {exc}"
                continue
            except Exception as exc:  # one broken fake must not stop the others
                self.skipped[name] = f"failed to import: {type(exc).__name__}: {exc}"
                continue
            if cls.name != name:
                self.skipped[name] = f"{spec} serves {cls.name!r}, not {name!r}"
                continue
            try:
                self.fakes[name] = cls(self)
            except Exception as exc:
                self.skipped[name] = f"failed to start: {type(exc).__name__}: {exc}"

    def build_app(self) -> web.Application:
        """The root application: control routes, then one sub-app per fake."""
        app = web.Application(middlewares=[_fault_middleware], client_max_size=CLIENT_MAX_SIZE)
        app[HOST_KEY] = self
        _add_control_routes(app)
        for name, fake in self.fakes.items():
            sub = web.Application(client_max_size=CLIENT_MAX_SIZE)
            sub[FAKE_KEY] = fake
            try:
                fake.setup(sub)
            except Exception as exc:
                self.skipped[name] = f"failed to set up: {type(exc).__name__}: {exc}"
                continue
            app.add_subapp(f"/{name}", sub)
        for name in self.skipped:
            self.fakes.pop(name, None)
        return app

    async def start(self) -> None:
        """Load the fakes and listen on ``(host, port)``; port 0 picks a free one.

        Started again after ``stop``, the host keeps its fakes (posts, uploads,
        tokens), faults and request logs and listens on the same port: a
        platform's outage, not a new platform.
        """
        if self._runner is not None:
            raise RuntimeError("the sandbox host is already started")
        if not self._loaded:
            self._load_fakes()
            self._loaded = True
        self.app = self.build_app()
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        family = socket.AF_INET6 if ":" in self.bind else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.bind, self.port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            await runner.cleanup()
            raise
        self.port = sock.getsockname()[1]
        site = web.SockSite(runner, sock)
        await site.start()
        self._runner = runner

    async def stop(self) -> None:
        """Stop serving and close every connection (the fakes keep their state)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SandboxHost:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------- state

    def state(self, name: str) -> dict[str, Any]:
        """A fake's snapshot plus the host's request log of it."""
        fake = self.fake(name)
        data = dict(fake.snapshot())
        data.setdefault("requests", list(fake.requests))
        return data

    def reset(self, name: str | None = None) -> None:
        """Reset one fake (or all, clearing the faults too)."""
        names = [name] if name else list(self.fakes)
        for each in names:
            fake = self.fake(each)
            fake.reset()
            fake.clear_requests()
        if name is None:
            self.faults.clear()

    def status(self) -> dict[str, Any]:
        """What ``GET /_control/status`` answers."""
        return {
            "base_url": self.base_url,
            "fakes": {name: fake.base_url for name, fake in sorted(self.fakes.items())},
            "skipped": dict(sorted(self.skipped.items())),
            "clock": {"now": self.clock.now().isoformat(), "offset": self.clock.offset},
            "faults": len(self.faults.to_json()),
        }


# ------------------------------------------------------------ middleware


def _split(path: str) -> tuple[str, str]:
    """``/tiktok/v2/x`` -> ``("tiktok", "/v2/x")``."""
    head, _, rest = path.lstrip("/").partition("/")
    return head, "/" + rest


def _redacted_query(request: web.Request) -> str:
    """The query string with credential-like values masked (some APIs put tokens there)."""
    if not request.query_string:
        return ""
    parts = []
    for key, value in request.query.items():
        secret = any(word in key.lower() for word in _SECRET_WORDS)
        parts.append(f"{key}={'***' if secret else value}")
    return "&".join(parts)


@web.middleware
async def _fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    host = request.app[HOST_KEY]
    name, sub_path = _split(request.path)
    fake = host.fakes.get(name)
    if fake is None:
        return await handler(request)
    entry: dict[str, Any] = {
        "method": request.method,
        "path": sub_path,
        "query": _redacted_query(request),
        "bytes": request.content_length,
        "status": None,
        "fault": None,
    }
    if len(fake.requests) >= MAX_LOGGED_REQUESTS:  # `sandbox up` may run for days
        del fake.requests[: MAX_LOGGED_REQUESTS // 10]
    fake.requests.append(entry)
    fault = host.faults.take(name, request.method, sub_path)
    try:
        if fault is None:
            response = await handler(request)
        else:
            response = await apply_fault(fault, fake, request, handler, entry)
    except web.HTTPException as exc:
        entry["status"] = exc.status
        raise
    entry["status"] = response.status
    return response


# ----------------------------------------------------------- control API


def _host(request: web.Request) -> SandboxHost:
    return request.app[HOST_KEY]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except json.JSONDecodeError:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "body is not JSON"}), content_type="application/json"
        ) from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "body must be a JSON object"}),
            content_type="application/json",
        )
    return data


def _fake_or_404(request: web.Request) -> FakePlatform | web.Response:
    host = _host(request)
    name = request.match_info["platform"]
    if name not in host.fakes:
        return _error(404, f"no fake {name!r} loaded; loaded: {sorted(host.fakes)}")
    return host.fakes[name]


async def _status(request: web.Request) -> web.Response:
    return web.json_response(_host(request).status())


async def _faults_list(request: web.Request) -> web.Response:
    return web.json_response({"faults": _host(request).faults.to_json()})


async def _faults_add(request: web.Request) -> web.Response:
    host = _host(request)
    spec = await _json_body(request)
    platform = spec.get("platform")
    if platform is not None and platform not in host.fakes:
        return _error(404, f"no fake {platform!r} loaded; loaded: {sorted(host.fakes)}")
    try:
        fault = host.faults.add(spec)
    except FaultSpecError as exc:
        return _error(400, str(exc))
    return web.json_response({"id": fault.id, "fault": fault.to_json()})


async def _faults_clear(request: web.Request) -> web.Response:
    _host(request).faults.clear()
    return web.json_response({"cleared": True})


async def _fault_delete(request: web.Request) -> web.Response:
    try:
        fault_id = int(request.match_info["id"])
    except ValueError:
        return _error(400, "fault id must be an integer")
    if not _host(request).faults.remove(fault_id):
        return _error(404, f"no fault {fault_id}")
    return web.json_response({"deleted": fault_id})


async def _expire_tokens(request: web.Request) -> web.Response:
    fake = _fake_or_404(request)
    if isinstance(fake, web.Response):
        return fake
    fake.expire_tokens()
    return web.json_response({"expired": fake.name})


async def _reset_one(request: web.Request) -> web.Response:
    fake = _fake_or_404(request)
    if isinstance(fake, web.Response):
        return fake
    _host(request).reset(fake.name)
    return web.json_response({"reset": fake.name})


async def _reset_all(request: web.Request) -> web.Response:
    _host(request).reset()
    return web.json_response({"reset": sorted(_host(request).fakes)})


async def _state(request: web.Request) -> web.Response:
    fake = _fake_or_404(request)
    if isinstance(fake, web.Response):
        return fake
    return web.json_response(_host(request).state(fake.name))


async def _clock_get(request: web.Request) -> web.Response:
    clock = _host(request).clock
    return web.json_response({"now": clock.now().isoformat(), "offset": clock.offset})


async def _clock_advance(request: web.Request) -> web.Response:
    body = await _json_body(request)
    seconds = body.get("seconds")
    if not isinstance(seconds, int | float) or seconds < 0:
        return _error(400, "seconds must be a non-negative number")
    clock = _host(request).clock
    clock.advance(float(seconds))
    return web.json_response({"now": clock.now().isoformat(), "offset": clock.offset})


def _add_control_routes(app: web.Application) -> None:
    app.router.add_get("/_control/status", _status)
    app.router.add_get("/_control/faults", _faults_list)
    app.router.add_post("/_control/faults", _faults_add)
    app.router.add_delete("/_control/faults", _faults_clear)
    app.router.add_delete("/_control/faults/{id}", _fault_delete)
    app.router.add_get("/_control/clock", _clock_get)
    app.router.add_post("/_control/clock/advance", _clock_advance)
    app.router.add_post("/_control/reset", _reset_all)
    app.router.add_post("/_control/{platform}/expire-tokens", _expire_tokens)
    app.router.add_post("/_control/{platform}/reset", _reset_one)
    app.router.add_get("/_control/{platform}/state", _state)
