"""The `reelstack` command: serve, worker, migrate, createadmin."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError

from reelstack import __version__
from reelstack.config import ConfigurationError, Settings, load_settings

app = typer.Typer(help="reelstack: a self-hostable short-video platform.", no_args_is_help=True)


def _settings() -> Settings:
    try:
        return load_settings()
    except (ConfigurationError, ValidationError) as exc:
        typer.secho(f"configuration error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(help="API processes (scale-out mode only).")] = 1,
) -> None:
    """Serve the API and the web app. Embedded mode also runs the jobs in this process."""
    settings = _settings()
    _logging(settings)
    if workers > 1 and not settings.scale_out:
        typer.secho(
            "several API processes need the shared Redis cache: set REELSTACK_REDIS_URL",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2)
    if not settings.migrate_on_start:
        # Refuse before listening, with one line rather than a start-up traceback.
        try:
            asyncio.run(_check_schema(settings))
        except ConfigurationError as exc:
            typer.secho(f"configuration error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from exc
    uvicorn.run(
        "reelstack.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_level=settings.log_level,
        access_log=False,  # the app writes its own: no query strings, with durations and ids
        lifespan="on",
        # Open WebSockets and event streams would otherwise hold a stop for ever.
        timeout_graceful_shutdown=10,
    )


async def _check_schema(settings: Settings) -> None:
    from reelstack.db import Database
    from reelstack.runtime import prepare_schema

    db = Database(settings.resolved_database_url)
    try:
        await prepare_schema(settings, db)
    finally:
        await db.dispose()


async def _run_worker(settings: Settings, queues: tuple[str, ...]) -> None:
    from reelstack.runtime import open_runtime

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with open_runtime(settings, consume_jobs=True, queues=queues):
        logging.getLogger("reelstack.worker").info("worker consuming %s", ", ".join(queues))
        await stop.wait()


@app.command()
def worker(
    queue: Annotated[
        list[str] | None,
        typer.Option("--queue", "-q", help="Queue to consume (repeatable); all queues by default."),
    ] = None,
) -> None:
    """Run background jobs: transcodes, fan-out, notifications, periodic repairs."""
    from reelstack.infra.jobs import QUEUES

    settings = _settings()
    _logging(settings)
    if not settings.scale_out:
        typer.secho(
            "`reelstack worker` needs the shared queue, cache and pub/sub in Redis: set "
            "REELSTACK_REDIS_URL. In embedded mode `reelstack serve` runs the jobs itself.",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2)
    queues = tuple(queue) if queue else QUEUES
    unknown = set(queues) - set(QUEUES)
    if unknown:
        typer.secho(
            f"unknown queue(s): {', '.join(sorted(unknown))}; known: {', '.join(QUEUES)}",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2)
    try:
        asyncio.run(_run_worker(settings, queues))
    except ConfigurationError as exc:
        typer.secho(f"configuration error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc


async def _migrate(settings: Settings) -> str | None:
    from reelstack.db import Database
    from reelstack.migrate import current_revision, upgrade_to_head

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    try:
        await upgrade_to_head(db.writer)
        return await current_revision(db.writer)
    finally:
        await db.dispose()


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (embedded mode also does this at start-up)."""
    settings = _settings()
    revision = asyncio.run(_migrate(settings))
    typer.echo(f"database at revision {revision}")


async def _create_admin(settings: Settings, username: str, email: str, password: str) -> str:
    from reelstack.accounts import service
    from reelstack.accounts.schemas import RegisterRequest
    from reelstack.runtime import open_runtime

    data = RegisterRequest(username=username, email=email, password=password)
    async with open_runtime(settings) as rt, rt.unit_of_work() as session:
        user = await service.create_admin(session, rt.passwords, data)
        return user.id


@app.command()
def createadmin(
    username: Annotated[str, typer.Option(prompt=True)],
    email: Annotated[str, typer.Option(prompt=True)],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="REELSTACK_ADMIN_PASSWORD",
        ),
    ],
) -> None:
    """Create an admin account, or make an existing account an admin."""
    settings = _settings()
    try:
        user_id = asyncio.run(_create_admin(settings, username, email, password))
    except ValidationError as exc:
        for err in exc.errors():
            typer.secho(
                f"{'.'.join(map(str, err['loc']))}: {err['msg']}", fg=typer.colors.RED, err=True
            )
        raise typer.Exit(2) from exc
    typer.echo(f"admin {username} ({user_id}) is ready")


@app.command()
def demo(
    users: Annotated[int, typer.Option(min=1, help="Viewers with hidden interests.")] = 200,
    videos: Annotated[int, typer.Option(min=1, help="Videos, sharing a few real clips.")] = 2000,
    clips: Annotated[int, typer.Option(min=0, help="Real clips to process and share.")] = 2,
    seed: Annotated[int, typer.Option(help="Same seed, same world.")] = 7,
) -> None:
    """Build a demo community: topics, creators, viewers, follows, likes and watches."""
    from reelstack.feed.demo import PASSWORD, run_demo

    settings = _settings()
    _logging(settings)
    world = asyncio.run(run_demo(settings, users=users, videos=videos, clips=clips, seed=seed))
    typer.echo(
        f"{len(world.users)} viewers, {len(world.creators)} creators, {len(world.videos)} videos;"
        f" every demo account's password is {PASSWORD!r}"
    )


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)
