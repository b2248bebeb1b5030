"""The connection to Redis, and the run's epoch as one request sees it.

The epoch is what every request must see fresh, whichever worker answers it: the clock offset
(and a virtual clock's start), the config version, the reset generation and how many
scenarios have steps left. It is one hash, read at most once per request and in the same
round trip as the request's first read (`read`), so a poll costs one round trip in all. A
write that changes it (an advance, a reset, a config, a scenario) is a script that returns
only after Redis holds it: the next request on any worker reads it.

Any Redis failure (down, timed out, refused) becomes StoreUnavailable: a 503 the provider
renders in its own shape, "store unavailable". Nothing is retried beyond one immediate
reconnection, so a request never hangs on a dead store; the next request tries again, which
is how the emulator recovers by itself when Redis comes back.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.client import Pipeline
from redis.commands.core import Script
from redis.exceptions import NoScriptError
from redis.retry import Retry

from emulator.core.errors import ApiError, ErrorKind
from emulator.core.urls import SCHEMES, safe_url

DEFAULT_NAMESPACE = "imagegen"
CONNECT_TIMEOUT = 1.0  # seconds: a store that does not answer is reported, not waited for
COMMAND_TIMEOUT = 2.0
LUA = Path(__file__).with_name("lua")


class StoreUnavailable(ApiError):
    """Redis cannot be reached or failed: answered 503 in the provider's shape."""

    def __init__(self, reason: str) -> None:
        super().__init__(ErrorKind.UNAVAILABLE, f"Store unavailable: {reason}.")


@dataclass(frozen=True, slots=True)
class Epoch:
    offset: float = 0.0  # seconds the clock was advanced
    start: float | None = None  # the virtual clock's start, shared by every worker
    config: int = 0  # version of the config set through the admin API; 0: the start-up one
    resets: int = 0  # resets so far
    scenarios: int = 0  # scenarios with steps left (read on every request)

    @classmethod
    def parse(cls, fields: dict[bytes, bytes]) -> Epoch:
        start = fields.get(b"start")
        return cls(
            offset=float(fields.get(b"offset", 0)),
            start=None if start is None else float(start),
            config=int(fields.get(b"config", 0)),
            resets=int(fields.get(b"resets", 0)),
            scenarios=int(fields.get(b"scenarios", 0)),
        )


@dataclass(slots=True)
class RequestView:
    """What one request has read: the epoch, and jobs it looked up (their files with them)."""

    epoch: Epoch | None = None
    cache: dict[str, Any] = field(default_factory=dict)


_view: ContextVar[RequestView | None] = ContextVar("imagegen_redis_view", default=None)


