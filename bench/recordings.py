"""Finished-call throughput: transcode, upload to S3, verify; and the memory each job takes.

    .venv/bin/python -m bench.recordings [--minutes 10] [--recordings-per-job 3]
                                         [--formats opus,mp3] [--jobs 1,CORES]

Each job does what the pipeline does with one finished call: `transcode` in a thread (pydub
plus an ffmpeg child), `S3Store.put` (SHA-256 checked, sent as the checksum), `S3Store.stat`
and a comparison of the checksums. The calls are synthetic 8 kHz mono recordings (voiced
harmonics under a syllable-rate envelope, pauses, background noise: compresses like speech,
not like silence). S3 is moto's server in its own process, started here, on the same machine:
its CPU is reported apart and competes for the same cores, so the numbers understate a real
deployment where S3 is remote.

Each cell runs in a fresh process so its memory high-water marks are its own: the Python
process's peak RSS growth over its idle size (VmHWM, reset through /proc/self/clear_refs),
divided by the jobs running at once, plus one ffmpeg child (every job has at most one at a
time), counted twice over: its peak RSS (getrusage(RUSAGE_CHILDREN).ru_maxrss, which counts the
static ffmpeg binary's pages that all children share) and its private memory (sampled from
/proc/PID/smaps_rollup every 10 ms), which is what one more concurrent job really costs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

from bench.common import free_port, machine, stop, wait_for_port
from recordings.media import ffmpeg_path, transcode
from recordings.s3_store import S3Credentials, S3Store

BUCKET = "ledgerline-bench-recordings"
CREDENTIALS = S3Credentials("AKIDBENCH", "bench-secret")
TARGET_X_REAL_TIME_PER_CORE = 60
# A talker around 140 Hz with two formant-ish harmonics drifting in pitch, syllables at
# 3.7 Hz, a pause every few seconds, and line noise underneath.
SPEECH_LIKE = (
    "(0.25*sin(2*PI*(140+25*sin(2*PI*0.7*t))*t)"
    "+0.12*sin(2*PI*(420+60*sin(2*PI*0.9*t))*t)"
    "+0.06*sin(2*PI*(1260+90*sin(2*PI*1.3*t))*t))"
    "*max(0\\,sin(2*PI*3.7*t))*gt(sin(2*PI*0.23*t+1)\\,-0.4)"
    "+0.03*(random(0)-0.5)"
)


def synthesise_call(path: Path, seconds: float) -> Path:
    subprocess.run(
        [ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", f"aevalsrc=exprs='{SPEECH_LIKE}':s=8000:d={seconds}",
         "-ac", "1", "-c:a", "pcm_s16le", str(path)],
        check=True,
    )  # fmt: skip
    return path


# --- one cell, in its own process -----------------------------------------------------------


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class _ChildMemory(threading.Thread):
    """Samples this process's ffmpeg children every 10 ms for the largest one's private
    memory: RSS counts the static binary's shared pages in full for every child."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_private_kib = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.01):
            for pid in _children():
                try:
                    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
                except OSError:
                    continue  # it just ended
                private = sum(int(line.split()[1]) for line in rollup
                              if line.startswith(("Private_Clean:", "Private_Dirty:")))  # fmt: skip
                self.peak_private_kib = max(self.peak_private_kib, private)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak_private_kib


def _children() -> list[str]:
    pids: list[str] = []
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that just ended
            pids += (task / "children").read_text().split()
    return pids


async def _one_call(store: S3Store, source: Path, work: Path, fmt: str, n: int) -> list[float]:
    folder = work / f"job-{n}"
    folder.mkdir()
    call = folder / f"{n}.wav"
    os.link(source, call)  # its own name; the bytes are shared, as Asterisk's file would be
    started = time.perf_counter()
    audio = await asyncio.to_thread(transcode, call, folder, fmt)
    transcoded = time.perf_counter()
    key = f"bench/2026/03/09/{n}{audio.format.extension}"
    await store.put(key, audio.path, content_type=audio.format.content_type,
                    sha256=audio.sha256, metadata={"tenant": "bench", "call": str(n)})  # fmt: skip
    stored = await store.stat(key)
    if stored is None or stored.sha256 != audio.sha256 or stored.size != audio.size:
        raise RuntimeError(f"{key} did not verify: {stored}")
    verified = time.perf_counter()
    audio.path.unlink()
    call.unlink()
    return [transcoded - started, verified - transcoded, audio.duration_ms / 1000, audio.size]


