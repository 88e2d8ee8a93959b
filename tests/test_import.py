"""Importing lensnb stays light: no widget or notebook library comes with it."""

import json
import subprocess
import sys


def test_import_loads_no_widget_libraries():
    code = (
        "import sys, json, lensnb;"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'ipywidgets', 'bokeh', 'IPython', 'jupyter_bokeh'})))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_public_api_is_small_and_explicit():
    import lensnb

    assert set(lensnb.__all__) == {
        "Activations", "Example", "LensError", "LensModel", "Span", "SpanPair", "extract", "load_model", "__version__",
    }  # fmt: skip
    assert issubclass(lensnb.LensError, ValueError)


def test_geometry_import_loads_no_widgets_and_defers_heavy_optional_libraries():
    code = (
        "import sys, json, lensnb.geometry;"
        "print(json.dumps(sorted({m for m in sys.modules} & {'ipywidgets', 'bokeh', 'IPython', 'umap', 'numba',"
        " 'sklearn.manifold', 'skdim'})))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_the_core_never_imports_the_widgets():
    """Data flows one way: the widgets read the core's results; no core module imports lensnb.widgets."""
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "lensnb"
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if "widgets" not in path.relative_to(package).parts
        and any(
            word in path.read_text() for word in ("lensnb.widgets", "import ipywidgets", "from bokeh", "import bokeh")
        )
    ]
    assert offenders == []
    code = (
        "import sys, json, lensnb, lensnb.geometry, lensnb.relevance, lensnb.probing, lensnb.data;"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('lensnb.widgets') or m in"
        " ('ipywidgets', 'bokeh', 'jupyter_bokeh'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
