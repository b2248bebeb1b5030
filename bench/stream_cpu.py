"""Server CPU of a streamed answer against the unary one: `python -m bench.stream_cpu [--runs 20]`.

The emulator runs in its own process (bench._servers). Each round sends a batch of
generateContent calls and a batch of streamGenerateContent (?alt=sse) calls for the same 1K
image request, each with a prompt of its own (so every request renders its picture: nothing
comes from the image cache), and reads the server process's CPU time (/proc/PID/stat, user +
system, in 10 ms ticks: hence batches) around each batch. The rounds alternate the order, so
drift on this shared machine falls on both alike. Target: the stream costs at most 1.10x the
unary answer's server CPU (all rounds summed).

Exit status 0 when the target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import httpx

from bench._servers import ServerProcess, process_cpu_seconds, vertex_body

TARGET = 1.10
MODEL_PATH = "/v1beta/models/gemini-3-pro-image-preview"
HEADERS = {"x-goog-api-key": "bench"}


def server_cpu(client: httpx.Client, pid: int, path: str, prompts: list[str]) -> float:
    """The server's CPU seconds for one request per prompt, each read to its last byte."""
    before = process_cpu_seconds(pid)
    for prompt in prompts:
        with client.stream("POST", path, json=vertex_body(prompt), headers=HEADERS) as answer:
            answer.raise_for_status()
            size = sum(len(piece) for piece in answer.iter_raw())
        if size < 1000:
            raise RuntimeError(f"{path}: an answer of {size} bytes holds no image")
    return process_cpu_seconds(pid) - before


def measure(runs: int, batch: int) -> tuple[list[float], list[float]]:
    unary_path = f"{MODEL_PATH}:generateContent"
    stream_path = f"{MODEL_PATH}:streamGenerateContent?alt=sse"
    unary: list[float] = []
    streamed: list[float] = []
    with ServerProcess("emulator") as server, httpx.Client(base_url=server.base_url) as client:
        server_cpu(client, server.pid, unary_path, ["warm-up"])  # fonts, codecs
        for run in range(runs):
            pair = [("unary", unary_path, unary), ("stream", stream_path, streamed)]
            for kind, path, timings in pair if run % 2 == 0 else reversed(pair):
                prompts = [f"run {run} {kind} {n}: a kite" for n in range(batch)]
                timings.append(server_cpu(client, server.pid, path, prompts))
    return unary, streamed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="rounds (default 10)")
    parser.add_argument("--batch", type=int, default=10, help="requests of each kind a round")
    args = parser.parse_args(argv)
    unary, streamed = measure(args.runs, args.batch)
    count = args.runs * args.batch
    ratio = sum(streamed) / sum(unary)
    print(
        f"server CPU per 1K answer over {count} of each: unary {sum(unary) / count * 1000:.1f}"
        f" ms, streamed {sum(streamed) / count * 1000:.1f} ms; streamed / unary {ratio:.3f}"
        f" (target <= {TARGET:.2f}); per round: "
        + ", ".join(f"{s / u:.2f}" for s, u in zip(streamed, unary, strict=True) if u > 0)
    )
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
