"""Services: user code that runs on a declared set of shards and is called across them.

A Service subclass names itself, says which shards own it (`shards`), what it depends on
(`depends`), which smp group caps its cross-shard calls and which config section it reads
(`config_type`, set as `self.config` before start). Its public coroutine methods are
callable from any shard through `service(T).on(shard)`, `.on_all()` and `.map_reduce()`.
Arguments and results cross shards encoded by msgspec and decoded with the method's hints.
"""

from __future__ import annotations

import abc
import importlib
import inspect
import typing
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import msgspec

from .errors import ConfigError, UnknownMethodError

_NOT_REMOTE = frozenset({"start", "stop"})


class Placement(abc.ABC):
    """Which shards own a service, given smp."""

    @abc.abstractmethod
    def shards(self, smp: int) -> tuple[int, ...]:
        """The owning shard ids for a node of `smp` shards."""


class _All(Placement):
    def shards(self, smp: int) -> tuple[int, ...]:
        return tuple(range(smp))

    def __repr__(self) -> str:
        return "ALL"


class _One(Placement):
    def __init__(self, shard: int):
        self.shard = shard

    def shards(self, smp: int) -> tuple[int, ...]:
        return (self.shard % smp,)

    def __repr__(self) -> str:
        return f"ONE({self.shard})"


ALL: Placement = _All()


def ONE(shard: int) -> Placement:
    """The service lives on exactly one shard (modulo smp)."""
    return _One(shard)


class Service:
    """Base class of every service. Override `start`/`stop`; add async public methods."""

    name: ClassVar[str] = ""
    shards: ClassVar[Placement | Callable[[int], Iterable[int]]] = ALL
    depends: ClassVar[tuple] = ()
    smp_group: ClassVar[str | None] = None
    config_type: ClassVar[type[msgspec.Struct] | None] = None   # this service's config section
    config_section: ClassVar[str] = ""      # its key in the node config; default: the name

    shard: int
    smp: int
    config: Any     # the section (a `config_type`), set before start(); narrow it in subclasses

    async def start(self) -> None:
        """Called once on each owning shard, after every dependency started on every shard."""

    async def stop(self) -> None:
        """Called once on each owning shard, before any dependency stops."""

    @classmethod
    def placement(cls, smp: int) -> tuple[int, ...]:
        spec = cls.shards
        shards = spec.shards(smp) if isinstance(spec, Placement) else tuple(spec(smp))
        assert shards and all(0 <= s < smp for s in shards), f"{cls.name}: bad shards {shards}"
        return tuple(sorted(set(shards)))

    @classmethod
    def service_name(cls) -> str:
        return cls.name or cls.__name__.lower()

    @classmethod
    def group(cls) -> str:
        return cls.smp_group or cls.service_name()

    @classmethod
    def section_name(cls) -> str:
        """The node config key of this service's section (`kafka` for `$.kafka.addr`)."""
        return cls.config_section or cls.service_name()


def load_service_classes(specs: Sequence[str]) -> list[type[Service]]:
    """Import 'module:Class' specs; a bad spec is a config error naming it."""
    classes: list[type[Service]] = []
    for spec in specs:
        module_name, _, class_name = spec.partition(":")
        if not (module_name and class_name):
            raise ConfigError(f"service {spec!r} is not 'module:Class' - at $.services")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"cannot load service {spec!r}: {exc} - at $.services") from None
        if not (isinstance(cls, type) and issubclass(cls, Service)):
            raise ConfigError(f"{spec!r} is not a panda.runtime.Service - at $.services")
        if cls not in classes:
            classes.append(cls)
    return classes


