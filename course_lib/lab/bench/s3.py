"""`course bench s3`: our presigned-part uploader against boto3's TransferManager, same server, same file.

The server is COURSE_S3_ENDPOINT when set, else moto's S3 server in its own process; the course API that
signs our parts runs in its own process too, so no server shares a process (or a GIL) with a client. For
each file size (64 MiB and 256 MiB by default), on fresh servers and after one unmeasured upload each,
the two sides take turns, `repeat` times, with the same part size (8 MiB) and concurrency (8): ours
hashes parts ahead, gets their URLs from the course API a window at a time and PUTs them with httpx;
TransferManager (`upload_file`) signs locally with the credentials. Throughput is the median; `ratio` =
ours / TransferManager's. Every upload of ours is checked: the object's ETag is the multipart ETag
computed locally. The report also holds each process's CPU seconds: on a small machine the server and
both clients share the cores, so the ratio follows what each client spends.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import psutil
from boto3.s3.transfer import TransferConfig

from course_lib import api, backends
from course_lib.api.tables import reset_tables
from course_lib.auth import TokenService, seed_users
from course_lib.backends import settings
from course_lib.backends.s3_backend import EMBEDDED_CREDENTIALS, S3Backend
from course_lib.clock import median_ms
from course_lib.lab.bench.orders import Server
from course_lib.logs import discard
from course_lib.s3 import MiB, Uploader, UploadService

PART, CONCURRENCY = 8 * MiB, 8
# moto spools every part and object over ~5 MiB to a temporary file. On one machine those writes share
# the disk with MariaDB, whose commit fsyncs only our side waits for (the API records each upload), so
# they slowed our create and complete alone (complete at 64 MiB: 0.21-0.30 s vs TransferManager's
# 0.15-0.19 s). S3 and the database are different machines: the bench's S3 server keeps bytes in memory.
KEEP_IN_MEMORY = 1024 * MiB
# ...and keeps the memory it has touched. moto assembles an object in Python: CompleteMultipartUpload of
# 256 MiB allocates ~768 MiB of fresh buffers (about 197,000 page faults, counted inside the server).
# glibc returns such big buffers to the kernel when freed, and this kind of VM hands freed memory back
# to its host (free page reporting: `page_reporting.page_reporting_order=11` on the kernel command line),
# so each fault may wait for the host: the same complete took 0.59-2.12 s of the server thread's CPU,
# whichever client had sent the parts. One arena, no mmap for big buffers and no trimming keep the
# server's pages once touched: after the first uploads the same complete takes 0.15-0.17 s with no
# faults. It is the server's setting, so both clients get it; the clients and the API keep glibc's defaults.
SERVER_MALLOC = {"MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_THRESHOLD_": str(4 * 1024 * MiB),
                 "MALLOC_TRIM_THRESHOLD_": str(64 * 1024 * 1024 * MiB)}
SERVER_START_TIMEOUT_S = 30
# Unmeasured uploads per side before the measured ones. With one, the first measured runs of both sides
# were still 10-35% slower than the rest (the server's heap still growing to its working size).
WARMUP = 2


class OwnMotoServer:
    """The embedded S3 server (moto's, with S3's checksum checks) as a separate process on a free loopback port."""

    def __init__(self) -> None:
        self.port = settings.free_port()
        self.process = subprocess.Popen([sys.executable, "-m", "course_lib.backends.s3_fidelity", str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        env={**os.environ, **SERVER_MALLOC,
                                             "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(KEEP_IN_MEMORY)})
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            try:
                httpx.get(self.url, timeout=1)
                return
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the S3 server did not start (python -m course_lib.backends.s3_fidelity)"
                                       ) from None
                time.sleep(0.1)

    def backend(self) -> S3Backend:
        import moto

        return S3Backend(endpoint=self.url, embedded=True, server="moto server with S3's checksum checks (own process)",
                         version=moto.__version__, credentials=dict(EMBEDDED_CREDENTIALS))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def _api_server(engine, s3_backend: S3Backend, folder: Path):
    """The course API in its own process, as in production (it signs every part: in the uploader's process
    it would compete with the uploader for the GIL, a cost no real client pays). The emulated Redis lives
    inside this process only, so with it the API runs in a thread here instead."""
    redis_url = backends.redis().url
    if not redis_url.startswith("redis://"):
        service = UploadService.on(engine, s3_backend)
        return api.start(api.create_app(engine, backends.redis().new_client(), upload_service=service))
    env = {settings.S3_ENDPOINT: s3_backend.endpoint, "AWS_ACCESS_KEY_ID": s3_backend.credentials["aws_access_key_id"],
           "AWS_SECRET_ACCESS_KEY": s3_backend.credentials["aws_secret_access_key"]}
    return Server(engine.url.render_as_string(hide_password=False), redis_url, folder / "s3-api.log",
                  faults=False, env=env)


def _file(folder: Path, size: int) -> Path:
    """The file to upload, written once and flushed to disk: a file written just before it is measured
    is still being written back while the first uploads read it (measured here on a fresh checkout:
    0.71 at 64 MiB with the write-back running, 1.07 on the next run with the file already on disk)."""
    path = folder / f"bench-{size // MiB}MiB.bin"
    if not path.exists() or path.stat().st_size != size:
        with open(path, "wb") as f:
            for _ in range(size // MiB):
                f.write(os.urandom(MiB))
            f.flush()
            os.fsync(f.fileno())
    return path


@dataclass(frozen=True)
class Run:
    """One upload: whole-upload throughput, the same split at CompleteMultipartUpload, and the CPU
    seconds each process spent on it (client, signing API, S3 server)."""

    seconds: float
    complete_seconds: float
    size: int
    cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def mb_per_s(self) -> float:
        return self.size / 1e6 / self.seconds

    @property
    def parts_mb_per_s(self) -> float:
        return self.size / 1e6 / (self.seconds - self.complete_seconds)


def _ours(uploader: Uploader, boto, bucket: str, path: Path) -> Run:
    result = uploader.upload(path, path.name, part_size=PART)  # timed from before CreateMultipartUpload, as TM
    if result.checksum != result.expected_checksum:  # the uploader raises first; this keeps the bench honest
        raise AssertionError(f"object checksum {result.checksum} != {result.expected_checksum}")
    boto.delete_object(Bucket=bucket, Key=result.key)
    return Run(result.seconds, result.complete_seconds, result.size)


def _transfer_manager(boto, transfer: TransferConfig, bucket: str, path: Path, run: int) -> Run:
    key, marks = f"transfer-manager/{run}/{path.name}", dict[str, float]()
    before = lambda **_: marks.__setitem__("complete", time.perf_counter())  # noqa: E731
    boto.meta.events.register("before-call.s3.CompleteMultipartUpload", before)
    start = time.perf_counter()
    boto.upload_file(str(path), bucket, key, Config=transfer)
    end = time.perf_counter()
    boto.meta.events.unregister("before-call.s3.CompleteMultipartUpload", before)
    boto.delete_object(Bucket=bucket, Key=key)
    return Run(end - start, end - marks["complete"], path.stat().st_size)


class Stage:
    """The servers one file size is measured on, fresh for each size: moto's server in its own process
    (unless COURSE_S3_ENDPOINT is set), the course API that signs our parts, and both clients. moto keeps
    every object in a Python process whose memory and garbage grow with its uploads (measured here: the
    same 256 MiB complete took 0.5 s on a fresh server and 0.5-1.6 s on one that had served a bench run),
    so a fresh server per size keeps the sizes from inheriting each other's history."""

    def __init__(self, engine, token: str, folder: Path) -> None:
        self.own = None if settings.current().s3_endpoint else OwnMotoServer()
        self.s3 = self.own.backend() if self.own else backends.s3()
        self.service = UploadService.on(engine, self.s3)  # creates the bucket and its lifecycle rule
        self.server = _api_server(engine, self.s3, folder)
        self.boto = self.s3.new_client(max_pool_connections=CONCURRENCY)
        self.transfer = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART,
                                       max_concurrency=CONCURRENCY)
        self.uploader = Uploader(self.server.url, token, concurrency=CONCURRENCY, progress=False)

        # CPU seconds per process: on 2 cores the three compete, so a side's throughput follows its CPU.
        self.processes = {"client": psutil.Process()}
        if hasattr(self.server, "process"):  # else the API runs in a thread here and counts as client
            self.processes["signing_api"] = psutil.Process(self.server.process.pid)
        if self.own:
            self.processes["s3_server"] = psutil.Process(self.own.process.pid)

    def _cpu(self) -> dict[str, float]:
        return {name: sum(proc.cpu_times()[:2]) for name, proc in self.processes.items()}

    def run(self, side: str, path: Path, run: int) -> Run:
        before = self._cpu()
        if side == "ours":
            measured = _ours(self.uploader, self.boto, self.service.bucket, path)
        else:
            measured = _transfer_manager(self.boto, self.transfer, self.service.bucket, path, run)
        after = self._cpu()
        return replace(measured, cpu_s={name: after[name] - before[name] for name in after})

    def close(self) -> None:
        self.uploader.close()
        self.server.stop()
        if self.own:
            self.own.stop()


