"""What `llmops-wb serve` adds over calling the model endpoint directly, side by side with the LiteLLM proxy in front
of the same endpoint: added p50 and p99 latency at concurrency 1, and the highest request rate with no errors, with
each server pinned to one core. The endpoint is bench/stub_openai.py; the service runs with its guards, limits and
metrics on.

Core 1 runs the server under test and nothing else of the bench's; what other processes took of it is reported.
Core 0 runs the stub and this process, the load generator: an asyncio HTTP/1.1 client with one keep-alive connection
per concurrent worker that reads answers by Content-Length, far lighter than httpx. The generator's own ceiling is
measured first against a canned answer served from core 1. Calling the stub directly gives the ceiling of core 0,
stub and generator together: no server behind it can go faster, and a rate near it is reported as bounded by the stub.

The stub answers after --delay seconds (1 ms by default, the same for all). Zero would let a proxy that waits on its
upstream one call at a time look as good as one that overlaps them; a real model always takes time. One millisecond
keeps that honest without needing hundreds of connections to fill a core, and it cancels out of the added latency.

LiteLLM runs from its own venv (.venv-litellm, made on first use with the pinned release) with a master key, which it
refuses to start without, and with every remote fetch it has switched off (LITELLM_ENV).

    python bench/serve_overhead.py [--requests 2000] [--seconds 3] [--delay 0.001] [--json PATH]
"""
from __future__ import annotations

import argparse
import asyncio
import ctypes
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
LLMOPS_WB = Path(sys.executable).parent / "llmops-wb"
LITELLM_PIN = "litellm[proxy]==1.108.7"
LITELLM_VENV = ROOT / ".venv-litellm"
MODEL = "bench-model"
PROMPT = "summarize@v1.1.0"
MAX_TOKENS = 16
TEXT = ("The Lisbon office moved to the new building on 3 March. Forty-two people now share two floors, the lease "
        "runs to 2031, and the move came in 4% under its budget of 180,000 euros.")
# Every remote fetch LiteLLM 1.108.7 makes, switched off; each has a bundled copy it falls back to.
LITELLM_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # the price map, else fetched from GitHub at import
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",  # the Anthropic beta-header table, likewise
    "LITELLM_LOCAL_BLOG_POSTS": "True",  # the Admin UI's news feed
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",  # the guardrail policy templates
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",  # the auto-router presets
    "LITELLM_TELEMETRY_DISABLED": "True",  # the veto over usage telemetry (off unless configured since 1.107)
    "LITELLM_TELEMETRY": "False",  # the switch of releases before 1.107; unread by this one
    "HF_HUB_OFFLINE": "1",  # tokenizers come from the package, never from the Hub
    "LITELLM_LOG": "WARNING",  # no access line per request, as llmops-wb serve without --access-log
}


class BenchError(Exception):
    "A server that would not start, or answered something other than what the bench asked for."


# ---- processes ------------------------------------------------------------------------------------------------------

def _die_with_parent() -> None:
    "In the child, before exec: be sent SIGTERM if the bench dies, even by SIGKILL (Linux prctl PR_SET_PDEATHSIG)."
    try: ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError): pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(group: int) -> float:
    "User plus system CPU time of every living process in the process group `group`, in seconds."
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit(): continue
        try: stat = Path(entry.path, "stat").read_text()
        except OSError: continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == group: total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def core_times() -> dict[str, tuple[int, int]]:
    "Per core, from /proc/stat: (busy, total) clock ticks since boot."
    times = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3].isdigit():
            name, *ticks = line.split()
            ticks = [int(t) for t in ticks[:8]]
            times[name[3:]] = (sum(ticks) - ticks[3] - ticks[4], sum(ticks))  # less idle and iowait
    return times


