"""Plugin discovery: entry points, per-plugin isolation, what each one provides.

Plugins load lazily (never at import time of ``pellacia``), one entry point at
a time, each inside its own try/except: a plugin that fails to import, fails to
register, or was written for another contract version is recorded with the
reason and skipped. ``PELLACIA_STRICT_PLUGINS=1`` (the test-suite) re-raises.

Hooks are called through pluggy, one plugin at a time (a subset hook caller
holding only that plugin): pluggy hands each implementation only the arguments
it declares, so hooks grow by optional arguments without breaking anyone, and a
plugin's exception stays its own. ``check_pending`` runs after each plugin is
registered, so a misspelled hook fails that plugin, with the reason.

Environment:
  PELLACIA_LOAD_PLUGINS    comma-separated allow-list of entry-point names ('' = none)
  PELLACIA_DISABLE_PLUGINS comma-separated names to skip
  PELLACIA_STRICT_PLUGINS  1 to raise on the first broken plugin
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import pluggy

from pellacia import PLUGIN_API_VERSION, __version__, hookspecs
from pellacia.contract import (
    AlertSink,
    BrowserUploader,
    MigrationSource,
    Platform,
    Route,
    Validator,
)

#: hook name -> (kind used in ``provides``, how to name what was registered)
_REGISTRATION_HOOKS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "register_platforms": ("platform", lambda obj: obj.name),
    "register_routes": ("route", lambda obj: obj.name),
    "register_browser_uploaders": ("browser", lambda obj: obj.platform),
    "register_alert_sinks": ("alert-sink", lambda obj: obj.name),
    "register_validators": ("validator", lambda obj: obj.name),
    "register_migrations": ("migrations", lambda obj: obj.owner),
}

_CONTRACTS: dict[str, type] = {
    "register_platforms": Platform,
    "register_routes": Route,
    "register_browser_uploaders": BrowserUploader,
    "register_alert_sinks": AlertSink,
    "register_validators": Validator,
    "register_migrations": MigrationSource,
}


class PluginLoadError(Exception):
    """A plugin could not be loaded (raised only in strict mode)."""


@dataclass
class PluginInfo:
    """One plugin as ``plugins list`` shows it."""

    name: str
    distribution: str | None
    version: str | None
    provides: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "provides": self.provides,
            "hooks": self.hooks,
            "error": self.error,
        }


@dataclass
class Registry:
    """What the loaded plugins contributed."""

    manager: pluggy.PluginManager
    plugins: list[PluginInfo] = field(default_factory=list)
    platforms: dict[str, Platform] = field(default_factory=dict)
    routes: dict[str, Route] = field(default_factory=dict)
    browser_uploaders: dict[str, list[BrowserUploader]] = field(default_factory=dict)
    alert_sinks: list[AlertSink] = field(default_factory=list)
    validators: list[Validator] = field(default_factory=list)
    migrations: list[MigrationSource] = field(default_factory=list)

    def platform(self, name: str) -> Platform:
        """The platform called ``name``, or a clear error naming what is installed."""
        try:
            return self.platforms[name]
        except KeyError:
            known = ", ".join(sorted(self.platforms)) or "none"
            raise KeyError(
                f"unknown platform {name!r} (installed: {known}); "
                f"install its plugin, e.g. pip install pellacia-dist-{name}"
            ) from None


def _names(env: str) -> set[str] | None:
    raw = os.environ.get(env)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _strict() -> bool:
    return os.environ.get("PELLACIA_STRICT_PLUGINS", "") not in ("", "0", "false")


def _check_api_version(module: ModuleType, ep: EntryPoint) -> None:
    declared = getattr(module, "PLUGIN_API_VERSION", None)
    if declared is None:
        raise PluginLoadError(
            f"{ep.value} does not declare PLUGIN_API_VERSION "
            f"(this core provides plugin API {PLUGIN_API_VERSION})"
        )
    if declared != PLUGIN_API_VERSION:
        raise PluginLoadError(
            f"written for plugin API {declared}, this core (pellacia-dist {__version__}) "
            f"provides plugin API {PLUGIN_API_VERSION}; upgrade the plugin or core"
        )


def _check_core_requirement(ep: EntryPoint) -> None:
    """Refuse a plugin whose distribution requires another pellacia-dist version."""
    from packaging.requirements import Requirement

    dist = ep.dist
    if dist is None:
        return
    for line in dist.requires or ():
        req = Requirement(line)
        if req.name != "pellacia-dist" or req.marker is not None:
            continue
        if req.specifier and not req.specifier.contains(__version__, prereleases=True):
            raise PluginLoadError(
                f"requires pellacia-dist{req.specifier}, but {__version__} is installed"
            )


def _hooks_of(
    module: object, manager: pluggy.PluginManager, *, specified: bool = True
) -> list[str]:
    """The hooks ``module`` implements (``specified=False``: those matching no hookspec)."""
    return sorted(
        name
        for name, caller in vars(manager.hook).items()
        if isinstance(caller, pluggy.HookCaller)
        and caller.has_spec() is specified
        and any(impl.plugin is module for impl in caller.get_hookimpls())
    )


def _discover(group: str) -> Iterable[EntryPoint]:
    allow = _names("PELLACIA_LOAD_PLUGINS")
    deny = _names("PELLACIA_DISABLE_PLUGINS") or set()
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        if allow is not None and ep.name not in allow:
            continue
        if ep.name in deny:
            continue
        yield ep


def _make_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    return manager


def _register(manager: pluggy.PluginManager, module: object, name: str) -> None:
    """Register one plugin module; refuse it if one of its hooks has no spec.

    ``check_pending`` after each registration: whatever it finds belongs to
    this module (the ones before passed), so the error is reported against it.
    """
    try:
        manager.register(module, name=name)
        manager.check_pending()
    except pluggy.PluginValidationError:
        unknown = _hooks_of(module, manager, specified=False)
        if manager.is_registered(module):
            manager.unregister(module)
        if not unknown:
            raise  # an implementation that does not fit its hookspec: pluggy says how
        raise PluginLoadError(
            f"unknown hook {', '.join(unknown)}: no such hook in pellacia.hookspecs "
            f"(misspelled?); the hooks are {', '.join(_hook_names(manager))}"
        ) from None


def _hook_names(manager: pluggy.PluginManager) -> list[str]:
    return sorted(
        name
        for name, caller in vars(manager.hook).items()
        if isinstance(caller, pluggy.HookCaller) and caller.has_spec()
    )


def call_plugin_hook(
    manager: pluggy.PluginManager, hook_name: str, plugin: object, **kwargs: Any
) -> list[Any]:
    """Call ``plugin``'s implementation of ``hook_name`` alone, through pluggy.

    pluggy passes the implementation only the arguments it declares (never
    ``impl.function(**everything)``), and the other plugins are left out so an
    exception here is this plugin's alone. Returns pluggy's result list.
    """
    others = [p for p in manager.get_plugins() if p is not plugin]
    result: list[Any] = manager.subset_hook_caller(hook_name, remove_plugins=others)(**kwargs)
    return result


def load_plugins(
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    include_defaults: bool = True,
    register_objects: bool = True,
) -> Registry:
    """Discover, load and register every plugin; never raises unless strict.

    ``settings`` maps entry-point names to their config section, handed to
    each plugin's hooks as their ``settings`` argument. With
    ``register_objects=False`` only the plugin modules load (enough for CLI
    commands): no platform object is built, which keeps ``--help`` fast.
    """
    strict = _strict()
    manager = _make_manager()
    registry = Registry(manager=manager)
    modules: list[tuple[PluginInfo, object]] = []

    if include_defaults:
        from pellacia import default_plugins

        _register(manager, default_plugins, "core")
        modules.append((PluginInfo("core", "pellacia-dist", __version__), default_plugins))

    for ep in _discover(hookspecs.PROJECT):
        dist = ep.dist
        info = PluginInfo(ep.name, dist.name if dist else None, dist.version if dist else None)
        registry.plugins.append(info)
        try:
            _check_core_requirement(ep)
            module = ep.load()
            _check_api_version(module, ep)
            _register(manager, module, ep.name)
        except Exception as exc:  # isolate any broken plugin
            info.error = f"{type(exc).__name__}: {exc}"
            if strict:
                raise PluginLoadError(f"plugin {ep.name!r}: {info.error}") from exc
            continue
        modules.append((info, module))

    if include_defaults:
        registry.plugins.insert(0, modules[0][0])

    if not register_objects:
        return registry
    staged: list[tuple[PluginInfo, list[tuple[str, Any]]]] = []
    for info, module in modules:
        info.hooks = _hooks_of(module, manager)
        section = dict((settings or {}).get(info.name, {}))
        registrations = _collect(registry, info, module, section, strict)
        if registrations is not None:
            staged.append((info, registrations))
    _refuse_conflicts(staged, strict)
    for info, registrations in staged:
        if info.error is None:
            _commit(registry, info, registrations)
    return registry


def _refuse_conflicts(staged: list[tuple[PluginInfo, list[tuple[str, Any]]]], strict: bool) -> None:
    """Two plugins providing the same platform or route: neither is used.

    Picking one by load order would silently publish through a plugin the
    operator did not choose; the error says how to resolve it.
    """
    owners: dict[tuple[str, str], list[PluginInfo]] = {}
    for info, registrations in staged:
        for hook_name, obj in registrations:
            if hook_name in ("register_platforms", "register_routes"):
                kind, label = _REGISTRATION_HOOKS[hook_name]
                owners.setdefault((kind, label(obj)), []).append(info)
    for (kind, name), infos in owners.items():
        if len(infos) < 2:
            continue
        names = ", ".join(i.name for i in infos)
        for info in infos:
            info.error = (
                f"{kind} {name!r} is already provided by another plugin ({names}); "
                "disable one with PELLACIA_DISABLE_PLUGINS"
            )
        if strict:
            raise PluginLoadError(infos[-1].error or "")


def _collect(
    registry: Registry,
    info: PluginInfo,
    module: object,
    section: Mapping[str, Any],
    strict: bool,
) -> list[tuple[str, Any]] | None:
    """Call this plugin's registration hooks alone, so its failure is its own.

    Returns what it registered (validated, not yet applied), or None on failure.
    """
    manager = registry.manager
    staged: list[tuple[str, Any]] = []
    try:
        call_plugin_hook(manager, "configure", module, settings=section)
        for hook_name, contract in _CONTRACTS.items():

            def register(obj: Any, _hook: str = hook_name, _contract: type = contract) -> None:
                if _contract is not MigrationSource and not isinstance(obj, _contract):
                    raise TypeError(f"{obj!r} does not implement {_contract.__name__}")
                staged.append((_hook, obj))

            call_plugin_hook(manager, hook_name, module, register=register, settings=section)
    except Exception as exc:
        info.error = f"{type(exc).__name__}: {exc}"
        if strict:
            raise PluginLoadError(f"plugin {info.name!r}: {info.error}") from exc
        return None
    return staged


def _commit(registry: Registry, info: PluginInfo, staged: list[tuple[str, Any]]) -> None:
    """Apply a plugin's registrations (all of them were valid)."""
    for hook_name, obj in staged:
        kind, label = _REGISTRATION_HOOKS[hook_name]
        info.provides.append(f"{kind}:{label(obj)}")
        if hook_name == "register_platforms":
            registry.platforms[obj.name] = obj
        elif hook_name == "register_routes":
            registry.routes[obj.name] = obj
        elif hook_name == "register_browser_uploaders":
            registry.browser_uploaders.setdefault(obj.platform, []).append(obj)
        elif hook_name == "register_alert_sinks":
            registry.alert_sinks.append(obj)
        elif hook_name == "register_validators":
            registry.validators.append(obj)
        elif hook_name == "register_migrations":
            registry.migrations.append(obj)


