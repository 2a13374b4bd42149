"""The scale-out deployment as separate processes: two API servers and one worker sharing
PostgreSQL, Redis and S3. The servers only enqueue; the worker runs the jobs."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pytest
import redis

from tests.e2e.conftest import Processes, ReelstackProcess, ScaleOutEnv
from tests.factories import PASSWORD

DELIVERY_TIMEOUT = 10.0
QUIET_PERIOD = 1.0  # the API servers poll every 0.1 s: had they consumed, it would show


@pytest.fixture
def scale_out_env(scale_out_env_with: ScaleOutEnv) -> dict[str, str]:
    return scale_out_env_with()


def register(server: ReelstackProcess, username: str) -> str:
    with server.client() as http:
        response = http.post(
            "/api/v1/auth/register",
            json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
        )
    assert response.status_code == 201, response.text
    user_id: str = response.json()["user"]["user_id"]
    return user_id


def login(server: ReelstackProcess, username: str) -> dict[str, str]:
    with server.client() as http:
        response = http.post("/api/v1/auth/login", json={"login": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def follow(server: ReelstackProcess, headers: dict[str, str], user_id: str) -> None:
    with server.client() as http:
        response = http.post(f"/api/v1/users/{user_id}/follow", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["is_following"] is True


def next_message(pubsub: Any, timeout: float) -> dict[str, Any] | None:
    """The next published message on the subscribed channel, or None after `timeout`."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        raw = pubsub.get_message(ignore_subscribe_messages=True, timeout=min(remaining, 0.5))
        if raw is not None and raw["type"] == "message":
            message: dict[str, Any] = json.loads(raw["data"])
            return message
    return None


def told_of_follower(message: dict[str, Any] | None) -> str | None:
    """The follower a new_follower notification message names (None for any other message)."""
    if not message or message["type"] != "notification":
        return None
    note = message["notification"]
    assert note["type"] == "new_follower"
    follower_id: str = note["actors"][0]["user_id"]
    return follower_id


def test_worker_process_runs_the_jobs_the_api_servers_enqueue(
    processes: Processes, scale_out_env: dict[str, str], redis_url: str, redis_prefix: str
) -> None:
    api_1 = processes.serve(scale_out_env, name="api-1", wait=False)
    api_2 = processes.serve(scale_out_env, name="api-2", wait=False)
    worker = processes.worker(scale_out_env, wait=False)
    for proc in (api_1, api_2):
        proc.wait_until_healthy()
    worker.wait_for_output("worker consuming")
    for proc in (api_1, api_2):
        with proc.client() as http:
            ready = http.get("/readyz")
        assert ready.status_code == 200, f"{ready.text}\n{proc.describe()}"

    # One account store and one secret: signed up on one server, signed in on the other.
    suffix = uuid.uuid4().hex[:6]
    creator_id = register(api_1, f"creator_{suffix}")
    fan_id = register(api_1, f"fan_{suffix}")
    late_fan_id = register(api_1, f"latefan_{suffix}")
    fan = login(api_2, f"fan_{suffix}")
    with api_1.client() as http:
        me = http.get("/api/v1/users/me", headers=fan)
    assert me.status_code == 200 and me.json()["username"] == f"fan_{suffix}"

    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub()  # type: ignore[no-untyped-call]
    try:
        pubsub.subscribe(f"{redis_prefix}rt:user:{creator_id}")
        confirmed = pubsub.get_message(timeout=5.0)
        assert confirmed is not None and confirmed["type"] == "subscribe"

        # The follow commits on api-2; the announcement is a job only the worker consumes.
        follow(api_2, fan, creator_id)
        message = next_message(pubsub, DELIVERY_TIMEOUT)
        assert told_of_follower(message) == fan_id, worker.describe()
        assert next_message(pubsub, DELIVERY_TIMEOUT) == {"type": "unread_count", "count": 1}
        assert "Executing" in worker.output() and "announce_new_follower" in worker.output()

        # Without a worker the job waits in Redis: neither API server runs it...
        assert worker.stop(), f"no graceful shutdown\n{worker.describe()}"
        late_fan = login(api_2, f"latefan_{suffix}")
        follow(api_1, late_fan, creator_id)
        queue_key = f"huey.redis.{re.sub('[^a-z0-9]', '', redis_prefix)}notifications"
        assert client.llen(queue_key) == 1
        assert next_message(pubsub, QUIET_PERIOD) is None
        assert client.llen(queue_key) == 1
        for api in (api_1, api_2):
            assert "announce_new_follower" not in api.output()

        # ...and a worker started later delivers it: the queue is durable.
        processes.worker(scale_out_env, name="worker-restarted")
        late = next_message(pubsub, DELIVERY_TIMEOUT)
        assert told_of_follower(late) == late_fan_id, (
            "the queued job was not delivered after the worker restarted"
        )
        assert client.llen(queue_key) == 0
    finally:
        pubsub.close()
        client.close()

    with api_2.client() as http:
        profile = http.get(f"/api/v1/users/{creator_id}").json()
    assert profile["stats"]["followers"] == 2
