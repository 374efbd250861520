"""`serve`: gunicorn running the inference app, configured from SageMaker's environment variables.

| variable | default | meaning |
| --- | --- | --- |
| SAGEMAKER_BIND_TO_PORT | 8080 | port to listen on |
| MODEL_SERVER_HOST | 0.0.0.0 | address to listen on (127.0.0.1 for local runs and tests) |
| MODEL_SERVER_WORKERS | one per CPU | worker processes, each with its own copy of the model |
| MODEL_SERVER_TIMEOUT | 60 | seconds a worker may be busy (stuck) before it is restarted |
| MODEL_SERVER_GRACEFUL_TIMEOUT | 25 | seconds SIGTERM waits for open connections (SageMaker kills at 30) |
| MODEL_SERVER_KEEPALIVE | 20 | seconds an idle keep-alive connection stays open (also bounds the SIGTERM wait) |
| SAGEMAKER_MAX_PAYLOAD_IN_MB | 6 | request body limit in MiB (413 above it); batch transform is told the same |
| MODEL_SERVER_USER | (none) | when started as root, workers switch to this user (the image sets `model`) |
| MODEL_SERVER_ACCESS_LOG | off | `1` logs every request (costs throughput) |
| MODEL_SERVER_LOG_LEVEL | info | gunicorn and app log level |
| SM_MODEL_DIR | /opt/ml/model | where `train` wrote the model |

The `serve` process is the gunicorn master itself (no shell or nginx in between), so SIGTERM reaches it
directly: it stops accepting connections, the workers finish the requests they hold (answering them
with `Connection: close`), idle keep-alive connections close when their keep-alive time runs out, and
it exits 0; whatever is still open after MODEL_SERVER_GRACEFUL_TIMEOUT seconds is cut.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from gunicorn.app.base import BaseApplication

from .paths import Paths

# gunicorn's asyncio worker: keep-alive, head and body in one write, less than half the CPU per request
# of the sync worker on this workload (measurements in README.md).
WORKER_CLASS = "asgi"


class ConfigError(ValueError):
    pass


def _int_env(env, name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
    return value


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _primary_group(user: str) -> int:
    import pwd

    try:
        return pwd.getpwnam(user).pw_gid
    except KeyError:
        raise ConfigError(f"MODEL_SERVER_USER={user!r} is not a user on this system") from None


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _log_level(env) -> str:
    level = env.get("MODEL_SERVER_LOG_LEVEL", "").strip().lower() or "info"
    if level not in LOG_LEVELS:
        raise ConfigError(f"MODEL_SERVER_LOG_LEVEL={level!r} is not one of {', '.join(LOG_LEVELS)}")
    return level


@dataclass(frozen=True)
class ServeConfig:
    host: str
    port: int
    workers: int
    timeout: int
    graceful_timeout: int
    keepalive: int
    max_body_bytes: int
    model_dir: Path
    user: str | None
    access_log: bool
    log_level: str

    @classmethod
    def from_env(cls, env=None) -> ServeConfig:
        env = os.environ if env is None else env
        user = env.get("MODEL_SERVER_USER", "").strip() or None
        return cls(
            host=env.get("MODEL_SERVER_HOST", "").strip() or "0.0.0.0",
            port=_int_env(env, "SAGEMAKER_BIND_TO_PORT", 8080),
            workers=_int_env(env, "MODEL_SERVER_WORKERS", cpu_count()),
            timeout=_int_env(env, "MODEL_SERVER_TIMEOUT", 60),
            graceful_timeout=_int_env(env, "MODEL_SERVER_GRACEFUL_TIMEOUT", 25),
            keepalive=_int_env(env, "MODEL_SERVER_KEEPALIVE", 20),
            max_body_bytes=_int_env(env, "SAGEMAKER_MAX_PAYLOAD_IN_MB", 6) * 1024 * 1024,
            model_dir=Paths.from_env(env).model_dir,
            user=user if hasattr(os, "geteuid") and os.geteuid() == 0 else None,
            access_log=env.get("MODEL_SERVER_ACCESS_LOG", "").strip().lower() in ("1", "true", "yes"),
            log_level=_log_level(env),
        )

    def gunicorn_options(self) -> dict:
        options = {
            "bind": [f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"],
            "workers": self.workers,
            "worker_class": WORKER_CLASS,
            "timeout": self.timeout,
            "graceful_timeout": self.graceful_timeout,
            "keepalive": self.keepalive,
            "asgi_loop": "asyncio",
            "asgi_lifespan": "off",
            "preload_app": False,  # each worker loads its own model after the fork
            "control_socket_disable": True,
            "proc_name": "model-server",
            "errorlog": "-",
            "loglevel": self.log_level,
            "accesslog": "-" if self.access_log else None,
        }
        if os.path.isdir("/dev/shm"):
            options["worker_tmp_dir"] = "/dev/shm"  # heartbeat file off the container's disk
        if self.user:
            # The worker's own group too, not root's: gunicorn keeps the master's group otherwise.
            options["user"] = self.user
            options["group"] = _primary_group(self.user)
        return options


class ModelServer(BaseApplication):
    def __init__(self, config: ServeConfig, options: dict):
        self.config, self.options = config, options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        # Runs in each worker after the fork, before it accepts connections: the model is loaded here.
        from .app import InferenceApp

        return InferenceApp(self.config.model_dir, self.config.max_body_bytes,
                            max_concurrent_transforms=self.config.workers)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Only -h/--help (the variables above configure the server): anything else is refused before it starts."""
    description, table = (__doc__ or "").split("\n\n")[:2]
    parser = argparse.ArgumentParser(
        prog="serve", description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="SageMaker runs `serve` with no arguments; it is configured by these variables:\n\n" + table
               + "\n\nexit status: 0 after a graceful stop, 2 bad arguments or configuration")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    parse_args(argv)
    try:
        config = ServeConfig.from_env()
        options = config.gunicorn_options()
    except ConfigError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    # One worker per CPU, each single-threaded: keep numerical libraries from starting thread pools.
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    # Import numpy and scikit-learn once in the master, before the fork, so that workers start fast
    # and share those pages; each worker still loads the model itself.
    from . import app  # noqa: F401

    logging.basicConfig(stream=sys.stderr, level=config.log_level.upper(),
                        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    logging.getLogger("serve").info(
        "starting model server on %s:%d with %d %s worker(s), timeout %ds, body limit %d bytes, model %s",
        config.host, config.port, config.workers, WORKER_CLASS, config.timeout, config.max_body_bytes,
        config.model_dir)
    ModelServer(config, options).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
