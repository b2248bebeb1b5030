"""The replaying part of a request's path: a request that matches a recorded one gets the
recorded answer (see emulator/replay/__init__.py for what matches and what is rewritten).

The player sits in front of both request paths (the fast route table and Starlette's router,
emulator/app.py), so a request under a root path is replayed too. What it keeps of a replayed
job is data: the job in the store (a core Job whose params hold the submit's entry index, the
recorded id and its output URLs' asset ids) and, per key, how many answers were played.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from contracts import Operation, find_operation
from contracts.recorded import is_download
from contracts.streams import parsed_chunks
from emulator.config import Config
from emulator.core.assets import Asset, new_asset_id
from emulator.core.errors import ApiError, ErrorKind
from emulator.core.faults import DECISION_SCOPE_KEY, Decision
from emulator.core.http import public_base_url
from emulator.core.images import ImageSpec
from emulator.core.jobs import Job
from emulator.core.recipes import Recipe, register
from emulator.core.runtime import Runtime
from emulator.core.streams import paced_events
from emulator.providers import error_shape_for_path
from emulator.recording.har import Entry, read_recordings
from emulator.recording.protocols import JobProtocol, job_protocol
from emulator.replay import pictures
from emulator.replay.matcher import DEFAULT_IGNORE, Matcher, RequestFacts, sanitised
from emulator.replay.tables import (
    DEFAULT_STREAM_FRAMING,
    STREAM_FRAMINGS,
    job_id_params,
    replayed_header,
)
from emulator.replay.timeline import RecordedJob, recorded_jobs

__all__ = ["REFUSED_ROUTE", "REPLAY_OWNER", "REPLAY_ROUTE", "STRICT_STATUS", "Player"]

# The owner of a replayed job in the store: no key's fingerprint, so no emulated poll finds it.
REPLAY_OWNER = "replay"
# The journal's route of a replayed request, and of one strict replay refused.
REPLAY_ROUTE = "replay:{}"
REFUSED_ROUTE = "replay-unmatched:{}"
# A request strict replay refuses: 404 NOT_FOUND, in every provider's error contract, and not
# retried by clients (a test fails at once rather than after its retries).
STRICT_KIND = ErrorKind.NOT_FOUND
STRICT_STATUS = 404
_OUTPUTS_KEY = "replay"  # the replay's data in a replayed Job's params
OUTPUT_RECIPE = "replay.output"  # the recipe kind of a replayed job's output file


@dataclass(frozen=True)
class Found:
    """A provider operation a request is for: the player's view of the route."""

    provider: str
    operation: Operation
    path_params: dict[str, str]
    route_path: str


PLAYED = "replay-played"  # the counters' group: answers played per request key


