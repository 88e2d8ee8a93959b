"""A JupyterLab server for the browser tests: fresh settings, 127.0.0.1 only, stopped by its process group.

The server runs on a copy of the notebooks in a temporary folder (JupyterLab saves
notebooks; the committed ones must stay without outputs). Its environment is this
process's, offline and in quick mode. Voila, installed beside it, serves
``/voila/render/<notebook>`` from the same server.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

__all__ = ["JupyterServer", "free_port"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class JupyterServer:
    """``jupyter lab`` on 127.0.0.1 with a random token, in its own process group.

    Parameters
    ----------
    root : Path
        The folder it serves.
    scratch : Path
        For its configuration, runtime and settings folders, and its log.
    env : dict
        Extra environment variables for the server and its kernels.
    """

    def __init__(self, root: Path, scratch: Path, env: dict[str, str] | None = None):
        self.root, self.scratch = Path(root), Path(scratch)
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.log_path = self.scratch / "jupyter-server.log"
        self.process: subprocess.Popen | None = None
        config = self.scratch / "config"
        (config / "labconfig").mkdir(parents=True, exist_ok=True)
        # the "news" toast would cover the page in screenshots
        (config / "labconfig" / "page_config.json").write_text(
            json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
        )
        self.env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(config),
            "JUPYTER_RUNTIME_DIR": str(self.scratch / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(self.scratch / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.scratch / "workspaces"),
            **(env or {}),
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> None:
        command = [
            sys.executable, "-m", "jupyter", "lab", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0", "--no-browser", "--allow-root", f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}", "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]  # fmt: skip
        log = open(self.log_path, "w")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True, cwd=self.root)  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"jupyter lab did not answer within {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        """Stop the server and its kernels: the process group this object started, nothing else."""
        if self.process is None or self.process.poll() is not None:
            return
        group = os.getpgid(self.process.pid)
        os.killpg(group, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""
