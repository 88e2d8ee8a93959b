"""Whether the Hugging Face hub can be reached, asked once and quickly."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

from lensnb.errors import LensError

__all__ = ["hub_reachable"]


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub (``HF_ENDPOINT``, default huggingface.co) accepts a TCP connection.

    False at once when ``HF_HUB_OFFLINE`` is set; otherwise one connection attempt of at
    most ``timeout`` seconds (name lookup included), nothing downloaded.
    """
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise LensError.bad_argument("timeout", timeout, "a positive number of seconds")
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    if not endpoint.hostname:
        return False
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False
