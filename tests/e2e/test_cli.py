"""The operator's commands, run as a real process: migrate, createadmin, and the start-up
refusals that keep a misconfigured server from ever listening."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from reelstack.migrate import head_revision
from tests.conftest import free_port
from tests.e2e.conftest import CliResult, Processes, reelstack_env

RunCli = Callable[..., CliResult]


def nothing_listens_on(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_serve_refuses_an_unmigrated_postgres_until_migrate_runs(
    run_cli: RunCli, processes: Processes, empty_postgres_url: str, tmp_path: Path
) -> None:
    env = reelstack_env(
        REELSTACK_DATA_DIR=str(tmp_path / "data"),
        REELSTACK_DATABASE_URL=empty_postgres_url,
        REELSTACK_SECRET_KEY=secrets.token_urlsafe(48),
    )
    port = free_port()

    refused = run_cli(["serve", "--host", "127.0.0.1", "--port", str(port)], env)
    assert refused.returncode != 0, refused
    assert "reelstack migrate" in refused.stderr, refused
    assert "Uvicorn running" not in refused.stderr, refused
    assert nothing_listens_on(port)

    migrated = run_cli(["migrate"], env)
    assert migrated.returncode == 0, migrated
    assert migrated.stdout.strip() == f"database at revision {head_revision()}", migrated

    # Migrating an up-to-date database, while a server starts on it, changes nothing.
    server = processes.serve(env, port=port, wait=False)
    again = run_cli(["migrate"], env)
    assert again.returncode == 0, again
    assert again.stdout.strip() == f"database at revision {head_revision()}", again
    server.wait_until_healthy()
    with server.client() as http:
        ready = http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"] == "ok"


def test_unmigrated_refusal_is_a_plain_configuration_error(
    run_cli: RunCli, empty_postgres_url: str, tmp_path: Path
) -> None:
    """Like every other start-up refusal: one line saying what to do, exit 2, no traceback."""
    env = reelstack_env(
        REELSTACK_DATA_DIR=str(tmp_path / "data"),
        REELSTACK_DATABASE_URL=empty_postgres_url,
        REELSTACK_SECRET_KEY=secrets.token_urlsafe(48),
    )
    refused = run_cli(["serve", "--host", "127.0.0.1", "--port", str(free_port())], env)
    assert refused.returncode == 2, refused
    assert "configuration error: the database schema is at nothing" in refused.stderr, refused
    assert "Traceback" not in refused.stderr, refused


def test_createadmin_makes_an_admin_and_can_run_again(
    run_cli: RunCli, processes: Processes, tmp_path: Path
) -> None:
    env = reelstack_env(REELSTACK_DATA_DIR=str(tmp_path / "data"))
    command = [
        "createadmin",
        "--username",
        "root_admin",
        "--email",
        "root@example.com",
        "--password",
        "a long admin password",
    ]

    created = run_cli(command, env)
    assert created.returncode == 0, created
    assert created.stdout.startswith("admin root_admin ("), created
    assert created.stdout.rstrip().endswith(") is ready"), created

    server = processes.serve(env)
    with server.client() as http:

        def me() -> dict[str, object]:
            token = http.post(
                "/api/v1/auth/login",
                json={"login": "root_admin", "password": "a long admin password"},
            )
            assert token.status_code == 200, token.text
            response = http.get(
                "/api/v1/users/me",
                headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            )
            assert response.status_code == 200, response.text
            body: dict[str, object] = response.json()
            return body

        first = me()
        assert first["role"] == "admin"
        assert first["email"] == "root@example.com"

        signed_up = http.post(
            "/api/v1/auth/register",
            json={
                "username": "mod_to_be",
                "email": "mod@example.com",
                "password": "an ordinary password",
            },
        )
        assert signed_up.status_code == 201, signed_up.text
        assert signed_up.json()["user"]["role"] == "user"

        # While the server runs: the same admin again, and an ordinary account promoted.
        with ThreadPoolExecutor(2) as pool:
            repeat = pool.submit(run_cli, command, env)
            promote = pool.submit(
                run_cli,
                [
                    "createadmin",
                    "--username",
                    "mod_to_be",
                    "--email",
                    "mod@example.com",
                    "--password",
                    "an ordinary password",
                ],
                env,
            )
            repeated, promoted = repeat.result(), promote.result()
        assert repeated.returncode == 0, repeated
        assert repeated.stdout == created.stdout
        second = me()
        assert second["role"] == "admin"
        assert second["user_id"] == first["user_id"]
        assert promoted.returncode == 0, promoted
        assert promoted.stdout.startswith("admin mod_to_be ("), promoted
        response = http.get(
            "/api/v1/users/me",
            headers={"Authorization": f"Bearer {signed_up.json()['access_token']}"},
        )
        assert response.json()["role"] == "admin"

        # Run again with a new password: that is how an operator recovers a lost admin password.
        reset = run_cli([*command[:-1], "a brand new admin password"], env)
        assert reset.returncode == 0, reset
        old = http.post(
            "/api/v1/auth/login",
            json={"login": "root_admin", "password": "a long admin password"},
        )
        assert old.status_code == 401, old.text
        new = http.post(
            "/api/v1/auth/login",
            json={"login": "root_admin", "password": "a brand new admin password"},
        )
        assert new.status_code == 200, new.text


def test_createadmin_rejects_an_invalid_account(run_cli: RunCli, tmp_path: Path) -> None:
    env = reelstack_env(REELSTACK_DATA_DIR=str(tmp_path / "data"))
    result = run_cli(
        ["createadmin", "--username", "x", "--email", "not-an-email", "--password", "short"], env
    )
    assert result.returncode == 2, result
    assert "username" in result.stderr and "email" in result.stderr, result
    assert "Traceback" not in result.stderr, result


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (None, "REELSTACK_SECRET_KEY must be set in production"),
        ("changeme", "REELSTACK_SECRET_KEY must be a random value of at least 32 characters"),
    ],
    ids=["unset", "changeme"],
)
def test_production_refuses_to_start_without_a_real_secret(
    run_cli: RunCli, tmp_path: Path, secret: str | None, message: str
) -> None:
    data_dir = tmp_path / "data"
    env = reelstack_env(REELSTACK_ENV="production", REELSTACK_DATA_DIR=str(data_dir))
    if secret is not None:
        env["REELSTACK_SECRET_KEY"] = secret
    port = free_port()

    result = run_cli(["serve", "--host", "127.0.0.1", "--port", str(port)], env)

    assert result.returncode != 0, result
    assert f"configuration error: {message}" in result.stderr, result
    assert "Traceback" not in result.stderr, result
    assert "Uvicorn running" not in result.stderr + result.stdout, result
    assert nothing_listens_on(port)
    assert not (data_dir / "secret_key").exists()


def test_production_starts_with_a_real_secret(processes: Processes, tmp_path: Path) -> None:
    """The control for the refusals above: the same settings with a strong secret do serve."""
    data_dir = tmp_path / "data"
    server = processes.serve(
        reelstack_env(
            REELSTACK_ENV="production",
            REELSTACK_DATA_DIR=str(data_dir),
            REELSTACK_SECRET_KEY=secrets.token_urlsafe(48),
        )
    )
    assert httpx.get(f"{server.base_url}/readyz", timeout=10).status_code == 200
    assert not (data_dir / "secret_key").exists()


def test_worker_refuses_to_run_without_the_shared_redis(run_cli: RunCli, tmp_path: Path) -> None:
    # In embedded mode `serve` consumes the jobs; a separate worker would deliver real-time
    # messages to its own memory and run periodic jobs twice.
    result = run_cli(["worker"], reelstack_env(REELSTACK_DATA_DIR=str(tmp_path / "data")))
    assert result.returncode == 2, result
    assert "REELSTACK_REDIS_URL" in result.stderr, result
    assert "Traceback" not in result.stderr, result


def test_scale_out_refuses_to_start_without_a_shared_secret(
    run_cli: RunCli, tmp_path: Path, redis_url: str
) -> None:
    env = reelstack_env(REELSTACK_DATA_DIR=str(tmp_path / "data"), REELSTACK_REDIS_URL=redis_url)
    for command in (["serve", "--port", str(free_port())], ["worker"]):
        result = run_cli(command, env)
        assert result.returncode == 2, result
        assert "REELSTACK_SECRET_KEY must be set" in result.stderr, result
