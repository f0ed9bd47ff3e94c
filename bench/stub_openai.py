"""An OpenAI-compatible chat-completions stub for benchmarks and tests, on loopback only.

The model name picks the behaviour, so one server serves every fault at once:

    any name            answer after the server's --delay seconds
    sleep-<s>           answer after <s> seconds (a timeout, for a short client timeout)
    status-<code>       answer HTTP <code> with an OpenAI-shaped error body (400, 429, 503, ...)
    busy-<n>-<s>        answer 429 with Retry-After: <s> to the first <n> requests of this name, then answer
    down-<n>            answer 503 to the first <n> requests of this name, then answer
    judge-<n>           answer as a judge would: {"score": <n>, "reason": "stub"}
    cached-<n>          answer, reporting <n> of the prompt tokens as cached
    nousage             answer without a usage object
    malformed           answer HTTP 200 with a body that has no choices
    stall-<n>-<s>       when streaming: send <n> pieces, then go silent for <s> seconds before the rest
    drip-<s>            when streaming: wait <s> seconds before each piece
    unsure-<x>          when log-probabilities are asked for, give every word log-probability -<x> (else -0.01)

With "stream": true the answer comes as server-sent events, one word per chunk, and the usage in a last chunk when
"stream_options": {"include_usage": true} asks for it (never for nousage).

With "logprobs": true each word of the answer comes with its log-probability (choices[].logprobs.content), in
each streamed chunk as in a whole answer.

The answer echoes the longest paragraph of the last user message, cut to max_tokens words; usage counts words.
GET /stats returns the number of requests per model; POST /reset clears it.

    python bench/stub_openai.py --port 8911 --delay 0.2
"""
from __future__ import annotations

import argparse
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: the headers and the body go out in two writes, and with Nagle's algorithm on the body waits for
    # the client's delayed ACK of the headers, about 40 ms on Linux; that added 44 ms to every call on keep-alive.
    disable_nagle_algorithm = True
    delay_s = 0.0
    counts: Counter = Counter()
    lock = threading.Lock()

    def log_message(self, *args): pass

    def _send(self, status: int, body: dict, headers: dict | None = None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items(): self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/") == "/stats": self._send(200, dict(self.counts))
        else: self._send(404, {"error": {"message": "not found"}})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path.rstrip("/") == "/reset":
            with self.lock: self.counts.clear()
            return self._send(200, {})
        if not self.path.rstrip("/").endswith("/chat/completions"):
            return self._send(404, {"error": {"message": "not found"}})
        model = body.get("model", "")
        with self.lock:
            self.counts[model] += 1
            seen = self.counts[model]
        if model.startswith("busy-") and seen <= int(model.split("-")[1]):
            return self._send(429, {"error": {"message": "stub busy", "type": "rate_limit_exceeded",
                                              "code": "rate_limit_exceeded"}}, {"Retry-After": model.split("-")[2]})
        if model.startswith("down-") and seen <= int(model.split("-")[1]):
            return self._send(503, {"error": {"message": "stub down", "type": "server_error", "code": "server_error"}})
        if model.startswith("status-"):
            status = int(model.split("-")[1])
            code = {400: "invalid_request", 429: "rate_limit_exceeded"}.get(status, "server_error")
            return self._send(status, {"error": {"message": f"stub {status}", "type": code, "code": code}},
                              {"Retry-After": "0"} if status == 429 else None)
        if model == "malformed": return self._send(200, {"error": {"message": "stub malformed"}})
        time.sleep(float(model.split("-")[1]) if model.startswith("sleep-") else self.delay_s)
        prompt = body["messages"][-1]["content"]
        if model.startswith("judge-"): prompt = json.dumps({"score": int(model.split("-")[1]), "reason": "stub"})
        words = max(prompt.split("\n\n"), key=len).split()
        out = words[: int(body.get("max_tokens") or 256)]
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(out),
                 "total_tokens": len(prompt.split()) + len(out)}
        if model.startswith("cached-"): usage["prompt_tokens_details"] = {"cached_tokens": int(model.split("-")[1])}
        logprob = (-float(model.split("-")[1]) if model.startswith("unsure-") else -0.01) \
            if body.get("logprobs") else None
        if body.get("stream"):
            with_usage = (body.get("stream_options") or {}).get("include_usage") and model != "nousage"
            return self._stream(model, out, len(out) < len(words), usage if with_usage else None, logprob)
        answer = {"id": "chatcmpl-stub", "object": "chat.completion", "created": int(time.time()), "model": model,
                  "choices": [{"index": 0, "finish_reason": "length" if len(out) < len(words) else "stop",
                               "message": {"role": "assistant", "content": " ".join(out)}}]}
        if logprob is not None: answer["choices"][0]["logprobs"] = _logprobs(out, logprob)
        if model != "nousage": answer["usage"] = usage
        self._send(200, answer)


    def _stream(self, model: str, words: list[str], cut: bool, usage: dict | None, logprob: float | None = None):
        "Answer as server-sent events: one chunk per word, the finish reason, the usage if asked, then [DONE]."
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        stall = model.split("-") if model.startswith("stall-") else None
        drip = float(model.split("-")[1]) if model.startswith("drip-") else 0.0
        def chunk(delta: dict, finish: str | None = None, usage: dict | None = None, choices: bool = True):
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            if logprob is not None and delta.get("content"): choice["logprobs"] = _logprobs([delta["content"]], logprob)
            event = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": model, "choices": [choice] if choices else [], "usage": usage}
            self._chunk(f"data: {json.dumps(event)}\n\n".encode())
        try:
            chunk({"role": "assistant", "content": ""})
            for i, word in enumerate(words):
                if stall and i == int(stall[1]): time.sleep(float(stall[2]))
                if drip: time.sleep(drip)
                chunk({"content": word if i == 0 else " " + word})
            chunk({}, "length" if cut else "stop")
            if usage: chunk({}, usage=usage, choices=False)
            self._chunk(b"data: [DONE]\n\n")
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError):  # the client went away mid-stream
            self.close_connection = True

    def _chunk(self, data: bytes):
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _logprobs(tokens: list[str], logprob: float) -> dict:
    return {"content": [{"token": t, "logprob": logprob, "bytes": list(t.encode()), "top_logprobs": []}
                        for t in tokens]}


def serve(port: int = 0, delay_s: float = 0.0) -> ThreadingHTTPServer:
    "Start the stub on 127.0.0.1:`port` (0 picks a free port) in a daemon thread; returns the server."
    handler = type("Handler", (StubHandler,), {"delay_s": delay_s, "counts": Counter(), "lock": threading.Lock()})
    server_class = type("Server", (ThreadingHTTPServer,), {"request_queue_size": 256, "daemon_threads": True})
    server = server_class(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8911)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    server = serve(args.port, args.delay)
    print(f"stub on http://127.0.0.1:{server.server_port}/v1", flush=True)
    try: threading.Event().wait()
    except KeyboardInterrupt: server.shutdown()
