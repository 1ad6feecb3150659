"""A scripted OpenAI-compatible HTTP server: tests, benchmarks and checking a setup offline.

``python -m anomalyagent.models.scripted_server --port 8000`` serves on 127.0.0.1 until
Ctrl-C; tests use ``with Server(Responder()) as url:`` (an ephemeral port).

Routes: ``POST /v1/chat/completions`` and ``POST /v1/images/edits``. Answers come from a
scripted responder that plays three roles, told apart by the prompt it receives:

- the policy (system prompt of the agent): an expert script reading the last tool turn
  (PG -> IG -> QE -> [KR -> IG -> QE] -> MG -> answer); ``bad_first`` makes its first
  reply of every episode malformed, to show the loop's error observation and recovery;
- the PG writer ("You write image-editing instructions"): one instruction sentence;
- the QE judge ("strict industrial visual inspector"): JSON scores (``judge_scores``).

The image-edit route darkens the region the mask leaves transparent. Every request is
recorded (route, headers, JSON or form fields, image counts) for assertions; ``delay``
seconds of sleep per call simulate a model's latency.
"""
from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np


@dataclass
class Responder:
    delay: float = 0.0
    bad_first: bool = False
    judge_scores: tuple[float, float] = (4.0, 3.5)
    answer_at_once: bool = False  # the policy answers on its first turn (one call per episode)
    fail: int = 0  # answer this many requests with HTTP 503 first (retry tests)
    in_flight: int = 0  # requests being answered now
    max_in_flight: int = 0  # the most answered at once
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, item: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(item)

    # -- chat ----------------------------------------------------------------------------
    def chat(self, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        messages = body["messages"]
        images = sum(1 for m in messages if isinstance(m["content"], list)
                     for p in m["content"] if p.get("type") == "image_url")
        first = messages[0]["content"] if messages else ""
        first = first if isinstance(first, str) else " ".join(p.get("text", "") for p in first if isinstance(p, dict))
        text_all = json.dumps(messages)
        if "industrial anomaly synthesis agent" in first:
            role, text = "policy", self.policy(messages)
        elif "You write image-editing instructions" in text_all:
            role, text = "PG", "Add a thin dark crack across the upper left of the part, about a quarter of its width, jagged edges."
        elif "strict industrial visual inspector" in text_all:
            loc, qual = self.judge_scores
            role, text = "QE", f'<think>looking</think>Verdict: {{"location": {loc}, "quality": {qual}, "review": "plausible crack"}}'
        else:
            role, text = "unknown", "I do not understand."
        self.record({"route": "chat", "role": role, "images": images, "auth": headers.get("Authorization", ""),
                     "messages": messages})
        return {"id": "x", "object": "chat.completion", "model": body.get("model", ""),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 100 + 10 * len(messages), "completion_tokens": 20, "total_tokens": 0}}

    def policy(self, messages: list[dict[str, Any]]) -> str:
        if self.answer_at_once:
            return "<think>nothing to do</think><answer>done</answer>"
        replies = [m for m in messages if m["role"] == "assistant"]
        tools = [m for m in messages if m["role"] in ("tool", "user")][1:]  # tool turns (sent as user turns)
        if self.bad_first and not replies:
            return "I will call PG now: <tool_call>{PG}</tool_call>"
        texts = [m["content"] if isinstance(m["content"], str) else
                 " ".join(p.get("text", "") for p in m["content"] if p.get("type") == "text") for m in tools]
        last = texts[-1] if texts else ""
        seen = "\n".join(texts)

        def call(name: str, arguments: dict[str, Any] | None = None) -> str:
            return f'<think>next: {name}</think>\n<tool_call>{json.dumps({"name": name, "arguments": arguments or {}})}</tool_call>'

        match = re.search(r"\[(\w+)\] (Error)?", last)
        if not tools or match is None or match.group(1) == "reply":
            return call("PG")
        name, error = match.group(1), match.group(2)
        instruction = re.search(r"Instruction: ([^\n]*)", seen)
        ig = {"instruction": instruction.group(1)[:500] if instruction else "a dark crack"}
        if error:
            return call("IG", ig) if "[PG]" in seen else call("PG")
        if name == "PG" or name == "KR":
            return call("IG", ig)
        if name == "IG":
            return call("QE")
        if name == "QE":
            if "PASS" in last:
                return call("MG")
            return call("IG", ig) if "[KR]" in seen else call("KR")
        return "<think>the mask is ready</think><answer>done</answer>"

    # -- image edits -----------------------------------------------------------------------
    def edit(self, fields: dict[str, bytes], headers: dict[str, str]) -> dict[str, Any]:
        image = cv2.imdecode(np.frombuffer(fields["image"], np.uint8), cv2.IMREAD_COLOR)
        mask = cv2.imdecode(np.frombuffer(fields["mask"], np.uint8), cv2.IMREAD_UNCHANGED)
        region = mask[..., 3] == 0
        out = image.astype(np.int16)
        out[region] -= 90
        ok, png = cv2.imencode(".png", np.clip(out, 0, 255).astype(np.uint8))
        self.record({"route": "edit", "prompt": fields.get("prompt", b"").decode(), "region": int(region.sum()),
                     "auth": headers.get("Authorization", "")})
        return {"created": 0, "data": [{"b64_json": base64.b64encode(png.tobytes()).decode()}]}


def parse_multipart(body: bytes, content_type: str) -> dict[str, bytes]:
    boundary = content_type.split("boundary=", 1)[1].encode()
    fields = {}
    for part in body.split(b"--" + boundary):
        if b"\r\n\r\n" not in part:
            continue
        head, _, value = part.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]+)"', head)
        if name:
            fields[name.group(1).decode()] = value[:-2] if value.endswith(b"\r\n") else value
    return fields


class Server:
    """``with Server(responder) as url:`` -> "http://127.0.0.1:PORT/v1"."""

    def __init__(self, responder: Responder, port: int = 0) -> None:
        self.responder, self.port = responder, port

    def __enter__(self) -> str:
        responder = self.responder

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                headers = dict(self.headers.items())
                with responder.lock:
                    responder.in_flight += 1
                    responder.max_in_flight = max(responder.max_in_flight, responder.in_flight)
                try:
                    time.sleep(responder.delay)
                finally:
                    with responder.lock:
                        responder.in_flight -= 1
                with responder.lock:
                    failing = responder.fail > 0
                    responder.fail -= int(failing)
                if failing:
                    self.send_error(503, "busy")
                    return
                if self.path == "/v1/chat/completions":
                    answer = responder.chat(json.loads(body), headers)
                elif self.path == "/v1/images/edits":
                    answer = responder.edit(parse_multipart(body, self.headers["Content-Type"]), headers)
                else:
                    self.send_error(404)
                    return
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="A scripted OpenAI-compatible server on 127.0.0.1 (no model).")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds of sleep per request (simulated latency)")
    args = parser.parse_args(argv)
    server = Server(Responder(delay=args.delay), port=args.port)
    url = server.__enter__()
    logging.getLogger(__name__).warning("serving %s (Ctrl-C stops)", url)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.__exit__(None, None, None)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    raise SystemExit(main())
