#!/usr/bin/env bash
# Build the side environment that holds DADApy 0.3.4, the reference implementation of TwoNN and
# the neighbourhood overlaps (Facco et al. 2017; Doimo et al. 2020; Valeriani et al. 2023).
#
# DADApy cannot live in the repository's .venv: its 0.3.4 release (the newest) is a source
# distribution whose compiled part requires numpy < 2, and it pins jax==0.4.30, jaxlib and flax.
# This script builds a small separate venv OUTSIDE the repository with numpy < 2, scipy,
# scikit-learn, tqdm and matplotlib, then `pip install --no-deps dadapy==0.3.4` (no jax, no flax,
# no seaborn, no networkx). matplotlib is needed because dadapy.id_estimation imports
# matplotlib.pyplot at module level.
#
# `import dadapy` itself fails without jax (dadapy/__init__.py imports diff_imbalance and
# causal_graph, which import jax/flax/optax). The scripts that use this env therefore register a
# bare package object for `dadapy` and import `dadapy.data` directly, which pulls in only the
# numpy/scipy/sklearn parts (Data, IdEstimation, MetricComparisons). See dadapy_profile.py.
#
# Usage:   benchmarks/peers/make_dadapy_env.sh [TARGET]
# TARGET defaults to <repo>/../peers/dadapy-env (i.e. a sibling of the repository, never inside it).
# The script refuses any target inside the repository, so it can never touch the repo's .venv.
# Python: python3.11 by default; set PYTHON=/path/to/python3.x to use another (3.9-3.12 work).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TARGET="${1:-$REPO/../peers/dadapy-env}"
PYTHON="${PYTHON:-python3.11}"

TARGET="$(realpath -m "$TARGET")"
case "$TARGET/" in
  "$REPO"/*) echo "refusing to build inside the repository ($TARGET); choose a path outside $REPO" >&2; exit 2 ;;
esac
mkdir -p "$(dirname "$TARGET")"

if [ ! -x "$TARGET/bin/python" ]; then
  "$PYTHON" -m venv "$TARGET"
fi
PIP=("$TARGET/bin/python" -m pip)
"${PIP[@]}" install --quiet --upgrade pip
# numpy<2 first: dadapy's compiled extensions are built against (and need) the numpy 1.x ABI.
"${PIP[@]}" install --quiet "numpy<2" scipy scikit-learn tqdm matplotlib
# --no-deps: never pull jax/jaxlib/flax (pinned by dadapy, unused by the parts we call).
# The sdist builds in an isolated environment with its own numpy<2 (its pyproject's build requirement).
"${PIP[@]}" install --quiet --no-deps "dadapy==0.3.4"

# Smoke test: the parts we use import and run without jax.
"$TARGET/bin/python" - <<'EOF'
import importlib.util, sys, types
spec = importlib.util.find_spec("dadapy")
pkg = types.ModuleType("dadapy")
pkg.__path__ = list(spec.submodule_search_locations)
pkg.__spec__ = spec
sys.modules["dadapy"] = pkg          # skip dadapy/__init__.py, which imports jax
from dadapy.data import Data
import numpy as np
X = np.random.default_rng(0).normal(size=(300, 3))
d = Data(X, maxk=10)
d.compute_distances()
ide = d.compute_id_2NN(mu_fraction=0.9)[0]
ov = d.return_data_overlap(dist_indices=d.dist_indices, k=10)
lo = d.return_label_overlap(np.arange(300) % 3, k=10, weighted=False)
assert "jax" not in sys.modules and "flax" not in sys.modules
assert 2.0 < ide < 4.0 and ov == 1.0 and 0.0 < lo < 1.0, (ide, ov, lo)
import importlib.metadata as md
print(f"dadapy {md.version('dadapy')} OK without jax (numpy {np.__version__}): id={ide:.3f}")
EOF
echo "DADApy env ready: $TARGET/bin/python"
