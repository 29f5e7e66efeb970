"""The stack's HTTP smoke client: `wait-ready` until Serve has its models, `try` one prediction.

Both speak HTTPS and trust the configured certificate when the ingress terminates TLS."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from rayline.keys import admin_key
from rayline.settings import Settings
from rayline.tls import serve_context


def wait_ready(settings: Settings, seconds: float = 180) -> None:
    """Wait until the Serve ingress says every served model is loaded."""
    url = f"{settings.serve_url}/ready"
    context = serve_context(settings)
    deadline = time.monotonic() + seconds
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5, context=context) as response:  # noqa: S310
                if response.status == 200:
                    print(f"Serve is ready: {response.read().decode()}")
                    return
        except urllib.error.HTTPError as exc:
            last = exc.read().decode(errors="replace")
        except OSError as exc:
            last = str(exc)
        time.sleep(2)
    raise SystemExit(
        f"{url} not ready after {seconds:.0f}s: {last}\n"
        "see `serve status` and the Ray dashboard's Serve tab"
    )


def try_prediction(settings: Settings, model: str) -> None:
    """One real prediction with the model's own input example, printed."""
    key = admin_key(settings)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    context = serve_context(settings)

    def call(path: str, body: bytes | None = None) -> object:
        request = urllib.request.Request(  # noqa: S310 - the configured loopback ingress
            settings.serve_url + path, data=body, headers=headers
        )
        with urllib.request.urlopen(request, timeout=30, context=context) as response:  # noqa: S310
            return json.loads(response.read())

    schema = call(f"/v1/models/{model}/schema")
    example = schema["input_example"]  # type: ignore[index]
    body = json.dumps({"instances": [example], "return_proba": True}).encode()
    print(f"POST {settings.serve_url}/v1/models/{model}/predict")
    print(json.dumps(call(f"/v1/models/{model}/predict", body)))
