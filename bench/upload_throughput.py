"""Chunked upload throughput over loopback against a plain copy of the same bytes.

A real `reelstack serve` (embedded mode, local storage) receives a 256 MiB file with
`PUT /api/v1/videos/upload/{id}/chunk`, one chunk after the other, first at the chunk size the
server suggests and then at the largest chunk it accepts. The baseline is `shutil.copyfile` of
the same file into the server's data directory (same disk). The payload was just written, so
both read it from the page cache; neither fsyncs. Repetitions are interleaved.

    .venv/bin/python bench/upload_throughput.py [--reps N] [--mib SIZE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import (
    CACHE,
    Api,
    Server,
    fresh_dir,
    invoked_as,
    machine_report,
    median,
    running_server,
)

MIB = 1024 * 1024
LARGEST_CHUNK = 64 * MIB  # the server's default upload_max_chunk_bytes


@dataclass(frozen=True)
class Sample:
    wall: float
    server_cpu: float
    client_cpu: float


def payload(mib: int) -> Path:
    """Incompressible bytes with a video name (the content is not checked before `complete`)."""
    path = CACHE / f"upload-payload-{mib}MiB.bin"
    if not path.exists() or path.stat().st_size != mib * MIB:
        CACHE.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            for _ in range(mib):
                out.write(os.urandom(MIB))
    with path.open("rb") as source:  # warm the page cache for every method alike
        while source.read(16 * MIB):
            pass
    return path


def measure(server: Server, action: Callable[[], object]) -> Sample:
    server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
    started = time.perf_counter()
    action()
    wall = time.perf_counter() - started
    return Sample(wall, server.cpu_seconds() - server_cpu, time.process_time() - client_cpu)


def copy_once(source: Path, server: Server) -> Sample:
    target = server.data_dir / "copy-target.bin"
    try:
        return measure(server, lambda: shutil.copyfile(source, target))
    finally:
        target.unlink(missing_ok=True)


def upload_once(api: Api, source: Path, server: Server, chunk_size: int | None) -> Sample:
    """Time the chunk PUTs only (not init); the stored ranges are removed afterwards."""
    upload = api.init_upload(source.stat().st_size, "payload.mp4")
    size = chunk_size or int(upload["chunk_size"])
    sample = measure(server, lambda: api.upload_chunks(upload["upload_id"], source, size))
    state = api.client.get(f"/api/v1/videos/upload/{upload['upload_id']}").json()
    if state["bytes_uploaded"] != source.stat().st_size:
        raise RuntimeError(f"upload incomplete: {state}")
    shutil.rmtree(server.data_dir / "media" / "uploads" / upload["upload_id"], ignore_errors=True)
    return sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions")
    parser.add_argument("--mib", type=int, default=256, help="payload size in MiB")
    options = parser.parse_args()

    source = payload(options.mib)
    size = source.stat().st_size
    work = fresh_dir(CACHE / "upload-run")
    methods = ["copy", "server chunk size", "64 MiB chunks"]
    samples: dict[str, list[Sample]] = {method: [] for method in methods}
    with running_server(work / "server") as server:
        api = Api(server)
        suggested = int(api.init_upload(size, "probe.mp4")["chunk_size"])
        try:
            for rep in range(options.reps):
                order = methods if rep % 2 == 0 else methods[::-1]
                for method in order:
                    if method == "copy":
                        sample = copy_once(source, server)
                    elif method == "server chunk size":
                        sample = upload_once(api, source, server, None)
                    else:
                        sample = upload_once(api, source, server, LARGEST_CHUNK)
                    samples[method].append(sample)
                print(f"rep {rep + 1} done", flush=True)
        finally:
            api.close()

    copy_wall = median([s.wall for s in samples["copy"]])
    labels = {
        "copy": "`shutil.copyfile`, same file, same disk",
        "server chunk size": f"chunked upload, {suggested // MIB} MiB chunks (server's)",
        "64 MiB chunks": f"chunked upload, {LARGEST_CHUNK // MIB} MiB chunks (server max)",
    }
    lines = [
        "### Chunk upload throughput (loopback, real server)",
        "",
        machine_report(invoked_as()),
        f"- payload: {size / 1e6:.0f} MB ({options.mib} MiB) of random bytes, page-cached; "
        f"{options.reps} interleaved repetitions, medians shown",
        "",
        "| method | wall (s) | MB/s | vs copy | server CPU (s) | client CPU (s) | all wall (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for method in methods:
        runs = samples[method]
        wall = median([s.wall for s in runs])
        lines.append(
            f"| {labels[method]} | {wall:.2f} | {size / 1e6 / wall:.0f} | "
            f"{copy_wall / wall:.2f} | {median([s.server_cpu for s in runs]):.2f} | "
            f"{median([s.client_cpu for s in runs]):.2f} | "
            f"{', '.join(f'{s.wall:.2f}' for s in runs)} |"
        )
    lines.append("")
    lines.append("'vs copy' is upload throughput / copy throughput (1.00 would match a copy).")
    print()
    print("\n".join(lines))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