class Player:
    """Recorded answers for matching requests; built from a config's ``[replay]`` table."""

    def __init__(self, entries: Sequence[Entry], matcher: Matcher, strict: bool) -> None:
        self.entries = tuple(entries)
        self.matcher = matcher
        self.strict = strict
        self.jobs = recorded_jobs(self.entries)
        # Output URL -> the descriptor of its recorded download (the proxy's --record-downloads).
        self.downloads: dict[str, dict[str, Any]] = {}
        self._keyed: dict[str, list[int]] = {}
        for index, entry in enumerate(self.entries):
            image = pictures.descriptor_of(entry.response_json())
            if image is not None and is_download(entry):
                self.downloads.setdefault(entry.url, image)
            facts = _recorded_facts(entry)
            if facts is None or _is_poll(facts):
                continue  # a poll is answered from its job's timeline, never by key
            self._keyed.setdefault(matcher.key(facts), []).append(index)

    @classmethod
    def from_config(cls, config: Config) -> Player | None:
        """The config's player, or None without ``[replay] folder``. RecordingError for a
        folder or file that cannot be read; ValueError (InvalidPath) for a bad ignore path."""
        if config.replay_folder is None:
            return None
        ignore = DEFAULT_IGNORE if config.replay_ignore is None else config.replay_ignore
        matcher = Matcher(config.replay_match, ignore, job_id_params())
        return cls(read_recordings(config.replay_folder), matcher, config.replay_strict)

    # ------------------------------------------------------------------ a request

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, rt: Runtime
    ) -> Receive | None:
        """Answer the request when a recording matches (or strict replay refuses it) and
        return None; else return the receive to emulate it with (its body read already)."""
        found = _operation_of(scope)
        if found is None:
            return receive  # not a provider operation (an asset, an unknown path): as usual
        body, receive, whole = await _buffered(receive, rt.config.max_body_bytes)
        if not whole:
            return receive  # too large to compare: the emulator refuses it in its own words
        request = Request(scope, receive)
        protocol = job_protocol(found.provider)
        if protocol is not None and found.operation.operation_id == protocol.poll:
            job = rt.store.get_job(found.path_params.get(protocol.poll_param, ""))
            recorded = None if job is None else self._recorded_job(job)
            if job is not None and recorded is not None:
                answer = recorded.answer_at(rt.clock.now() - job.created_at)
                if answer is not None:
                    self._note(scope, found, job.model)
                    response = await self._job_answer(request, rt, answer, job, protocol)
                    await response(scope, receive, send)
                    return None
        else:
            content_type = request.headers.get("content-type", "")
            facts = RequestFacts(
                method=scope["method"],
                provider=found.provider,
                operation=found.operation.operation_id,
                path_params=found.path_params,
                query=scope.get("query_string", b"").decode("latin-1"),
                body=sanitised(body, content_type),
            )
            key = self.matcher.key(facts)
            played = self._keyed.get(key)
            if played:
                # Answers played per key, in the runtime's counters: every worker of a shared
                # store plays one sequence, and a reset starts it over.
                count = rt.counters.take(PLAYED, key)
                index = played[min(count, len(played) - 1)]  # the last one repeats
                self._note(scope, found, found.path_params.get("model"))
                response = await self._answer(request, rt, index, found, protocol)
                await response(scope, receive, send)
                return None
        if self.strict:
            await self._refuse(scope, receive, send, found)
            return None
        return receive

    def _recorded_job(self, job: Job) -> RecordedJob | None:
        data = job.params.get(_OUTPUTS_KEY) if job.owner == REPLAY_OWNER else None
        return None if data is None else self.jobs.get(data["submit"])

    def _note(
        self, scope: Scope, found: Found, model: str | None, route: str = REPLAY_ROUTE
    ) -> None:
        """The journal's view of a replayed request (app.py records it with its status)."""
        route = route.format(found.operation.operation_id)
        scope[DECISION_SCOPE_KEY] = Decision(found.provider, route, model, None)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, found: Found) -> None:
        method, path = scope["method"], scope["path"]
        error = ApiError(
            STRICT_KIND,
            f"No recording matched {method} {path} ({found.operation.operation_id}):"
            " strict replay answers only recorded requests.",
        )
        shape = error_shape_for_path(found.route_path)
        assert shape is not None  # found from the provider's own operation table
        self._note(scope, found, found.path_params.get("model"), REFUSED_ROUTE)
        await shape[1].render(error)(scope, receive, send)

    # ------------------------------------------------------------------ answers

    async def _answer(
        self,
        request: Request,
        rt: Runtime,
        index: int,
        found: Found,
        protocol: JobProtocol | None,
    ) -> Response:
        entry = self.entries[index]
        recorded = self.jobs.get(index)
        if recorded is not None and protocol is not None:
            job = self._start_job(rt, recorded, protocol, found.path_params.get("model"))
            return await self._job_answer(request, rt, index, job, protocol)
        if found.operation.streamed and 200 <= entry.status < 300:
            chunks = parsed_chunks(entry.response_mime, entry.response_text.encode())
            if chunks is not None:
                return await self._stream(request, rt, entry, chunks)
        return await self._plain(rt, entry, entry.response_json())

    async def _plain(self, rt: Runtime, entry: Entry, body: Any) -> Response:
        headers = _headers(entry)
        if body is None:
            return Response(entry.response_text.encode(), entry.status, headers)
        body = await pictures.render_inline(body, rt.images)
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return Response(content, entry.status, headers)

    async def _stream(
        self, request: Request, rt: Runtime, entry: Entry, chunks: list[Any]
    ) -> StreamingResponse:
        framing = STREAM_FRAMINGS.get(entry.response_mime.split(";")[0].strip().lower())
        framing = framing or DEFAULT_STREAM_FRAMING
        rendered = [await pictures.render_inline(chunk, rt.images) for chunk in chunks]
        decision: Decision = request.scope[DECISION_SCOPE_KEY]
        # The recorded pace: the first chunk at the time to first byte, the last at the end.
        decision.latency = entry.elapsed_ms / 1000
        decision.streamed = True
        first = None if entry.first_byte_ms is None else entry.first_byte_ms / 1000
        events = paced_events(rendered, framing, rt.clock, decision, first)
        headers = {k: v for k, v in _headers(entry).items() if k.lower() != "content-type"}
        return StreamingResponse(events, entry.status, headers, media_type=framing.media_type)

    def _start_job(
        self, rt: Runtime, recorded: RecordedJob, protocol: JobProtocol, model: str | None
    ) -> Job:
        """A fresh job for a replayed submit, with an emulator asset for every output URL of
        its final answer (served once the recorded duration has passed)."""
        now = rt.clock.now()
        job = Job(
            id=rt.rng.uuid4(),
            provider=self.entries[recorded.submit].provider or "",
            model=model or self.entries[recorded.submit].operation or "",
            owner=REPLAY_OWNER,
            created_at=now,
            queue_seconds=0.0,
            run_seconds=recorded.duration,
            params={},
        )
        outputs: dict[str, str] = {}
        final = None if recorded.final is None else self.entries[recorded.final].response_json()
        for field in protocol.outputs:
            for url in field.values(final):
                if not isinstance(url, str) or url in outputs:
                    continue
                image = self.downloads.get(url)
                asset = Asset(
                    id=new_asset_id(),
                    filename=_filename(url),
                    recipe=Recipe(
                        OUTPUT_RECIPE, {"url": url, "image": None if image is None else dict(image)}
                    ),
                    available_at=job.finishes_at,
                )
                outputs[url] = asset.id
                job.outputs.append(asset.id)
                rt.store.put_asset(asset, job)
        reasons = [] if protocol.failure is None else protocol.failure.values(final)
        job.failure = next((str(reason) for reason in reasons if reason), None)
        job.params[_OUTPUTS_KEY] = {
            "submit": recorded.submit,
            "recorded_id": recorded.recorded_id,
            "outputs": outputs,
        }
        rt.store.put_job(job)
        return job

    async def _job_answer(
        self, request: Request, rt: Runtime, index: int, job: Job, protocol: JobProtocol
    ) -> Response:
        """A submit or poll answer of a replayed job: its id, its own URLs and its output
        URLs rewritten to the emulator (recording/protocols.py)."""
        entry = self.entries[index]
        body = entry.response_json()
        data = job.params[_OUTPUTS_KEY]
        recorded_id, outputs = data["recorded_id"], data["outputs"]
        base = public_base_url(request)
        if body is not None and 200 <= entry.status < 300 and protocol.job_id is not None:
            body = protocol.job_id.changed(body, lambda _old: job.id)
            for link in protocol.links:
                body = link.changed(body, partial(_own_url, base, recorded_id, job.id))
            for field in protocol.outputs:
                body = field.changed(body, partial(_asset_url, rt, base, outputs))
        return await self._plain(rt, entry, body)


