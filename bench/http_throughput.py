"""HTTP throughput of the emulator against a bare Starlette app, measured side by side with wrk.

    python -m bench.http_throughput [--duration 10] [--connections 32] [--polls-per-submit 1]
    python -m bench.http_throughput --nagle-check

Both apps run in their own subprocess on 127.0.0.1 with identical uvicorn settings (one worker,
uvloop + httptools, access log off, a pre-bound TCP_NODELAY socket); nothing is pinned. wrk
(1 thread, N connections) loads:

- `emulator`: a Lua script alternating a vibedream submit (POST, small JSON) and a poll (GET) of
  a completed prediction created beforehand (--polls-per-submit N: N polls after each submit;
  the target is set on the strict 1:1 mix, the default);
- `bare-same`: the bare app, sent the very same requests (its constant-JSON routes at the same
  paths): the ceiling for this traffic, and the target's baseline;
- `bare-get`: the bare app's `GET /` without a script, the lightest request there is, shown for
  reference.

The three are measured twice in rotating order and the best requests/s of each is kept; the
target is emulator / bare-same >= 0.70. Every wrk response must be 2xx.

--nagle-check times 200 sequential keep-alive polls against the emulator on the pre-bound
TCP_NODELAY socket (emulator.commands.serve.listen), under uvloop and under the plain asyncio
loop; as
controls that show whether the check can see the problem at all, the same on a socket pre-bound
without TCP_NODELAY (under asyncio each response then waits ~40 ms on Nagle + delayed ACK, as
uvicorn writes headers and body separately).

Exit status: 0 on success, 1 when a target is missed or a response was not 2xx, 2 when wrk is
missing.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench._servers import (
    ADVANCE,
    AUTH,
    PREDICTION,
    Z_IMAGE,
    ServerProcess,
    child_popen,
    install_sigterm_handler,
    median,
    ms,
    percentile,
    stop_process,
    z_image_body,
)

TARGET_RATIO = 0.70
ROUNDS = 2
TARGETS = {
    "bare-get": "bare app, GET / (reference)",
    "bare-same": "bare app, the same submit+poll requests (baseline)",
    "emulator": "emulator, vibedream submit+poll",
}
WARMUP_SECONDS = 1
NAGLE_POLLS = 200
NAGLE_LIMIT = 0.010  # a median above 10 ms on loopback means something waits on a timer

WRK_INSTALL = "wrk is not installed: install it with `apt-get install -y wrk` (Debian/Ubuntu)."

# wrk.format uses the headers it is given instead of wrk.headers, so both tables carry the key.
LUA_SCRIPT = """\
local n = 0
local submit_path = "%(submit)s"
local submit_body = '%(body)s'
local poll_path = nil
local post_headers = { ["Content-Type"] = "application/json", ["Authorization"] = "%(auth)s" }

init = function(args)
  poll_path = "%(poll_prefix)s" .. args[1]
  wrk.headers["Authorization"] = "%(auth)s"
end

request = function()
  n = n + 1
  if n %% %(cycle)d == 1 then
    return wrk.format("POST", submit_path, post_headers, submit_body)
  end
  return wrk.format("GET", poll_path)
end
"""


@dataclass
class WrkResult:
    requests_per_second: float
    requests: int
    non_2xx: int
    socket_errors: str | None
    output: str

    @property
    def all_2xx(self) -> bool:
        return self.non_2xx == 0 and self.socket_errors is None and self.requests > 0


WRK_TIMEOUT = "5s"


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:\s+(.+)", output)
    if rps is None or total is None:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    return WrkResult(
        requests_per_second=float(rps.group(1)),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=errors.group(1).strip() if errors else None,
        output=output,
    )


def run_wrk(
    wrk: str,
    url: str,
    duration: int,
    connections: int,
    script: Path | None = None,
    script_args: Sequence[str] = (),
    *,
    threads: int = 1,
    options: Sequence[str] = (),
) -> WrkResult:
    """One wrk run; `options` are more of wrk's own (--latency, -H ...)."""
    args = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", WRK_TIMEOUT]
    args += options
    if script is not None:
        args += ["-s", str(script)]
    args.append(url)
    if script_args:
        args += ["--", *script_args]
    proc = child_popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=duration + 30)
    finally:
        stop_process(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {(err or out).decode()}")
    return parse_wrk(out.decode())


def make_prediction(base_url: str) -> str:
    """A prediction to poll: submitted, then completed by advancing the virtual clock."""
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=30) as client:
        submitted = client.post(Z_IMAGE, json=z_image_body())
        submitted.raise_for_status()
        prediction_id: str = submitted.json()["id"]
        client.post(ADVANCE, json={"seconds": 60}).raise_for_status()
        polled = client.get(PREDICTION.format(id=prediction_id))
        polled.raise_for_status()
        if polled.json()["status"] != "completed":
            raise RuntimeError(f"prediction did not complete: {polled.json()}")
    return prediction_id


def write_lua(directory: Path, polls_per_submit: int = 1) -> Path:
    body = '{"prompt": "a cat", "size": "1024*1024", "output_format": "jpeg"}'
    script = directory / "submit_poll.lua"
    script.write_text(
        LUA_SCRIPT
        % {
            "cycle": polls_per_submit + 1,
            "submit": Z_IMAGE,
            "body": body,
            "poll_prefix": PREDICTION.format(id=""),
            "auth": AUTH["Authorization"],
        }
    )
    return script