async def _run_cell(args: argparse.Namespace) -> dict[str, object]:
    logging.getLogger("botocore").setLevel(logging.WARNING)
    store = S3Store(
        BUCKET, endpoint_url=args.endpoint, credentials=CREDENTIALS,
        config=Config(max_pool_connections=args.jobs + 4),
    )  # fmt: skip
    work = Path(args.work) / f"cell-{args.format}-{args.jobs}"
    work.mkdir()
    await _one_call(store, Path(args.warmup), work, args.format, -1)  # imports, connections
    reset = _reset_peak_rss()
    idle_kib = _status_kib("VmRSS") if reset else _status_kib("VmHWM")
    before_self = resource.getrusage(resource.RUSAGE_SELF)
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    gate = asyncio.Semaphore(args.jobs)
    sampler = _ChildMemory()
    sampler.start()

    async def gated(n: int) -> list[float]:
        async with gate:
            return await _one_call(store, Path(args.source), work, args.format, n)

    started = time.perf_counter()
    results = await asyncio.gather(*(gated(n) for n in range(args.jobs * args.count)))
    wall = time.perf_counter() - started
    after_self = resource.getrusage(resource.RUSAGE_SELF)
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    ffmpeg_private_peak_kib = sampler.stop()
    store.close()
    cpu = sum(
        (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        for before, after in ((before_self, after_self), (before_children, after_children))
    )
    return {
        "wall": wall,
        "cpu": cpu,
        "calls": len(results),
        "audio": sum(r[2] for r in results),
        "transcode": sum(r[0] for r in results) / len(results),
        "upload": sum(r[1] for r in results) / len(results),
        "bytes": sum(r[3] for r in results),
        "python_peak_growth_kib": _status_kib("VmHWM") - idle_kib,
        "ffmpeg_peak_kib": after_children.ru_maxrss,
        "ffmpeg_private_peak_kib": ffmpeg_private_peak_kib,
        "peak_reset": reset,
    }


# --- the driver ------------------------------------------------------------------------------


@dataclass
class Cell:
    fmt: str
    jobs: int
    result: dict[str, float]
    moto_cpu: float

    def row(self) -> str:
        r = self.result
        per_wall = r["audio"] / r["wall"]
        python_mib = r["python_peak_growth_kib"] / self.jobs / 1024
        ffmpeg_mib = r["ffmpeg_peak_kib"] / 1024
        private_mib = r["ffmpeg_private_peak_kib"] / 1024
        calls = f"{int(r['calls'])} × {r['audio'] / r['calls'] / 60:.0f} min"
        return (
            f"| {self.fmt} | {self.jobs} | {calls} | {r['wall']:.1f} | {per_wall:,.0f} "
            f"| **{per_wall / self.jobs:,.0f}** | {r['audio'] / r['cpu']:,.0f} "
            f"| {self.moto_cpu:.1f} | {r['transcode']:.2f} / {r['upload']:.2f} "
            f"| {r['bytes'] * 8 / r['audio'] / 1000:.1f} "
            f"| {python_mib + ffmpeg_mib:.0f} = {python_mib:.0f} + {ffmpeg_mib:.0f} "
            f"| {python_mib + private_mib:.0f} = {python_mib:.0f} + {private_mib:.0f} |"
        )


def _process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cell(fmt: str, jobs: int, args: argparse.Namespace, extra: list[str], moto: int) -> Cell:
    moto_before = _process_cpu(moto)
    completed = subprocess.run(
        [sys.executable, "-m", "bench.recordings", "--cell", "--format", fmt,
         "--jobs", str(jobs), "--count", str(args.recordings_per_job), *extra],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    if completed.returncode != 0:
        raise RuntimeError(f"the {fmt} cell with {jobs} jobs failed:\n{completed.stderr}")
    return Cell(fmt, jobs, json.loads(completed.stdout), _process_cpu(moto) - moto_before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--recordings-per-job", type=int, default=3)
    parser.add_argument("--formats", default="opus,mp3")
    parser.add_argument("--jobs", default=f"1,{os.cpu_count() or 1}")
    parser.add_argument("--cell", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--format", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    for name in ("--endpoint", "--source", "--warmup", "--work"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cell:
        args.jobs = int(args.jobs)
        print(json.dumps(asyncio.run(_run_cell(args))))
        return

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="ledgerline-bench-") as work:
        source = synthesise_call(Path(work) / "call.wav", args.minutes * 60)
        warmup = synthesise_call(Path(work) / "warmup.wav", 5)
        port = free_port()
        moto = subprocess.Popen(
            [sys.executable, "-c", "from moto.server import main; main()",
             "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_for_port(port, moto)
            endpoint = f"http://127.0.0.1:{port}"
            boto3.session.Session().client(
                "s3", endpoint_url=endpoint, region_name="us-east-1",
                aws_access_key_id=CREDENTIALS.access_key_id,
                aws_secret_access_key=CREDENTIALS.secret_access_key,
            ).create_bucket(Bucket=BUCKET)  # fmt: skip
            extra = ["--endpoint", endpoint, "--source", str(source), "--warmup", str(warmup),
                     "--work", work]  # fmt: skip
            _print_header(args, cores)
            for fmt in args.formats.split(","):
                for jobs in (int(j) for j in args.jobs.split(",")):
                    print(_cell(fmt, jobs, args, extra, moto.pid).row(), flush=True)
        finally:
            stop(moto)
    print(
        f"\nTarget: at least {TARGET_X_REAL_TIME_PER_CORE}× real time per core for Opus "
        "(the bold column of the all-cores rows)."
    )


def _print_header(args: argparse.Namespace, cores: int) -> None:
    version = subprocess.run(
        [ffmpeg_path(), "-version"], capture_output=True, text=True
    ).stdout.split(" Copyright", 1)[0]
    print(f"\nmachine: {machine()}")
    print(f"{version}; S3: moto server (own process, same machine), S3Store defaults")
    print(
        f"calls: {args.minutes:g} min, 8 kHz 16-bit mono WAV, speech-like; "
        f"{args.recordings_per_job} per job slot; one job = transcode + put + stat + compare\n"
    )
    print(
        "| format | jobs at once | calls | wall s | audio s / wall s | × real time per core "
        "| audio s / CPU s | moto CPU s | s per call: transcode / upload+verify "
        "| output kbit/s | MiB per job, RSS: Python + ffmpeg "
        "| MiB per job, private: Python + ffmpeg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")


if __name__ == "__main__":
    main()
