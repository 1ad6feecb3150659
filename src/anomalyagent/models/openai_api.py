"""A minimal client for OpenAI-compatible servers (vLLM, SGLang, hosted providers).

Only the standard library (``urllib``): no SDK dependency, thread-safe (no shared
connection state), so N episodes can call one server at once. Two routes:

- ``POST {base_url}/chat/completions`` with images as PNG data URLs;
- ``POST {base_url}/images/edits`` (multipart: image, mask, prompt; ``b64_json`` back).

Failures that may pass (connection refused, timeouts, HTTP 408/409/429/5xx) are retried
``retries`` times with exponential backoff (``backoff * 2**k`` seconds, capped at
``max_backoff``); anything else, or the last failure, raises ``ModelError``. The API key
is read from the environment variable named by ``api_key_env`` and only ever placed in
the Authorization header: never in a message, an error, a repr or a log line.
"""
from __future__ import annotations

import base64
import json
import logging
import math
import os
import http.client
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import numpy as np

from ..usage import Usage

log = logging.getLogger(__name__)

RETRY_STATUS = (408, 409, 429, 500, 502, 503, 504)
MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class ModelError(RuntimeError):
    """A model backend failed (after its retries) or answered something unusable."""


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a (H, W), (H, W, 3) RGB or (H, W, 4) RGBA uint8 image."""
    import cv2

    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ModelError("PNG encoding failed")
    return buf.tobytes()


def png_data_url(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(encode_png(image)).decode("ascii")


def decode_image(data: bytes) -> np.ndarray:
    """PNG/JPEG bytes -> (H, W, 3) uint8 RGB (ModelError when unreadable)."""
    import cv2

    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if array is None:
        raise ModelError("the image-edit endpoint returned bytes that are not an image")
    return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)


def _int_field(data: dict[str, Any], key: str) -> int:
    value = data.get(key, 0)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9 else 0


class OpenAIClient:
    """``base_url`` ends with the API root (e.g. ``http://127.0.0.1:8000/v1``)."""

    def __init__(self, base_url: str, model: str, api_key_env: str | None = None, timeout: float = 120.0,
                 retries: int = 3, backoff: float = 0.5, max_backoff: float = 8.0) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        parts = urllib.parse.urlsplit(base_url)
        if parts.query or parts.username or parts.password:  # a key there would end up in errors and logs
            raise ValueError("base_url must not carry a query string or user:password; "
                             "give the key through api_key_env")
        if not isinstance(model, str) or not model:
            raise ValueError("model: name the served model (e.g. Qwen/Qwen3-VL-4B-Thinking)")
        for name, value, low, high in (("timeout", timeout, 0.01, 3600), ("backoff", backoff, 0, 60),
                                       ("max_backoff", max_backoff, 0, 600), ("retries", retries, 0, 20)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
                raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")
        if api_key_env is not None and api_key_env not in os.environ:
            raise ValueError(f"api_key_env: environment variable {api_key_env} is not set")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout, self.retries, self.backoff, self.max_backoff = float(timeout), int(retries), float(backoff), float(max_backoff)

    def __repr__(self) -> str:  # never shows the key, only where it comes from
        return f"OpenAIClient({self.base_url!r}, model={self.model!r}, api_key_env={self.api_key_env!r})"

    def _headers(self, content_type: str) -> dict[str, str]:
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if self.api_key_env:
            headers["Authorization"] = "Bearer " + os.environ.get(self.api_key_env, "")
        return headers

    def post(self, route: str, body: bytes, content_type: str = "application/json") -> dict[str, Any]:
        """POST with retries; the decoded JSON object of the answer."""
        url = f"{self.base_url}/{route.lstrip('/')}"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))
            request = urllib.request.Request(url, data=body, headers=self._headers(content_type), method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    raw = response.read(MAX_RESPONSE_BYTES + 1)
            except urllib.error.HTTPError as exc:
                detail = exc.read(300).decode("utf-8", "replace") if exc.fp is not None else ""
                last = f"HTTP {exc.code} from {url}: {detail}"
                if exc.code in RETRY_STATUS:
                    log.debug("retrying %s (%s)", url, last)
                    continue
                raise ModelError(last) from None
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:  # refused, reset, timeout, torn
                last = f"{url}: {getattr(exc, 'reason', exc)}"
                log.debug("retrying %s (%s)", url, last)
                continue
            if len(raw) > MAX_RESPONSE_BYTES:
                raise ModelError(f"{url}: answer larger than {MAX_RESPONSE_BYTES} bytes")
            try:
                data = json.loads(raw)
            except (ValueError, RecursionError):
                raise ModelError(f"{url}: the answer is not JSON: {raw[:200]!r}") from None
            if not isinstance(data, dict):
                raise ModelError(f"{url}: the answer is not a JSON object")
            return data
        raise ModelError(f"gave up after {self.retries + 1} tries: {last}")

    # -- chat ------------------------------------------------------------------------------
    def chat(self, messages: list[dict[str, Any]], **params: Any) -> tuple[str, Usage]:
        """OpenAI-format ``messages`` -> (assistant text, usage). Tool calls the server parsed
        itself (``message.tool_calls``) and separated reasoning (``reasoning_content``)
        are put back into the text as ``<tool_call>`` and ``<think>`` blocks."""
        payload = {"model": self.model, "messages": messages, **params}
        data = self.post("chat/completions", json.dumps(payload).encode())
        try:
            message = data["choices"][0]["message"]
        except (KeyError, IndexError, TypeError):
            raise ModelError(f"chat answer without choices[0].message: {str(data)[:200]}") from None
        text = message.get("content") or ""
        if isinstance(text, list):  # content parts
            text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
        if not isinstance(text, str):
            raise ModelError("chat answer content is not text")
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if isinstance(reasoning, str) and reasoning and "</think>" not in text:
            text = f"<think>{reasoning}</think>\n{text}"
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            for call in calls[:4]:
                fn = call.get("function", {}) if isinstance(call, dict) else {}
                if isinstance(fn.get("name"), str):
                    args = fn.get("arguments", "{}")
                    args = args if isinstance(args, str) else json.dumps(args)
                    text += f'\n<tool_call>{{"name": {json.dumps(fn["name"])}, "arguments": {args}}}</tool_call>'
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return text, Usage(prompt_tokens=_int_field(usage, "prompt_tokens"), completion_tokens=_int_field(usage, "completion_tokens"))

    # -- image edits -----------------------------------------------------------------------
    def edit_image(self, image: np.ndarray, mask: np.ndarray, prompt: str, **params: Any) -> tuple[np.ndarray, Usage]:
        """Edit ``image`` ((H, W[, 3]) uint8) where ``mask`` ((H, W) bool) is True.

        The mask goes as an RGBA PNG that is transparent where the edit may happen (the
        OpenAI convention). Returns the server's image (any size; callers resize)."""
        rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
        rgba = np.dstack([rgb, np.where(mask, 0, 255).astype(np.uint8)])
        fields = {"model": self.model, "prompt": prompt, "n": "1", "response_format": "b64_json",
                  **{k: str(v) for k, v in params.items()}}
        files = {"image": ("image.png", encode_png(rgb)), "mask": ("mask.png", encode_png(rgba))}
        boundary = "----anomalyagent" + secrets.token_hex(12)
        parts = []
        for name, value in fields.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
        for name, (filename, blob) in files.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                         f"Content-Type: image/png\r\n\r\n".encode() + blob + b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode())
        data = self.post("images/edits", b"".join(parts), f"multipart/form-data; boundary={boundary}")
        try:
            b64 = data["data"][0]["b64_json"]
            blob = base64.b64decode(b64, validate=True)
        except (KeyError, IndexError, TypeError, ValueError):
            raise ModelError("image-edit answer without data[0].b64_json (only base64 answers are read)") from None
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return decode_image(blob), Usage(prompt_tokens=_int_field(usage, "input_tokens"),
                                         completion_tokens=_int_field(usage, "output_tokens"))