_cached: Registry | None = None
_cached_settings: Mapping[str, Mapping[str, Any]] | None = None


def get_registry(settings: Mapping[str, Mapping[str, Any]] | None = None) -> Registry:
    """The process-wide registry, loaded on first use.

    Loaded again when asked with plugin settings other than the cached ones,
    so a plugin never keeps a configuration it was not given.
    """
    global _cached, _cached_settings
    if _cached is None or (settings is not None and settings != _cached_settings):
        _cached = load_plugins(settings)
        _cached_settings = settings
    return _cached


def reset_registry() -> None:
    """Forget the loaded plugins (tests, and after the environment changed)."""
    global _cached, _cached_settings
    _cached = None
    _cached_settings = None


def install_commands(registry: Registry, cli: Any) -> None:
    """Let each loaded plugin add CLI commands, isolated like registration.

    Each plugin's ``register_commands`` gets a ``CommandContext`` of its own
    (its settings table, the config, the sandbox URL, the HTTP session factory).
    """
    from pellacia.cli.context import CommandContext

    for info in registry.plugins:
        if info.error is not None:
            continue
        module = registry.manager.get_plugin(info.name)
        if module is None:
            continue
        try:
            before = set(cli.commands)
            call_plugin_hook(
                registry.manager,
                "register_commands",
                module,
                cli=cli,
                context=CommandContext(plugin=info.name),
            )
            info.provides.extend(f"command:{name}" for name in sorted(set(cli.commands) - before))
        except Exception as exc:
            info.error = f"register_commands failed: {type(exc).__name__}: {exc}"
            if _strict():
                raise PluginLoadError(f"plugin {info.name!r}: {info.error}") from exc
