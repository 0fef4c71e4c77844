"""Runner profiles: how ``--runner NAME`` becomes Beam pipeline options.

* ``direct`` (default): Beam's FnApiRunner, in memory, one worker -- the
  fastest local choice on small machines, and it never tries to download Prism.
* ``multiprocess``: FnApiRunner with one SDK worker process per core.
* ``portable``: Beam's PortableRunner with the Python job service embedded and an
  external worker pool in separate processes, started and stopped here.
* anything else (``DataflowRunner``, ``FlinkRunner``, ``SparkRunner``...) is
  handed to Beam as it is, with ``--runner-option KEY=VALUE`` pairs as Beam options.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

from apache_beam.options.pipeline_options import PipelineOptions

from mailstore.errors import Kind, MailstoreError

__all__ = ["LOCAL_RUNNERS", "runner_options"]

LOCAL_RUNNERS = ("direct", "multiprocess", "portable")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _beam_args(extra: Sequence[str]) -> list[str]:
    args = []
    for item in extra:
        key, sep, value = item.partition("=")
        if not key:
            raise MailstoreError(Kind.PARAMS, f"--runner-option {item!r}: expected KEY=VALUE")
        args.append(f"--{key.lstrip('-')}={value}" if sep else f"--{key.lstrip('-')}")
    return args


@contextlib.contextmanager
def _worker_pool() -> Iterator[int]:
    """An external Beam SDK worker pool on a free loopback port, for the portable runner."""
    port = _free_port()
    env = dict(os.environ)
    # The pool starts workers as plain `python`: make that this interpreter.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
         f"--service_port={port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise MailstoreError(Kind.TEMP, "the Beam worker pool did not start")
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def runner_options(runner: str, extra: Sequence[str] = ()) -> Iterator[PipelineOptions]:
    """Pipeline options for a runner profile, with any services it needs running."""
    args = _beam_args(extra)
    name = runner.lower()
    if name in ("direct", "fnapi", "fnapirunner", "directrunner"):
        yield PipelineOptions(["--runner=FnApiRunner", "--direct_running_mode=in_memory", *args])
    elif name == "multiprocess":
        yield PipelineOptions([
            "--runner=FnApiRunner", "--direct_running_mode=multi_processing",
            "--direct_num_workers=0", *args,
        ])
    elif name == "portable":
        with _worker_pool() as port:
            yield PipelineOptions([
                "--runner=PortableRunner", "--job_endpoint=embed",
                "--environment_type=EXTERNAL", f"--environment_config=localhost:{port}", *args,
            ])
    else:
        yield PipelineOptions([f"--runner={runner}", *args])