@dataclass
class Server:
    "One process the bench started, in a session of its own so that its whole tree stops together."
    name: str
    proc: subprocess.Popen
    port: int
    log: Path

    def tail(self, lines: int = 15) -> str:
        try: return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError: return ""

    def wait_ready(self, path: str, timeout_s: float = 120.0) -> float:
        "Poll GET `path` until it answers 200; returns the seconds it took."
        start = time.perf_counter()
        while time.perf_counter() - start < timeout_s:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode} before it was ready:\n{self.tail()}")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", path)
                if conn.getresponse().status == 200: return time.perf_counter() - start
            except OSError: pass
            finally: conn.close()
            time.sleep(0.1)
        raise BenchError(f"{self.name} did not answer GET {path} with 200 within {timeout_s:.0f} s:\n{self.tail()}")

    def stop(self) -> None:
        "SIGTERM to the server's process group, then SIGKILL to whatever of it is left after 10 s (workers included)."
        try: os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError: pass
        try: self.proc.wait(10)
        except subprocess.TimeoutExpired: pass
        try: os.killpg(self.proc.pid, signal.SIGKILL)  # the group's id stays taken while any member of it lives
        except ProcessLookupError: pass
        self.proc.wait()


@dataclass
class Servers:
    "Every server of one run; `pin` maps a role to a `taskset -c` prefix, empty where the machine has one core."
    workdir: Path
    pin: dict[str, list[str]]
    running: dict[str, Server] = field(default_factory=dict)

    def start(self, name: str, role: str, command: list[str], env: dict | None = None, cwd: Path | None = None,
              port: int | None = None) -> Server:
        log = self.workdir / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(self.pin[role] + command, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True,
                                    preexec_fn=_die_with_parent)
        server = Server(name, proc, port or 0, log)
        self.running[name] = server
        return server

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(s.proc.pid) for name, s in self.running.items()}

    def stop(self, name: str) -> None:
        self.running.pop(name).stop()

    def close(self) -> None:
        for name in list(self.running): self.stop(name)