def dependency_order(classes: list[type[Service]]) -> list[type[Service]]:
    """Topological order (dependencies first), stable in the given order otherwise."""
    by_name = {c.service_name(): c for c in classes}
    ordered: list[type[Service]] = []
    visiting: set[str] = set()

    def visit(cls: type[Service]) -> None:
        name = cls.service_name()
        if cls in ordered:
            return
        assert name not in visiting, f"service dependency cycle through {name}"
        visiting.add(name)
        for dep in cls.depends:
            dep_name = dep if isinstance(dep, str) else dep.service_name()
            assert dep_name in by_name, f"{name} depends on {dep_name}, which is not configured"
            visit(by_name[dep_name])
        visiting.discard(name)
        ordered.append(cls)

    for cls in classes:
        visit(cls)
    return ordered


class MethodInfo:
    """What the runtime needs to call one method across shards, built once per method."""

    __slots__ = (
        "_arg_decoders",
        "_arg_hints",
        "_full_decoder",
        "_variadic",
        "func",
        "is_coroutine",
        "name",
        "result_decoder",
        "signature",
    )

    def __init__(self, cls: type, name: str):
        func = getattr(cls, name, None)
        if name.startswith("_") or name in _NOT_REMOTE or not inspect.isfunction(func):
            raise UnknownMethodError(f"{cls.__name__} has no public method {name!r}")
        self.name = name
        self.func = func
        self.is_coroutine = inspect.iscoroutinefunction(func)
        self.signature = inspect.signature(func)
        hints = _hints(func)
        params = list(self.signature.parameters.values())[1:]
        self._variadic = any(p.kind is p.VAR_POSITIONAL for p in params)
        self._arg_hints = [hints.get(p.name, Any) for p in params
                           if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        self._arg_decoders: dict[int, msgspec.msgpack.Decoder] = {}
        self._full_decoder = None if self._variadic else msgspec.msgpack.Decoder(
            tuple[tuple(_decodable(h) for h in self._arg_hints)]  # type: ignore[misc]
            if self._arg_hints else tuple)
        self.result_decoder = msgspec.msgpack.Decoder(_decodable(hints.get("return", Any)))

    def positional(self, args: tuple, kwargs: dict) -> tuple:
        """Caller side: keyword arguments become positional (keyword-only ones cannot cross)."""
        if not kwargs:
            return args
        bound = self.signature.bind(None, *args, **kwargs)
        bound.apply_defaults()
        if bound.kwargs:
            raise TypeError(f"{self.name}: keyword-only arguments cannot cross shards")
        return bound.args[1:]

    def decode_args(self, raw) -> tuple:
        """Arguments decoded with the method's hints (fast path: every parameter passed)."""
        full = self._full_decoder
        if full is not None:
            try:
                return full.decode(raw)
            except msgspec.ValidationError:
                pass
        count = _array_length(raw)
        decoder = self._arg_decoders.get(count)
        if decoder is None:
            if self._variadic or count > len(self._arg_hints):
                decoder = msgspec.msgpack.Decoder(tuple)
            else:
                hints = tuple(_decodable(h) for h in self._arg_hints[:count])
                decoder = msgspec.msgpack.Decoder(tuple[hints] if hints else tuple)  # type: ignore[valid-type]
            self._arg_decoders[count] = decoder
        return decoder.decode(raw)


def method_info(cls: type, name: str) -> MethodInfo:
    cache = cls.__dict__.get("_panda_methods")
    if cache is None:
        cache = {}
        cls._panda_methods = cache  # type: ignore[attr-defined]
    info = cache.get(name)
    if info is None:
        info = cache[name] = MethodInfo(cls, name)
    return info


def _hints(func) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except Exception:  # noqa: BLE001 - unresolvable annotations: decode untyped
        return {}


def _decodable(hint: Any) -> Any:
    return Any if hint is None or hint is type(None) else hint


def _array_length(raw) -> int:
    """Element count of a msgpack array header (fixarray, array16, array32)."""
    raw = memoryview(raw)
    first = raw[0]
    if 0x90 <= first <= 0x9F:
        return first - 0x90
    if first == 0xDC:
        return int.from_bytes(raw[1:3], "big")
    if first == 0xDD:
        return int.from_bytes(raw[1:5], "big")
    raise AssertionError(f"call arguments are not a msgpack array (0x{first:02x})")