def _measure(stage: Stage, path: Path, repeat: int) -> dict:
    """WARMUP unmeasured uploads per side (connections, the file in the page cache, and the server's
    and clients' memory touched up to what an upload needs), then `repeat` turns each, swapping who
    goes first so drift hits both sides alike."""
    for i in range(WARMUP):
        stage.run("ours", path, -1 - i)
        stage.run("theirs", path, -1 - i)
    runs: dict[str, list[Run]] = {"ours": [], "theirs": []}
    for i in range(repeat):
        for side in ("ours", "theirs") if i % 2 == 0 else ("theirs", "ours"):
            runs[side].append(stage.run(side, path, i))
    ours, theirs = runs["ours"], runs["theirs"]
    med = lambda runs, attr: statistics.median(getattr(r, attr) for r in runs)  # noqa: E731
    return {
        "ours_mb_per_s": round(med(ours, "mb_per_s"), 1),
        "transfer_manager_mb_per_s": round(med(theirs, "mb_per_s"), 1),
        "ratio": round(med(ours, "mb_per_s") / med(theirs, "mb_per_s"), 3),
        "ours_parts_mb_per_s": round(med(ours, "parts_mb_per_s"), 1),
        "transfer_manager_parts_mb_per_s": round(med(theirs, "parts_mb_per_s"), 1),
        "parts_ratio": round(med(ours, "parts_mb_per_s") / med(theirs, "parts_mb_per_s"), 3),
        "ours_complete_s": round(med(ours, "complete_seconds"), 2),
        "transfer_manager_complete_s": round(med(theirs, "complete_seconds"), 2),
        "ours_cpu_s": _median_cpu(ours),
        "transfer_manager_cpu_s": _median_cpu(theirs),
        "ours_runs": [round(r.mb_per_s, 1) for r in ours],
        "transfer_manager_runs": [round(r.mb_per_s, 1) for r in theirs]}


