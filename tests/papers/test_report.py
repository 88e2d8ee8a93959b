"""PaperReport: JSON with NaN as null, HTML with every string escaped, inline SVG charts, files on disk."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import lensnb
from lensnb.papers import Curve, PaperReport, paper, run_settings
from lensnb.papers.report import svg_chart

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def report() -> PaperReport:
    rep = PaperReport("demo", f"title {HOSTILE}", "citation", model="m", data="d", convention="c")
    rep.add_table("table", pd.DataFrame({"a": [1.0, np.nan], HOSTILE: ["x", HOSTILE]}, index=["r1", "r2"]))
    rep.add_claim(f"claim {HOSTILE}", True, "evidence")
    rep.add_claim("unknown", None, "n/a")
    rep.curves.append(Curve(f"curve {HOSTILE}", {"s": ([0, 1, 2], [1.0, np.nan, 3.0], [0.1, 0.1, 0.1])}))
    rep.notes.append(HOSTILE)
    return rep


def test_json_is_plain_and_nan_is_null():
    data = json.loads(json.dumps(report().to_json()))
    assert data["tables"]["table"]["rows"][1][0] is None
    assert [c["verdict"] for c in data["claims"]] == ["supported", "cannot tell"]
    assert data["curves"][0]["series"]["s"]["y"][1] is None


def test_html_escapes_everything_and_runs_no_script(tmp_path):
    from tests.widgets.test_explorers import start_tags

    page = report().to_html()
    tags = start_tags(page)
    assert "script" not in tags and "img" not in tags and "svg" in tags
    assert page.count("&lt;script&gt;") >= 5  # title, table header and cell, claim, note, curve title
    json_path, html_path = report().save(tmp_path / "out")
    assert json_path.name == "demo.json" and html_path.read_text() == page
    # in Jupyter, MathJax typesets "$...$" in HTML outputs: the report's text is kept from it
    assert report()._repr_html_().startswith("<div class='tex2jax_ignore mathjax_ignore'>")
    for key in ("../escaped", "/tmp/x", ".hidden", "a/b", ""):
        bad = report()
        bad.key = key
        with pytest.raises(lensnb.LensError, match="key: expected a plain file name"):
            bad.save(tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["demo.html", "demo.json"]


def test_svg_chart_draws_lines_and_error_bars():
    svg = svg_chart(Curve("t", {"a": ([0, 1], [0.2, 0.4], [0.05, 0.05]), "b": ([0, 1], [0.3, 0.1], None)}))
    assert svg.count("<polyline") == 2 and svg.count("<circle") == 4 and svg.count("<line") >= 4


def test_settings_read_the_environment_and_name_missing_data(monkeypatch, tmp_path):
    monkeypatch.setenv("LENSNB_QUICK", "1")
    monkeypatch.setenv("LENSNB_DATA", str(tmp_path))
    monkeypatch.setenv("LENSNB_DOWNLOADS", str(tmp_path / "downloads"))
    settings = run_settings()
    assert settings.quick and settings.size(100, 5) == 5 and settings.data_dirs[0] == tmp_path
    (tmp_path / "b.txt").write_text("x")
    assert settings.data_file("a.txt", "b.txt") == tmp_path / "b.txt"
    with pytest.raises(lensnb.LensError, match="python -m lensnb.data.download"):
        settings.data_file("missing.txt")
    assert not run_settings(quick=False).quick


def test_unknown_paper_is_named():
    with pytest.raises(lensnb.LensError, match="paper: expected one of"):
        paper("smith")


def test_model_choice_falls_back_to_the_embedded_model_offline(monkeypatch, tiny_paths):
    from lensnb.papers import choose_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fallback = choose_model("auto", "an-org/a-model-that-is-not-cached")
    assert not fallback.is_paper_model and "embedded" in fallback.note and "could not be loaded" in fallback.note
    local = choose_model(str(tiny_paths["bert"]), "bert-base-uncased")
    assert local.name == str(tiny_paths["bert"]) and not local.is_paper_model
    with pytest.raises(lensnb.LensError, match="model: expected 'auto', 'embedded'"):
        choose_model("", "x")


def test_hub_probe_answers_from_the_environment_and_one_connection(monkeypatch):
    import socket

    from lensnb.papers.settings import hub_reachable

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not hub_reachable()
    with pytest.raises(lensnb.LensError, match="timeout: expected a positive number of seconds"):
        hub_reachable(timeout=0)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with socket.socket() as server:  # a port that listens on 127.0.0.1: reachable
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        assert hub_reachable(timeout=2.0)
    with socket.socket() as closed:  # a port nobody listens on: refused at once
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    assert not hub_reachable(timeout=2.0)


def test_hub_probe_goes_through_the_proxy_the_hub_client_would_use(monkeypatch):
    import socket

    from lensnb.hub import hub_reachable

    for name in ("HF_HUB_OFFLINE", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as closed:  # the hub itself refuses direct connections here
        closed.bind(("127.0.0.1", 0))
        hub_port = closed.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"https://127.0.0.2:{hub_port}")
    with socket.socket() as proxy:  # only the proxy listens
        proxy.bind(("127.0.0.1", 0))
        proxy.listen(1)
        for name in ("HTTPS_PROXY", "https_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.getsockname()[1]}")
        assert hub_reachable(timeout=2.0)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(name, "127.0.0.2")  # the hub is exempt: a direct connection, refused
        assert not hub_reachable(timeout=2.0)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name)
        monkeypatch.setenv("HF_ENDPOINT", "127.0.0.2")  # a bare host, as some mirrors are given
        assert hub_reachable(timeout=2.0)


def test_auto_uses_a_local_copy_of_the_paper_model_and_falls_back_without_retrying(monkeypatch, tiny_paths):
    import socket

    from lensnb.papers import choose_model

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")  # the hub refuses every connection
    found = choose_model("auto", str(tiny_paths["bert"]))  # already on disk: loaded, no network needed
    assert found.is_paper_model and "paper's own model" in found.note
    fallback = choose_model("auto", "an-org/a-model-that-is-not-cached")
    assert not fallback.is_paper_model and "cannot be reached" in fallback.note
