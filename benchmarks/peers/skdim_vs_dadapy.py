"""scikit-dimension's TwoNN next to DADApy's stored answers on the geometry fixture.

Run with the repository's .venv (scikit-dimension lives there; DADApy's numbers come from the fixture)::

    .venv/bin/python benchmarks/peers/skdim_vs_dadapy.py

skdim.id.TwoNN(discard_fraction=f) keeps int(N * (1 - f)) smallest ratios and fits the same line through the
origin as DADApy's base fit with mu_fraction = 1 - f (denominator N); method="mle" with discard_fraction=0 is
DADApy's 'ml'. skdim measures distances in the input's dtype, DADApy always in float64.
"""

from __future__ import annotations

import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import skdim

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "geometry" / "dadapy_reference.npz"


def main() -> None:
    ref = np.load(FIXTURE)
    values = ref["values"]
    print(f"scikit-dimension {version('scikit-dimension')} vs DADApy {ref['version_dadapy']}")
    print("layer  measure            DADApy             skdim (float32 in)  rel       skdim (float64 in)  rel")
    for layer, x in enumerate(values):
        rows = [
            ("base f=0.90", ref["twonn_base_f090"][layer], {"discard_fraction": 0.1}),
            ("base f=0.98", ref["twonn_base_f098"][layer], {"discard_fraction": 0.02}),
            ("ml (all mus)", ref["twonn_ml"][layer], {"discard_fraction": 0.0, "method": "mle"}),
        ]
        for name, expected, kwargs in rows:
            d32 = skdim.id.TwoNN(**kwargs).fit(x).dimension_
            d64 = skdim.id.TwoNN(**kwargs).fit(x.astype(np.float64)).dimension_
            print(
                f"{layer:<6} {name:<18} {expected:<18.12f} {d32:<19.12f} {(d32 - expected) / expected:+.1e}  "
                f"{d64:<19.12f} {(d64 - expected) / expected:+.1e}"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                skdim.id.TwoNN(discard_fraction=0.0).fit(x.astype(np.float64))
                outcome = "ran"
            except ValueError as error:
                outcome = f"ValueError: {error}"
        print(
            f"{layer:<6} linear, discard 0   DADApy returns ml ({ref['twonn_base_f100'][layer]:.6f}); skdim: {outcome}"
        )


if __name__ == "__main__":
    main()