def child_env(**extra: str) -> dict[str, str]:
    "This environment without proxies, model credentials, the workbench's own settings or an OTLP exporter."
    drop = ("OPENAI_", "LLMOPS_WB_", "OTEL_", "LITELLM_", "PROMPT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop) and not k.lower().endswith("_proxy")}
    return {**env, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", **extra}


# ---- the load generator ---------------------------------------------------------------------------------------------

class AnswerError(Exception):
    "An answer this client cannot read: no Content-Length and not chunked."


class Connection:
    "One keep-alive HTTP/1.1 connection to 127.0.0.1:`port`: write a prepared request, read the status and body."

    def __init__(self, port: int):
        self.port, self.reader, self.writer = port, None, None

    async def open(self) -> Connection:
        self.close()
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    def close(self) -> None:
        if self.writer is not None: self.writer.close()
        self.reader = self.writer = None

    async def send(self, payload: bytes) -> tuple[int, bytes]:
        if self.writer is None: await self.open()
        self.writer.write(payload)
        try: head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as e:
            if e.partial: raise
            # the server closed a connection that sat idle past its keep-alive timeout: open another, as clients do
            self.close()
            await self.open()
            self.writer.write(payload)
            head = await self.reader.readuntil(b"\r\n\r\n")
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        if at >= 0: body = await self.reader.readexactly(int(lower[at + 17:lower.index(b"\r\n", at + 2)]))
        elif b"\r\ntransfer-encoding: chunked" in lower: body = await self._chunks()
        else: raise AnswerError(head[:200].decode(errors="replace"))
        if b"\r\nconnection: close" in lower: self.close()
        return int(head[9:12]), body

    async def _chunks(self) -> bytes:
        parts = []
        while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append((await self.reader.readexactly(size + 2))[:-2])
        await self.reader.readuntil(b"\r\n")  # no trailers are sent to us
        return b"".join(parts)


@dataclass
class Target:
    "Where requests go and what they carry; `body(n)` is worker n's request body."
    name: str
    port: int
    path: str
    body: Callable[[int], bytes]
    headers: dict[str, str] = field(default_factory=dict)
    check: str = "choices"  # the key a good answer's JSON holds
    _payloads: dict[int, bytes] = field(default_factory=dict)

    def payload(self, worker: int) -> bytes:
        "The full request bytes of `worker`, built once."
        if worker not in self._payloads:
            body = self.body(worker)
            head = [f"POST {self.path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", "Content-Type: application/json",
                    f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in self.headers.items())]
            self._payloads[worker] = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        return self._payloads[worker]


async def check(target: Target) -> dict:
    "Send one request and insist on a 2xx JSON answer holding `target.check`; returns the answer."
    conn = await Connection(target.port).open()
    try: status, body = await conn.send(target.payload(0))
    finally: conn.close()
    try: answer = json.loads(body)
    except ValueError: answer = None
    if not 200 <= status < 300 or not isinstance(answer, dict) or target.check not in answer:
        raise BenchError(f"{target.name} answered {status}: {body[:300].decode(errors='replace')}")
    return answer


def percentile(values: list[float], q: float) -> float:
    "The `q`-th percentile of `values` (nearest rank)."
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def latencies(targets: list[Target], n: int, warmup: int, block: int = 100) -> dict[str, dict]:
    "At concurrency 1: `warmup` requests to each target, then `n` each in interleaved blocks, rotating the order."
    conns = {t.name: await Connection(t.port).open() for t in targets}
    times = {t.name: [] for t in targets}
    errors = dict.fromkeys(times, 0)
    for t in targets:
        for _ in range(warmup): await conns[t.name].send(t.payload(0))
    for i, start in enumerate(range(0, n, block)):
        for t in targets[i % len(targets):] + targets[:i % len(targets)]:
            conn, payload = conns[t.name], t.payload(0)
            for _ in range(min(block, n - start)):
                begin = time.perf_counter()
                status, _ = await conn.send(payload)
                times[t.name].append(time.perf_counter() - begin)
                errors[t.name] += not 200 <= status < 300
    for conn in conns.values(): conn.close()
    return {name: {"p50_ms": percentile(ts, 50) * 1000, "p99_ms": percentile(ts, 99) * 1000,
                   "mean_ms": statistics.fmean(ts) * 1000, "errors": errors[name]} for name, ts in times.items()}


async def closed_loop(target: Target, concurrency: int, seconds: float, warmup_s: float = 0.5) -> dict:
    "`concurrency` workers, each sending its next request when the last is answered; counts answers in the window."
    conns = [Connection(target.port) for _ in range(concurrency)]
    window_start = time.perf_counter() + warmup_s
    window_end = window_start + seconds
    ok, errors, times = 0, 0, []

    async def worker(i: int) -> None:
        nonlocal ok, errors
        conn, payload = conns[i], target.payload(i)
        while (begin := time.perf_counter()) < window_end:
            try:
                status, _ = await conn.send(payload)
                good = 200 <= status < 300
            except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, AnswerError):
                good = False
                conn.close()
                await asyncio.sleep(0.01)
            end = time.perf_counter()
            if not good: errors += 1
            elif window_start <= begin and end <= window_end:
                ok += 1
                times.append(end - begin)

    tasks = [asyncio.ensure_future(worker(i)) for i in range(concurrency)]
    _, stuck = await asyncio.wait(tasks, timeout=warmup_s + seconds + 30)
    for task in stuck: task.cancel()
    errors += len(stuck)
    for conn in conns: conn.close()
    return {"concurrency": concurrency, "rps": ok / seconds, "errors": errors,
            "p50_ms": percentile(times, 50) * 1000 if times else None,
            "p99_ms": percentile(times, 99) * 1000 if times else None}


def sweep(target: Target, servers: Servers, seconds: float, max_concurrency: int, patience: int | None = 2) -> dict:
    "Double the concurrency until errors, or until `patience` doublings gain under 3%; the best error-free step wins."
    steps, best, flat = [], None, 0
    concurrency = 1
    while concurrency <= max_concurrency:
        cpu_before, cores_before, wall_before = servers.cpu(), core_times(), time.perf_counter()
        step = asyncio.run(closed_loop(target, concurrency, seconds))
        wall = time.perf_counter() - wall_before
        step["cpu_percent"] = {name: 100 * (s - cpu_before.get(name, s)) / wall for name, s in servers.cpu().items()}
        step["core_busy_percent"] = {core: 100 * (busy - cores_before[core][0]) / max(1, total - cores_before[core][1])
                                     for core, (busy, total) in core_times().items() if core in cores_before}
        steps.append(step)
        if step["errors"]: break
        flat = 0 if best is None or step["rps"] > best["rps"] * 1.03 else flat + 1
        if best is None or step["rps"] > best["rps"]: best = step
        if flat == patience: break  # never, for None
        concurrency *= 2
    if best is None: return {"max_rps": 0.0, "at_concurrency": None, "cpu_percent": {}, "steps": steps}
    return {"max_rps": best["rps"], "at_concurrency": best["concurrency"], "cpu_percent": best["cpu_percent"],
            "core_busy_percent": best["core_busy_percent"], "steps": steps}


