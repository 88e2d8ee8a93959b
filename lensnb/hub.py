"""Whether the Hugging Face hub can be reached, asked once and quickly."""

from __future__ import annotations

import os
import socket
from urllib.parse import ParseResult, urlparse
from urllib.request import getproxies, proxy_bypass

from lensnb.errors import LensError

__all__ = ["hub_reachable"]


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub (``HF_ENDPOINT``, default huggingface.co) accepts a TCP connection.

    False at once when ``HF_HUB_OFFLINE`` is set; otherwise one connection attempt of at
    most ``timeout`` seconds (name lookup included), nothing downloaded. Where a proxy is
    set for the hub's scheme (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, honouring
    ``NO_PROXY``), as huggingface_hub's own client would use it, the connection tried is
    to that proxy: on networks that reach the hub only through one, a direct connection
    fails although downloads work.
    """
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise LensError.bad_argument("timeout", timeout, "a positive number of seconds")
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    endpoint = _url(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    if not endpoint.hostname:
        return False
    target = endpoint
    proxy = getproxies().get(endpoint.scheme) or getproxies().get("all")
    if proxy and not proxy_bypass(endpoint.hostname):
        target = _url(proxy, default_scheme="http")
        if not target.hostname:
            return False
    try:
        port = target.port or (443 if target.scheme == "https" else 80)
    except ValueError:  # a port that is not a number
        return False
    try:
        with socket.create_connection((target.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _url(text: str, default_scheme: str = "https") -> ParseResult:
    """``text`` parsed as a URL; a bare host (``hf-mirror.com``) gets ``default_scheme``."""
    text = text.strip()
    return urlparse(text if "://" in text else f"{default_scheme}://{text}")