def throughput(wrk: str, duration: int, connections: int, polls_per_submit: int = 1) -> int:
    print(
        f"http_throughput: wrk 1 thread, {connections} connections, {duration} s per run, "
        f"{ROUNDS} rounds in alternating order, best of each; "
        f"{polls_per_submit} poll(s) per submit"
    )
    best = dict.fromkeys(TARGETS, 0.0)
    failures: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp,
        ServerProcess("bare") as bare,
        ServerProcess("emulator") as emulator,
    ):
        script = write_lua(Path(tmp), polls_per_submit)
        prediction_id = make_prediction(emulator.base_url)
        targets = {
            "bare-get": (bare.base_url + "/", None, ()),
            "bare-same": (bare.base_url, script, (prediction_id,)),
            "emulator": (emulator.base_url, script, (prediction_id,)),
        }
        for url, lua, lua_args in targets.values():  # warm them up, not counted
            run_wrk(wrk, url, WARMUP_SECONDS, connections, lua, lua_args)
        for round_no in range(ROUNDS):
            order = list(TARGETS)
            shift = round_no % len(order)
            for name in order[shift:] + order[:shift]:
                url, lua, lua_args = targets[name]
                result = run_wrk(wrk, url, duration, connections, lua, lua_args)
                print(
                    f"  round {round_no + 1} {name:9s} {result.requests_per_second:10.1f} req/s"
                    f"  ({result.requests} requests, non-2xx {result.non_2xx},"
                    f" socket errors {result.socket_errors or 'none'})"
                )
                if not result.all_2xx:
                    failures.append(
                        f"{name} round {round_no + 1}: {result.non_2xx} non-2xx responses,"
                        f" socket errors: {result.socket_errors or 'none'}"
                    )
                best[name] = max(best[name], result.requests_per_second)
    for name in TARGETS:
        print(f"{name:9s} {best[name]:10.1f} req/s (best of {ROUNDS}): {TARGETS[name]}")
    ratio = best["emulator"] / best["bare-same"] if best["bare-same"] else 0.0
    verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
    print(f"ratio emulator / bare-same: {ratio:.3f} (target >= {TARGET_RATIO:.2f}) {verdict}")
    if best["bare-get"]:
        print(f"ratio emulator / bare-get:  {best['emulator'] / best['bare-get']:.3f} (reference)")
    for failure in failures:
        print(f"FAIL: {failure}")
    return 0 if verdict == "PASS" and not failures else 1


def poll_latencies(base_url: str, count: int) -> list[float]:
    prediction_id = make_prediction(base_url)
    path = PREDICTION.format(id=prediction_id)
    latencies = []
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=10) as client:
        client.get(path).raise_for_status()  # opens the keep-alive connection
        for _ in range(count):
            start = time.perf_counter()
            response = client.get(path)
            latencies.append(time.perf_counter() - start)
            response.raise_for_status()
    return latencies


NAGLE_CASES = (
    # (label, loop, TCP_NODELAY on the pre-bound socket, is this the bench's own setting)
    ("uvloop, pre-bound TCP_NODELAY", "uvloop", True, True),
    ("asyncio, pre-bound TCP_NODELAY", "asyncio", True, True),
    ("control: uvloop, no TCP_NODELAY", "uvloop", False, False),
    ("control: asyncio, no TCP_NODELAY", "asyncio", False, False),
)


def nagle_check() -> int:
    """Poll latency on the pre-bound TCP_NODELAY socket (emulator.commands.serve.listen), under
    uvloop and under the plain asyncio loop uvicorn falls back to without uvloop; the controls
    pre-bind without TCP_NODELAY, to show whether the check can see a Nagle delay at all."""
    print(f"nagle check: {NAGLE_POLLS} sequential keep-alive GET polls of one prediction")
    failed = []
    controls_delayed = []
    for label, loop, nodelay, checked in NAGLE_CASES:
        with ServerProcess("emulator", nodelay=nodelay, loop=loop) as server:
            latencies = poll_latencies(server.base_url, NAGLE_POLLS)
        mid = median(latencies)
        verdict = ("PASS" if mid < NAGLE_LIMIT else "FAIL") if checked else "control"
        print(
            f"  {label:34s} median {ms(mid):>9s}  p99 {ms(percentile(latencies, 99)):>9s}"
            f"  {verdict}"
        )
        if checked and mid >= NAGLE_LIMIT:
            failed.append(label)
        if not checked:
            controls_delayed.append(mid >= NAGLE_LIMIT)
    print(f"target: median < {ms(NAGLE_LIMIT)} on the pre-bound TCP_NODELAY socket")
    if not any(controls_delayed):
        print("note: no control showed a Nagle delay; the check may not be sensitive here")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_throughput", description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument(
        "--polls-per-submit",
        type=int,
        default=1,
        help="polls sent after each submit (1, the strict mix the target is set on; a client "
        "polling a 10-30 s job every second sends 10 or more)",
    )
    parser.add_argument(
        "--nagle-check", action="store_true", help="poll latency on the pre-bound socket instead"
    )
    args = parser.parse_args(argv)
    if args.duration < 1 or args.connections < 1 or args.polls_per_submit < 1:
        parser.error("--duration, --connections and --polls-per-submit must be at least 1")
    install_sigterm_handler()
    if args.nagle_check:
        return nagle_check()
    wrk = shutil.which("wrk")
    if wrk is None:
        print(WRK_INSTALL, file=sys.stderr)
        return 2
    return throughput(wrk, args.duration, args.connections, args.polls_per_submit)


if __name__ == "__main__":
    sys.exit(main())