# ---- the servers ----------------------------------------------------------------------------------------------------

CANNED = json.dumps({"choices": [{"message": {"role": "assistant", "content": "ok"}}]}).encode()


def null_server(port: int) -> None:
    "Answer every request on 127.0.0.1:`port` with one canned body and do nothing else: the generator's own ceiling."
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(CANNED) + CANNED

    class Canned(asyncio.Protocol):
        def connection_made(self, transport): self.transport, self.buffer = transport, b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
                match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", self.buffer[:end + 2])
                size = end + 4 + (int(match[1]) if match else 0)
                if len(self.buffer) < size: return
                self.buffer = self.buffer[size:]
                self.transport.write(answer)

    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(Canned, "127.0.0.1", port)
        await server.serve_forever()

    asyncio.run(serve())


def rendered_prompt() -> tuple[str, dict[str, str]]:
    "The summarize prompt rendered with TEXT, and the variables the service is sent (one per placeholder)."
    task, version = PROMPT.split("@")
    template = (ROOT / "prompts" / task / f"{version}.txt").read_text().split("\n", 1)[1]
    names = dict.fromkeys(re.findall(r"\{([A-Za-z_]\w*)\}", template))
    variables = {name: TEXT for name in names}
    return re.sub(r"\{([A-Za-z_]\w*)\}", lambda m: variables[m[1]], template).strip(), variables


def serve_available(llmops_wb: Path) -> str | None:
    "Why `llmops-wb serve` cannot be run, or None when it can."
    if not llmops_wb.exists(): return f"{llmops_wb} does not exist"
    done = subprocess.run([str(llmops_wb), "serve", "--help"], capture_output=True, text=True, env=child_env())
    return None if done.returncode == 0 else f"`llmops-wb serve` is not there yet ({done.stderr.strip()[-200:]})"


SETTINGS = f"""\
[model]
max_tokens = {MAX_TOKENS}

[serve]
models = openai:{MODEL}

[limits]
store = memory
rate_per_minute = 1000000
monthly_token_budget = 1000000000000

[tracking]
enabled = false

[prices]
{MODEL} = 0.15, 0.60
"""