def _median_cpu(runs: list[Run]) -> dict[str, float]:
    return {name: round(statistics.median(r.cpu_s[name] for r in runs), 2) for name in runs[0].cpu_s}


# The integrity checks each side makes, printed beside the figures.
CHECKS = {
    "ours": "CRC32 and length per part, signed into its URL; the server verifies the CRC32 (400 BadDigest) and "
            "answers the CRC32 it stored, which the client compares; complete lists each part's CRC32 and the "
            "planned size, which the server checks; the object's composite CRC32 compared at complete",
    "TransferManager": "CRC32 per part (botocore's default request checksum), verified by the server; over plain "
                       "HTTP a SHA-256 payload hash in each SigV4 signature; nothing compared at complete",
}


def checksum_costs_ms(part: int = PART, rounds: int = 5) -> dict[str, float]:
    """What each side computes per part before sending it, timed on this CPU (median of `rounds`): ours
    CRC32 (the legacy path added MD5 for Content-MD5 and the ETag checks); TransferManager, over plain
    HTTP, SHA-256 (SigV4 payload signing) + CRC32."""
    data = os.urandom(part)
    md5 = median_ms(lambda: hashlib.md5(data, usedforsecurity=False).digest(), rounds)
    sha256 = median_ms(lambda: hashlib.sha256(data).digest(), rounds)
    crc32 = median_ms(lambda: zlib.crc32(data), rounds)
    return {"ours_crc32_ms": round(crc32, 1), "legacy_md5_crc32_ms": round(md5 + crc32, 1),
            "transfer_manager_sha256_crc32_ms": round(sha256 + crc32, 1)}