def split_prefix(url: str) -> tuple[str, str]:
    """(the URL without its `prefix` query parameter, the prefix): several emulators can share
    one Redis database, each under its own prefix (default "imagegen")."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefixes = [value for name, value in query if name == "prefix"]
    rest = [(name, value) for name, value in query if name != "prefix"]
    prefix = prefixes[-1] if prefixes and prefixes[-1] else DEFAULT_NAMESPACE
    return parts._replace(query=urlencode(rest)).geturl(), prefix


class RedisLink:
    def __init__(self, url: str) -> None:
        """`url`: redis://[[user]:password@]host[:port][/db][?prefix=name], rediss:// for TLS,
        unix:///path/to/socket. ValueError for a URL that is not one."""
        scheme = urlsplit(url).scheme
        if scheme not in SCHEMES:
            raise ValueError(
                f"a Redis store URL starts with redis://, rediss:// or unix://: {safe_url(url)}"
            )
        url, namespace = split_prefix(url)
        self.url = safe_url(url)
        self.client = redis.Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=COMMAND_TIMEOUT,
            # One immediate retry: a pooled connection Redis closed (a restart) reconnects.
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
        )
        self.namespace = namespace
        self.epoch_key = self.key("epoch")
        self._scripts: dict[str, Script] = {}
        self._seen = Epoch()
        # Called with the new epoch when another worker changed the config or reset.
        self.on_config: list[Callable[[Epoch], None]] = []
        self.on_reset: list[Callable[[Epoch], None]] = []

    def key(self, *parts: str) -> str:
        return ":".join((self.namespace, *parts))

    def script(self, name: str, preludes: tuple[str, ...] = ()) -> Script:
        """The Lua script lua/<name>.lua after the preludes it uses (lua/<prelude>.lua: shared
        functions), registered once: sent by its sha, loaded when Redis lacks it."""
        found = self._scripts.get(name)
        if found is None:
            text = "\n".join(
                (LUA / f"{part}.lua").read_text(encoding="utf-8") for part in (*preludes, name)
            )
            found = self._scripts[name] = self.client.register_script(text)
        return found

    # ------------------------------------------------------------------ requests

    @staticmethod
    def begin_request() -> Token[RequestView | None]:
        return _view.set(RequestView())

    @staticmethod
    def end_request(token: Token[RequestView | None]) -> None:
        _view.reset(token)

    @staticmethod
    def view() -> RequestView | None:
        return _view.get()

    def epoch(self) -> Epoch:
        """The epoch this request sees (read now if it has not been yet)."""
        view = _view.get()
        if view is not None and view.epoch is not None:
            return view.epoch
        return self.read(lambda _pipe: None)[0]

    def read(self, build: Callable[[Pipeline], None]) -> list[Any]:
        """Run the commands `build` queues on a pipeline, with the epoch read first when this
        request has not read it yet: one round trip. Returns the commands' results."""
        view = _view.get()
        wanted = view is None or view.epoch is None
        for attempt in (1, 2):
            pipe = self.client.pipeline(transaction=False)
            if wanted:
                pipe.hgetall(self.epoch_key)
            build(pipe)
            try:
                results = self.execute(pipe)
                break
            except NoScriptError:  # Redis restarted or flushed its scripts: load, run again
                if attempt == 2:
                    raise StoreUnavailable(f"Redis at {self.url} lost its scripts") from None
                with self.guard():
                    for script in self._scripts.values():
                        script.sha = self.client.script_load(script.script)
        if wanted:
            epoch = Epoch.parse(results.pop(0))
            if view is not None:
                view.epoch = epoch
            self._saw(epoch)
            if not results:
                return [epoch]
        return results

    def forget_epoch(self) -> None:
        """This request changed the epoch: its next read fetches it again."""
        view = _view.get()
        if view is not None:
            view.epoch = None

    def saw_reset(self, generation: int) -> None:
        """This worker made reset `generation` (and started over itself)."""
        self._seen = dataclasses.replace(self._seen, resets=generation)

    def saw_config(self, version: int) -> None:
        """This worker put config `version` in force (and runs on it already)."""
        self._seen = dataclasses.replace(self._seen, config=version)

    def _saw(self, epoch: Epoch) -> None:
        seen, self._seen = self._seen, epoch
        if epoch.resets != seen.resets:
            for listener in self.on_reset:
                listener(epoch)
        if epoch.config != seen.config:
            for listener in self.on_config:
                listener(epoch)

    # ------------------------------------------------------------------ errors

    def queue(
        self, pipe: Pipeline, name: str, args: list[Any], preludes: tuple[str, ...] = ()
    ) -> None:
        """Queue a script on a pipeline by its sha alone (redis-py's own way asks Redis first
        whether it has the script: a round trip more each time); `read` loads it if missing."""
        script = self.script(name, preludes)
        pipe.execute_command("EVALSHA", script.sha, 0, self.namespace, *args)

    def execute(self, pipe: Pipeline) -> list[Any]:
        """The pipeline's results; Redis errors as StoreUnavailable, but a script Redis lacks
        as NoScriptError (`read` loads it and runs again)."""
        try:
            return pipe.execute()
        except NoScriptError:
            raise
        except redis.RedisError as exc:
            raise StoreUnavailable(_reason(exc, self.url)) from None

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Redis errors as StoreUnavailable (a 503 in the provider's shape)."""
        try:
            yield
        except redis.RedisError as exc:
            raise StoreUnavailable(_reason(exc, self.url)) from None

    def ping(self) -> str | None:
        """None when Redis answers; else why not (for the health check)."""
        try:
            self.client.ping()
        except redis.RedisError as exc:
            return _reason(exc, self.url)
        return None

    def run(self, name: str, args: list[Any], preludes: tuple[str, ...] = ()) -> Any:
        """Run a script now (its own round trip) with the namespace as its first argument;
        Redis errors as StoreUnavailable."""
        with self.guard():
            return self.script(name, preludes)(keys=[], args=[self.namespace, *args])

    def close(self) -> None:
        self.client.close()


def _reason(exc: redis.RedisError, url: str) -> str:
    if isinstance(exc, redis.TimeoutError):
        return f"Redis at {url} did not answer in time"
    if isinstance(exc, redis.ConnectionError):
        return f"cannot reach Redis at {url}"
    return f"Redis at {url} failed ({type(exc).__name__}: {exc})"
