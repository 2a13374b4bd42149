"""Real-time notifications with real server processes and the settings a user gets by default:
a WebSocket client hears of a follow within a second of the follow request returning, on the
embedded deployment (`make run`) and scaled out (two API processes and a worker, the follow
made on one API process, the WebSocket connected to the other)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.e2e.conftest import Processes, ReelstackProcess, ScaleOutEnv, reelstack_env
from tests.factories import PASSWORD

DELIVERY_LIMIT = 1.0  # seconds from the follow's response to the notification
IDLE_BEFORE_FOLLOW = 3.0  # long enough for an idle job poller to back off to its slowest
FOLLOWS = 3


def default_env(**settings: str) -> dict[str, str]:
    """The child environment with the job poll interval left at its default, as `make run`."""
    env = reelstack_env(**settings)
    env.pop("REELSTACK_JOB_POLL_SECONDS", None)
    return env


def sign_up(server: ReelstackProcess, username: str) -> tuple[str, str]:
    """Registers over HTTP; the user's id and access token."""
    with server.client() as http:
        r = http.post(
            "/api/v1/auth/register",
            json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
        )
    assert r.status_code == 201, r.text
    body = r.json()
    return body["user"]["user_id"], body["access_token"]


@contextmanager
def socket(server: ReelstackProcess, token: str) -> Iterator[ClientConnection]:
    """A WebSocket to `server`, signed in with the first-message handshake."""
    with connect(f"ws://127.0.0.1:{server.port}/api/v1/ws", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "auth", "token": token}))
        assert receive(ws)["type"] == "authenticated"
        assert receive(ws) == {"type": "unread_count", "count": 0}
        yield ws


def receive(ws: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    return message


def follows_arrive_within_a_second(
    follow_on: ReelstackProcess, listen_on: ReelstackProcess, suffix: str
) -> None:
    star_id, star_token = sign_up(follow_on, f"star_{suffix}")
    fans = [sign_up(follow_on, f"fan{i}_{suffix}") for i in range(FOLLOWS)]
    with socket(listen_on, star_token) as ws, follow_on.client() as http:
        delays = []
        for count, (fan_id, fan_token) in enumerate(fans, start=1):
            time.sleep(IDLE_BEFORE_FOLLOW)
            r = http.post(
                f"/api/v1/users/{star_id}/follow",
                headers={"Authorization": f"Bearer {fan_token}"},
            )
            returned = time.monotonic()
            assert r.status_code == 200, r.text
            message = receive(ws, timeout=10.0)
            delays.append(time.monotonic() - returned)
            assert message["type"] == "notification", message
            assert message["notification"]["type"] == "new_follower"
            assert message["notification"]["actors"][0]["user_id"] == fan_id
            assert receive(ws) == {"type": "unread_count", "count": count}
        print(f"follow -> WebSocket delays: {[round(d, 3) for d in delays]}")
        assert max(delays) < DELIVERY_LIMIT, delays


def test_embedded_websocket_hears_a_follow_within_a_second(
    processes: Processes, tmp_path: Path
) -> None:
    server = processes.serve(default_env(REELSTACK_DATA_DIR=str(tmp_path / "data")))
    follows_arrive_within_a_second(server, server, uuid.uuid4().hex[:6])


def test_embedded_event_stream_receives_a_notification(
    processes: Processes, tmp_path: Path
) -> None:
    server = processes.serve(default_env(REELSTACK_DATA_DIR=str(tmp_path / "data")))
    suffix = uuid.uuid4().hex[:6]
    star_id, star_token = sign_up(server, f"star_{suffix}")
    fan_id, fan_token = sign_up(server, f"fan_{suffix}")
    with (
        httpx.Client(base_url=server.base_url, timeout=10.0) as http,
        http.stream(
            "GET",
            "/api/v1/notifications/stream",
            headers={"Authorization": f"Bearer {star_token}"},
        ) as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == "event: unread_count"
        assert json.loads(next(lines).removeprefix("data: ")) == {
            "type": "unread_count",
            "count": 0,
        }
        r = httpx.post(
            f"{server.base_url}/api/v1/users/{star_id}/follow",
            headers={"Authorization": f"Bearer {fan_token}"},
        )
        assert r.status_code == 200
        for line in lines:
            if line.startswith("data: ") and '"notification"' in line:
                note = json.loads(line.removeprefix("data: "))["notification"]
                break
        assert note["type"] == "new_follower" and note["actors"][0]["user_id"] == fan_id


@pytest.fixture
def scale_out_env(scale_out_env_with: ScaleOutEnv) -> dict[str, str]:
    env = scale_out_env_with()
    env.pop("REELSTACK_JOB_POLL_SECONDS", None)  # the default, as `make run` has it
    return env


def test_scaled_out_websocket_hears_a_follow_made_on_another_api_process(
    processes: Processes, scale_out_env: dict[str, str]
) -> None:
    api_1 = processes.serve(scale_out_env, name="api-1", wait=False)
    api_2 = processes.serve(scale_out_env, name="api-2", wait=False)
    worker = processes.worker(scale_out_env, wait=False)
    for proc in (api_1, api_2):
        proc.wait_until_healthy()
    worker.wait_for_output("worker consuming")
    follows_arrive_within_a_second(api_1, api_2, uuid.uuid4().hex[:6])
    assert "announce_new_follower" in worker.output()
    for api in (api_1, api_2):
        assert "announce_new_follower" not in api.output()  # the worker made them
