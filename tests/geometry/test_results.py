"""The result objects check what they are built from and convert to pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lensnb import LensError
from lensnb.geometry import LayerMatrix, LayerProfile, Projection


def test_profile_normalises_layers_and_values() -> None:
    profile = LayerProfile("id", (np.int64(0), 1, 2), [1, 2, 3], np.zeros(3))
    assert profile.layers == (0, 1, 2) and all(type(layer) is int for layer in profile.layers)
    assert profile.values.dtype == np.float64
    assert profile.to_pandas().columns.tolist() == ["layer", "id", "id_error"]


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (("id", (0, 1), np.ones(3)), "values"),
        (("id", (0, 1), np.ones(2), np.ones(3)), "errors"),
        (("id", (0, 0), np.ones(2)), "layers"),
        (("id", (0, True), np.ones(2)), "layers"),
        (("id", "01", np.ones(2)), "layers"),
        (("id", (0, 1), np.array(["a", "b"])), "values"),
        (("", (0, 1), np.ones(2)), "name"),
        (("id", (0, 1), np.ones(2), None, {}, [1, 2]), "table"),
    ],
)
def test_profile_refuses_inconsistent_fields(arguments: tuple, named: str) -> None:
    with pytest.raises(LensError, match=f"^{named}:"):
        LayerProfile(*arguments)


def test_matrix_checks_its_shape_against_both_layer_lists() -> None:
    matrix = LayerMatrix("cka", (0, 1), (0, 1, 2), np.ones((2, 3)))
    assert matrix.to_pandas().shape == (2, 3)
    with pytest.raises(LensError, match="^values:.*shape \\(3, 2\\)"):
        LayerMatrix("cka", (0, 1, 2), (0, 1), np.ones((2, 3)))
    with pytest.raises(LensError, match="^errors:"):
        LayerMatrix("cka", (0, 1), (0, 1), np.ones((2, 2)), errors=np.ones(2))
    with pytest.raises(LensError, match="^models:"):
        LayerMatrix("cka", (0, 1), (0, 1), np.ones((2, 2)), models=("a",))


def test_projection_checks_coordinates_table_and_displacement() -> None:
    coordinates = np.arange(3 * 4 * 2, dtype=np.float32).reshape(3, 4, 2)
    table = pd.DataFrame({"token": list("abcd"), "x": [9, 9, 9, 9]})
    projection = Projection("pca", (0, 2, 4), coordinates, table=table, displacement=np.ones(2))
    assert projection.coordinates is coordinates  # no copy of the (possibly large) coordinates
    with pytest.raises(LensError, match="^coordinates:"):
        Projection("pca", (0, 1), coordinates)
    with pytest.raises(LensError, match="^coordinates:"):
        Projection("pca", (0, 2, 4), coordinates[..., :1])
    with pytest.raises(LensError, match="^table:.*4 rows"):
        Projection("pca", (0, 2, 4), coordinates, table=table.iloc[:3])
    with pytest.raises(LensError, match="^displacement:"):
        Projection("pca", (0, 2, 4), coordinates, displacement=np.ones(3))
    with pytest.raises(LensError, match="^layer:"):
        projection.layer(True)
    np.testing.assert_array_equal(projection.layer(np.int64(2)), coordinates[1])


def test_projection_to_pandas_is_one_row_per_layer_and_item() -> None:
    coordinates = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    table = pd.DataFrame({"token": ["<a>", "b", "c"], "x": [7, 8, 9]})
    frame = Projection("pca", (1, 5), coordinates, table=table).to_pandas()
    assert len(frame) == 6
    assert frame["layer"].tolist() == [1, 1, 1, 5, 5, 5]
    assert frame["item"].tolist() == [0, 1, 2, 0, 1, 2]
    row = frame.iloc[4]  # layer 5, item 1
    assert (row["x"], row["y"]) == (coordinates[1, 1, 0], coordinates[1, 1, 1])
    assert row["token"] == "b" and row["table_x"] == 8  # the table's own 'x' is kept, renamed
    assert Projection("pca", (1, 5), coordinates).to_pandas().columns.tolist() == ["layer", "item", "x", "y"]


def test_profile_per_layer_details_become_columns() -> None:
    details = {"accuracy": np.array([0.5, 0.7]), "baseline": 0.25, "classes": np.array(["a", "b"]),
               "rows": np.array([3, 4])}  # fmt: skip
    profile = LayerProfile("probe", (0, 1), [0.5, 0.7], [0.1, 0.1], details=details, per_layer=("accuracy", "baseline"))
    frame = profile.to_pandas()
    assert frame.columns.tolist() == ["layer", "probe", "probe_error", "accuracy", "baseline"]
    assert frame["baseline"].tolist() == [0.25, 0.25] and frame["accuracy"].tolist() == [0.5, 0.7]
    # only the keys the measure lists: "rows" has one entry per layer here by coincidence, and stays out
    assert LayerProfile("probe", (0, 1), [0.5, 0.7], details=details).to_pandas().columns.tolist() == ["layer", "probe"]
    for bad in (("missing",), ("classes",), ("probe",), "accuracy"):
        with pytest.raises(LensError, match=r"^(per_layer|details\['classes'\]):"):
            LayerProfile("probe", (0, 1), [0.5, 0.7], details=details, per_layer=bad)
