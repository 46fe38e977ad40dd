import numpy as np
import pytest

from satchel.errors import ShapeError
from satchel.model.dataset import Dataset, FeatureSchema


def test_of_builds_read_only_float32_views():
    d = Dataset.of(np.arange(6).reshape(3, 2), [0, 1, 1])
    assert d.x.dtype == np.float32 and d.y.shape == (3, 1) and d.weights.tolist() == [1, 1, 1]
    with pytest.raises(ValueError):
        d.x[0, 0] = 5


def test_bad_shapes_are_named():
    with pytest.raises(ShapeError, match="rows disagree"):
        Dataset.of(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ShapeError, match="schema names 3"):
        Dataset.of(np.zeros((2, 2)), [0, 1], schema=FeatureSchema(("a", "b", "c")))
    with pytest.raises(ShapeError, match="NaN"):
        Dataset.of(np.array([[np.nan, 1.0]]), [0])
    with pytest.raises(ShapeError, match="numeric"):
        Dataset.of(np.array([["a", "b"]]), [0])


def test_schema_hash_depends_on_names_and_order():
    assert FeatureSchema(("a", "b")).hash != FeatureSchema(("b", "a")).hash
    assert FeatureSchema(("a", "b")).hash == FeatureSchema(("a", "b")).hash