def _operation_of(scope: Scope) -> Found | None:
    path = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    method = scope["method"]
    found = find_operation(method, path)
    if found is None and not path.endswith("/"):
        found = find_operation(method, path + "/")  # 3D AI Studio's paths, served without "/"
    if found is None:
        return None
    provider, operation, params = found
    return Found(provider, operation, params, path)


def _recorded_facts(entry: Entry) -> RequestFacts | None:
    if entry.provider is None or entry.operation is None:
        return None
    return RequestFacts(
        method=entry.method,
        provider=entry.provider,
        operation=entry.operation,
        path_params=entry.path_params(),
        query=urlsplit(entry.url).query,
        body=entry.request_text,
    )


def _is_poll(facts: RequestFacts) -> bool:
    protocol = job_protocol(facts.provider)
    return protocol is not None and facts.operation == protocol.poll


async def _buffered(receive: Receive, limit: int) -> tuple[bytes, Receive, bool]:
    """The request body, a receive that gives it again, and whether it is whole (a body over
    ``limit`` is left to the emulator to refuse)."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break  # a disconnect: let the emulator see it
        size += len(message.get("body", b""))
        if size > limit or not message.get("more_body", False):
            break
    whole = messages[-1]["type"] == "http.request" and not messages[-1].get("more_body", False)
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
    queued = list(messages)

    async def again() -> Message:
        return queued.pop(0) if queued else await receive()

    return body, again, whole and size <= limit


def _headers(entry: Entry) -> dict[str, str]:
    return {name: value for name, value in entry.response_headers if replayed_header(name)}


def _filename(url: str) -> str:
    """The output's file name as the emulator serves it: the recorded URL's last segment when
    it is a plain file name, else output.<format>."""
    name = PurePosixPath(urlsplit(url).path).name
    if name and all(c.isalnum() or c in "._-" for c in name) and "." in name.strip("."):
        return name
    return f"output.{pictures.spec_for_url(url).format}"


def _output_spec(recipe: Mapping[str, Any]) -> ImageSpec:
    """A replayed output file: its recorded download's descriptor, or its URL when none."""
    image = recipe["image"]
    return pictures.spec_for_url(recipe["url"]) if image is None else pictures.spec_for(image)


def _own_url(base: str, recorded_id: str, job_id: str, url: Any) -> Any:
    if not isinstance(url, str):
        return url
    parts = urlsplit(url)
    path = parts.path.replace(recorded_id, job_id)
    return f"{base}{path}" + (f"?{parts.query}" if parts.query else "")


def _asset_url(rt: Runtime, base: str, outputs: Mapping[str, str], url: Any) -> Any:
    asset_id = outputs.get(url) if isinstance(url, str) else None
    asset = None if asset_id is None else rt.store.get_asset(asset_id)
    return url if asset is None else asset.url(base)


register(OUTPUT_RECIPE, _output_spec)