def main(sizes_mib: tuple[int, ...] = (64, 256), repeat: int = 5, out: Path | None = None) -> dict:
    discard()  # the API logs every sign request; the bench prints its own table
    folder = settings.current().build_dir / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    engine = backends.sql().engine
    reset_tables(engine)
    user = seed_users(engine)[0]
    token = TokenService(engine).create(user.id, "bench", ["uploads:write"]).plain_text
    report: dict = {"benchmark": "s3", "part_size": PART, "concurrency": CONCURRENCY, "repeat": repeat,
                    "cpus": os.cpu_count(), "checks": CHECKS, "checksums_per_part": checksum_costs_ms(), "sizes": {}}
    paths = {size_mib: _file(folder, size_mib * MiB) for size_mib in sizes_mib}  # every file on disk first
    for size_mib, path in paths.items():
        stage = Stage(engine, token, folder)
        try:
            report["server"] = stage.s3.server
            report["sizes"][f"{size_mib}MiB"] = _measure(stage, path, repeat)
        finally:
            stage.close()
    report["ratio"] = min(s["ratio"] for s in report["sizes"].values())
    out = out or folder / "s3.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"S3 server: {report['server']}; part {PART // MiB} MiB, concurrency {CONCURRENCY}, median of {repeat}")
    print(f"{'file':<8}{'ours MB/s':>11}{'TM MB/s':>9}{'ratio':>7}   {'parts only: ours':>17}{'TM':>7}{'ratio':>7}"
          f"   {'complete s: ours':>17}{'TM':>6}")
    for name, s in report["sizes"].items():
        print(f"{name:<8}{s['ours_mb_per_s']:>11}{s['transfer_manager_mb_per_s']:>9}{s['ratio']:>7}   "
              f"{s['ours_parts_mb_per_s']:>17}{s['transfer_manager_parts_mb_per_s']:>7}{s['parts_ratio']:>7}   "
              f"{s['ours_complete_s']:>17}{s['transfer_manager_complete_s']:>6}")
    print(f"CPU seconds per upload (median), ours vs TransferManager, on {report['cpus']} cores:")
    for name, s in report["sizes"].items():
        print(f"  {name:<6} ours {_cpu_line(s['ours_cpu_s'])}  |  TM {_cpu_line(s['transfer_manager_cpu_s'])}")
    sums = report["checksums_per_part"]
    print(f"checksums per {PART // MiB} MiB part: ours CRC32 {sums['ours_crc32_ms']} ms (legacy MD5+CRC32 "
          f"{sums['legacy_md5_crc32_ms']} ms), TM SHA-256+CRC32 {sums['transfer_manager_sha256_crc32_ms']} ms")
    for side, checks in CHECKS.items():
        print(f"checks, {side}: {checks}")
    print(f"ratio (worst size) = {report['ratio']}  -> {out}")
    return report


def _cpu_line(cpu: dict[str, float]) -> str:
    return " ".join(f"{name}={seconds}" for name, seconds in cpu.items())