def start_service(servers: Servers, llmops_wb: Path, stub_port: int) -> Server:
    "`llmops-wb serve` in a throwaway project holding the summarize prompt, one worker, against the stub."
    project = servers.workdir / "project"
    task, version = PROMPT.split("@")
    (project / "prompts" / task).mkdir(parents=True)
    shutil.copy(ROOT / "prompts" / task / f"{version}.txt", project / "prompts" / task)
    (project / "settings.ini").write_text(SETTINGS)
    env = child_env(LLMOPS_WB_ROOT=str(project), PROMPT_VERSION=PROMPT, OPENAI_API_KEY="stub",
                    OPENAI_BASE_URL=f"http://127.0.0.1:{stub_port}/v1")
    port = free_port()
    command = [str(llmops_wb), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    server = servers.start("llmops-wb", "server", command, env=env, cwd=project, port=port)
    server.wait_ready("/readyz")
    return server


def litellm_command(venv: Path = LITELLM_VENV) -> Path:
    "The `litellm` command of `venv`, holding LITELLM_PIN; the venv is made (from the package registry) when missing."
    exe, python = venv / "bin" / "litellm", venv / "bin" / "python"
    want = LITELLM_PIN.split("==")[1]
    probe = [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"]
    if exe.exists() and subprocess.run(probe, capture_output=True, text=True).stdout.strip() == want: return exe
    print(f"installing {LITELLM_PIN} into {venv} (once)", flush=True)
    steps = [[sys.executable, "-m", "venv", str(venv)], [str(python), "-m", "pip", "install", "-q", LITELLM_PIN]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode:
            raise BenchError(f"{' '.join(step)} failed:\n{(done.stdout + done.stderr).strip()[-1500:]}")
    return exe


def start_litellm(servers: Servers, exe: Path, stub_port: int, master_key: str) -> Server:
    "The LiteLLM proxy with one model, `bench-model` on the stub, one worker, no database and no remote fetches."
    folder = servers.workdir / "litellm"  # its own folder, so that no .env of ours is loaded
    folder.mkdir()
    (folder / "config.yaml").write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: http://127.0.0.1:{stub_port}/v1\n"
        "      api_key: stub\n"
        "      input_cost_per_token: 0.00000015\n"  # the prices the service is given, so both price each call
        "      output_cost_per_token: 0.0000006\n")
    port = free_port()
    command = [str(exe), "--config", "config.yaml", "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    env = child_env(**LITELLM_ENV, LITELLM_MASTER_KEY=master_key)
    server = servers.start("litellm", "server", command, env=env, cwd=folder, port=port)
    server.wait_ready("/health/liveliness")
    return server


# ---- the run --------------------------------------------------------------------------------------------------------

def pinning(server_core: int, client_core: int) -> dict[str, list[str]]:
    "`taskset` prefixes per role; none when the machine cannot give the two roles a core each."
    usable = os.sched_getaffinity(0)
    if {server_core, client_core} <= usable and server_core != client_core and shutil.which("taskset"):
        return {"server": ["taskset", "-c", str(server_core)], "client": ["taskset", "-c", str(client_core)]}
    return {"server": [], "client": []}


def generator_ceiling(servers: Servers, body: bytes, seconds: float) -> dict:
    "The load generator's sweep against canned answers served from the server core: what it can do on its own."
    port = free_port()
    canned = servers.start("canned", "server", [sys.executable, __file__, "--null-server", str(port)], port=port)
    canned.wait_ready("/")
    try: return sweep(Target("canned", port, "/", lambda n: body), servers, seconds, 256, patience=None)
    finally: servers.stop("canned")


def caller_bodies(variables: dict[str, str]) -> Callable[[int], bytes]:
    "The service's request body for worker n: the prompt's variables, and a caller of its own."
    return lambda n: json.dumps({"variables": variables, "caller": f"bench-{n}"}).encode()


def measure(args: argparse.Namespace, servers: Servers, result: dict) -> None:
    "Start what `args` asks for, measure latency at concurrency 1 (interleaved) and sweep each rate, into `result`."
    prompt, variables = rendered_prompt()
    litellm = None
    if args.skip_litellm: result["litellm"] = {"skipped": "--skip-litellm"}
    else:
        try: litellm = litellm_command()
        except BenchError as e: result["litellm"] = {"error": str(e)}
    chat = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": prompt}],
                       "max_tokens": MAX_TOKENS}).encode()

    result["generator"] = generator_ceiling(servers, chat, args.seconds)
    print(f"load generator ceiling (canned answers from the server core): {result['generator']['max_rps']:.0f} rps "
          f"at concurrency {result['generator']['at_concurrency']}", flush=True)

    port = free_port()
    servers.start("stub", "client", [sys.executable, str(BENCH / "stub_openai.py"), "--port", str(port),
                                     "--delay", str(args.delay)], port=port).wait_ready("/stats")
    targets = [Target("stub", port, "/v1/chat/completions", lambda n: chat)]
    stub_port = port

    if args.skip_service: result["llmops_wb"] = {"skipped": "--skip-service"}
    elif reason := serve_available(args.llmops_wb): result["llmops_wb"] = {"skipped": reason}
    else:
        try:
            service = start_service(servers, args.llmops_wb, stub_port)
            targets.append(Target("llmops-wb", service.port, "/v1/tasks/summarize/run", caller_bodies(variables),
                                  check="output"))
        except BenchError as e: result["llmops_wb"] = {"error": str(e)}

    if litellm:
        master_key = "sk-bench-" + secrets.token_hex(16)
        try:
            proxy = start_litellm(servers, litellm, stub_port, master_key)
            targets.append(Target("litellm", proxy.port, "/v1/chat/completions", lambda n: chat,
                                  {"Authorization": f"Bearer {master_key}"}))
        except BenchError as e: result["litellm"] = {"error": str(e)}

    for t in list(targets):
        try: asyncio.run(check(t))
        except BenchError as e:
            result[t.name.replace("-", "_")] = {"error": str(e)}
            targets.remove(t)
    if not targets or targets[0].name != "stub": raise BenchError(result["stub"]["error"])

    print(f"latency at concurrency 1: {args.requests} requests each, interleaved", flush=True)
    lat = asyncio.run(latencies(targets, args.requests, args.warmup))
    for t in targets:
        key = t.name.replace("-", "_")
        print(f"rate sweep: {t.name}", flush=True)
        result[key] = {**lat[t.name], **sweep(t, servers, args.seconds, args.max_concurrency)}
        if key != "stub":
            result[key]["added_p50_ms"] = result[key]["p50_ms"] - result["stub"]["p50_ms"]
            result[key]["added_p99_ms"] = result[key]["p99_ms"] - result["stub"]["p99_ms"]
            result[key]["bounded_by_stub"] = result[key]["max_rps"] >= 0.8 * result["stub"]["max_rps"]
            # what else ran on the server's core at its best step: other people's processes, on a shared machine
            busy = result[key]["core_busy_percent"].get(str(args.server_core))
            if busy is not None and servers.pin["server"]:
                result[key]["others_on_server_core_percent"] = max(0.0, busy - result[key]["cpu_percent"][t.name])


def ratios(result: dict) -> dict:
    ours, theirs = result.get("llmops_wb", {}), result.get("litellm", {})
    if "max_rps" not in ours or "max_rps" not in theirs: return {}
    return {"rps_llmops_wb_over_litellm": ours["max_rps"] / theirs["max_rps"] if theirs["max_rps"] else None,
            "added_p50_litellm_over_llmops_wb": (theirs["added_p50_ms"] / ours["added_p50_ms"]
                                                 if ours["added_p50_ms"] > 0 else None),
            "goal_added_p50_at_most_2ms": ours["added_p50_ms"] <= 2.0,
            "goal_rps_at_least_3x_litellm": ours["max_rps"] >= 3 * theirs["max_rps"]}


def report(result: dict) -> None:
    "Print the table, the ratios, and why a row is missing."
    def ms(v): return f"{v:.2f}" if isinstance(v, float) else "-"
    print(f"\n{'':<18}{'p50 ms':>9}{'p99 ms':>9}{'added p50':>11}{'added p99':>11}{'max rps':>10}{'at conc.':>10}"
          f"{'CPU %':>8}")
    for key, label in (("stub", "stub direct"), ("llmops_wb", "llmops-wb serve"), ("litellm", "litellm proxy")):
        row = result.get(key, {})
        if "max_rps" not in row:
            print(f"{label:<18}{row.get('skipped') or row.get('error', 'not run').splitlines()[0]}")
            continue
        cpu = row["cpu_percent"].get("stub" if key == "stub" else key.replace("_", "-"), 0.0)
        print(f"{label:<18}{ms(row['p50_ms']):>9}{ms(row['p99_ms']):>9}{ms(row.get('added_p50_ms')):>11}"
              f"{ms(row.get('added_p99_ms')):>11}{row['max_rps']:>10.0f}{row['at_concurrency']:>10}{cpu:>8.0f}"
              + ("  (bounded by the stub's core)" if row.get("bounded_by_stub") else "")
              + (f"  (other processes took {row['others_on_server_core_percent']:.0f}% of its core)"
                 if row.get("others_on_server_core_percent", 0) > 10 else ""))
    for key in ("llmops_wb", "litellm"):
        if "error" in result.get(key, {}): print(f"\n{key}: {result[key]['error']}")
    r = result["ratios"]
    if r:
        def x(v): return f"{v:.2f}" if v is not None else "n/a"
        print(f"llmops-wb rps / litellm rps = {x(r['rps_llmops_wb_over_litellm'])} (goal >= 3: "
              f"{'met' if r['goal_rps_at_least_3x_litellm'] else 'not met'}); litellm added p50 / llmops-wb added "
              f"p50 = {x(r['added_p50_litellm_over_llmops_wb'])}; llmops-wb added p50 "
              f"{result['llmops_wb']['added_p50_ms']:.2f} ms (goal <= 2 ms: "
              f"{'met' if r['goal_added_p50_at_most_2ms'] else 'not met'})")
    machine = result["machine"]
    print(f"cores: {machine['roles']}; load average {machine['loadavg_start'][0]:.1f} at the start, "
          f"{machine['loadavg_end'][0]:.1f} at the end; stub delay {result['settings']['delay_s'] * 1000:g} ms")
    print(f"the load generator alone reached {result['generator']['max_rps']:.0f} rps; the stub's own rate (stub "
          f"direct) bounds every server behind it")


def main(requests: int = 2000, warmup: int = 200, seconds: float = 3.0, delay: float = 0.001,
         max_concurrency: int = 128, json_path: Path | None = None, skip_service: bool = False,
         skip_litellm: bool = False, llmops_wb: Path = LLMOPS_WB, server_core: int = 1, client_core: int = 0) -> dict:
    args = argparse.Namespace(requests=requests, warmup=warmup, seconds=seconds, delay=delay,
                              max_concurrency=max_concurrency, skip_service=skip_service, skip_litellm=skip_litellm,
                              llmops_wb=Path(llmops_wb), server_core=server_core)
    pin = pinning(server_core, client_core)
    roles = ({str(client_core): "stub and load generator", str(server_core): "server under test"} if pin["server"]
             else {"all": "unpinned: fewer than two usable cores"})
    cpu_model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "unknown")
    result = {"machine": {"cores": os.cpu_count(), "cpu": cpu_model, "roles": roles,
                          "python": sys.version.split()[0], "generator_loop": "asyncio (stdlib)",
                          "loadavg_start": os.getloadavg()},
              "settings": {"delay_s": delay, "requests": requests, "warmup": warmup, "seconds_per_step": seconds,
                           "max_concurrency": max_concurrency, "litellm": LITELLM_PIN, "prompt": PROMPT,
                           "max_tokens": MAX_TOKENS, "litellm_env": LITELLM_ENV}}
    affinity = os.sched_getaffinity(0)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler) if in_main else None
    servers = Servers(Path(tempfile.mkdtemp(prefix="bench-serve-")), pin)
    try:
        if pin["client"]: os.sched_setaffinity(0, {client_core})
        measure(args, servers, result)
    finally:
        servers.close()
        os.sched_setaffinity(0, affinity)
        if previous is not None: signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(servers.workdir, ignore_errors=True)
    result["machine"]["loadavg_end"] = os.getloadavg()
    result["ratios"] = ratios(result)
    report(result)
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per server for the latency figures")
    parser.add_argument("--warmup", type=int, default=200, help="requests per server before those")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each step of the rate sweep")
    parser.add_argument("--delay", type=float, default=0.001, help="the stub's answer delay, in seconds")
    parser.add_argument("--max-concurrency", type=int, default=128)
    parser.add_argument("--json", dest="json_path", type=Path, help="write the figures here as JSON")
    parser.add_argument("--skip-service", action="store_true")
    parser.add_argument("--skip-litellm", action="store_true")
    parser.add_argument("--llmops-wb", type=Path, default=LLMOPS_WB, help="the llmops-wb command to serve with")
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument("--client-core", type=int, default=0)
    parser.add_argument("--null-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.null_server: null_server(args.null_server)
    else:
        try: main(**{k: v for k, v in vars(args).items() if k != "null_server"})
        except KeyboardInterrupt: sys.exit(130)
        except BenchError as e: sys.exit(f"error: {e}")
