"""The embedded deployment as a user runs it: `reelstack serve` with nothing but a data directory,
spoken to over real HTTP, then restarted on the same directory."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import Processes, reelstack_env
from tests.factories import PASSWORD, assert_problem


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register(http: httpx.Client, username: str) -> dict[str, Any]:
    response = http.post(
        "/api/v1/auth/register",
        json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["user"]["username"] == username
    return body


def login(http: httpx.Client, login_name: str, password: str = PASSWORD) -> dict[str, Any]:
    response = http.post("/api/v1/auth/login", json={"login": login_name, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_embedded_server_walkthrough_survives_a_restart(
    processes: Processes, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = reelstack_env(REELSTACK_DATA_DIR=str(data_dir))
    server = processes.serve(env, name="embedded")

    # First start: SQLite migrated in place and a private secret generated beside it.
    secret_file = data_dir / "secret_key"
    assert (data_dir / "reelstack.db").is_file()
    assert secret_file.is_file()
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_text()
    assert len(secret.strip()) >= 32

    with server.client() as http:
        ready = http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {
            "status": "ok",
            "checks": {"database": "ok", "cache": "ok", "storage": "ok", "jobs": "ok"},
        }

        docs = http.get("/docs")
        assert docs.status_code == 200
        assert docs.headers["content-type"].startswith("text/html")
        assert "swagger" in docs.text.lower()
        paths = http.get("/openapi.json").json()["paths"]
        assert "/api/v1/auth/register" in paths
        assert "/api/v1/users/{user_ref}/follow" in paths

        # Two people sign up; Bea signs in again by email and rotates her refresh token.
        alice = register(http, "alice_e2e")
        bea = register(http, "bea_e2e")
        alice_id, bea_id = alice["user"]["user_id"], bea["user"]["user_id"]
        bea_session = login(http, "bea_e2e@example.com")
        rotated = http.post(
            "/api/v1/auth/refresh", json={"refresh_token": bea_session["refresh_token"]}
        )
        assert rotated.status_code == 200, rotated.text
        bea_tokens = rotated.json()
        assert bea_tokens["refresh_token"] != bea_session["refresh_token"]
        me = http.get("/api/v1/users/me", headers=bearer(bea_tokens["access_token"]))
        assert me.status_code == 200 and me.json()["user_id"] == bea_id
        assert_problem(
            http.post(
                "/api/v1/auth/login", json={"login": "bea_e2e", "password": "wrong password"}
            ),
            401,
            "invalid_credentials",
        )

        # Bea follows Alice: Alice's profile, as Bea sees it, counts her.
        followed = http.post(
            f"/api/v1/users/{alice_id}/follow", headers=bearer(bea_tokens["access_token"])
        )
        assert followed.status_code == 200, followed.text
        assert followed.json() == {
            "is_following": True,
            "follow_requested": False,
            "follower_count": 1,
        }
        profile = http.get(
            f"/api/v1/users/{alice_id}", headers=bearer(bea_tokens["access_token"])
        ).json()
        assert profile["stats"]["followers"] == 1
        assert profile["is_following"] is True
        by_name = http.get("/api/v1/users/@alice_e2e").json()
        assert by_name["user_id"] == alice_id and by_name["is_following"] is False
        followers = http.get(f"/api/v1/users/{alice_id}/followers").json()
        assert [u["username"] for u in followers["users"]] == ["bea_e2e"]

        # Alice blocks Bea: the follow ends and Alice disappears for Bea.
        alice_auth = bearer(alice["access_token"])
        blocked = http.post(f"/api/v1/users/{bea_id}/block", headers=alice_auth)
        assert blocked.status_code == 200 and blocked.json() == {"is_blocking": True}
        assert_problem(
            http.get(f"/api/v1/users/{alice_id}", headers=bearer(bea_tokens["access_token"])),
            404,
            "user_not_found",
        )
        assert_problem(
            http.post(
                f"/api/v1/users/{alice_id}/follow", headers=bearer(bea_tokens["access_token"])
            ),
            404,
            "user_not_found",
        )
        assert http.get(f"/api/v1/users/{alice_id}").json()["stats"]["followers"] == 0
        blocks = http.get("/api/v1/users/me/blocks", headers=alice_auth).json()
        assert [u["user_id"] for u in blocks["users"]] == [bea_id]
        assert http.delete(f"/api/v1/users/{bea_id}/block", headers=alice_auth).json() == {
            "is_blocking": False
        }
        seen_again = http.get(
            f"/api/v1/users/{alice_id}", headers=bearer(bea_tokens["access_token"])
        )
        assert seen_again.status_code == 200
        assert seen_again.json()["is_following"] is False

        metrics = http.get("/metrics").text
        assert "reelstack_http_requests_total{" in metrics
        # Labelled by route template, never by the raw path with its ids.
        assert alice_id not in metrics

    assert server.stop(), f"no graceful shutdown\n{server.describe()}"

    # Second start on the same directory: same secret, same people, old tokens still good.
    restarted = processes.serve(env, name="embedded-restarted")
    assert secret_file.read_text() == secret
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    with restarted.client() as http:
        me = http.get("/api/v1/users/me", headers=bearer(bea_tokens["access_token"]))
        assert me.status_code == 200, me.text
        assert me.json()["username"] == "bea_e2e"
        assert me.json()["stats"]["following"] == 0
        again = http.post(
            "/api/v1/auth/refresh", json={"refresh_token": bea_tokens["refresh_token"]}
        )
        assert again.status_code == 200, again.text
        assert login(http, "alice_e2e")["access_token"]
        profile = http.get(f"/api/v1/users/{alice_id}").json()
        assert profile["username"] == "alice_e2e"
        assert profile["stats"]["followers"] == 0


def test_metrics_label_requests_by_their_full_route(processes: Processes, tmp_path: Path) -> None:
    """A dashboard groups by the path a client calls: /api/v1/..., not the router-local path."""
    server = processes.serve(reelstack_env(REELSTACK_DATA_DIR=str(tmp_path / "data")))
    with server.client() as http:
        register(http, "carl_e2e")
        assert http.get("/api/v1/users/@carl_e2e").status_code == 200
        metrics = http.get("/metrics").text
    counted = [
        line for line in metrics.splitlines() if line.startswith("reelstack_http_requests_total{")
    ]
    assert (
        'reelstack_http_requests_total{method="POST",route="/api/v1/auth/register",'
        'status="201"} 1.0' in counted
    ), counted
    assert (
        'reelstack_http_requests_total{method="GET",route="/api/v1/users/{user_ref}",'
        'status="200"} 1.0' in counted
    ), counted
