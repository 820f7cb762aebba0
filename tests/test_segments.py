"""Segments: k chosen by silhouette / BIC, readable profiles, stable ids across runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from insight.segments import SegmentModel, describe_segment, segment_movement

# Four planted behaviours: (night_calls, data_mb, contacts, percent_out_of_network_contacts)
PLANTED = {
    "night owls": (40, 500, 30, 0.2),
    "data heavy": (3, 20000, 10, 0.2),
    "business": (5, 2000, 120, 0.6),
    "quiet": (1, 200, 5, 0.1),
}


def _base(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, len(PLANTED), n)
    centres = np.array(list(PLANTED.values()))[truth]
    noise = rng.lognormal(0, 0.25, size=(n, 3))
    frame = pd.DataFrame({
        "night_calls": centres[:, 0] * noise[:, 0],
        "data_mb": centres[:, 1] * noise[:, 1],
        "contacts": centres[:, 2] * noise[:, 2],
        "percent_out_of_network_contacts": np.clip(centres[:, 3] + rng.normal(0, 0.03, n), 0, 1),
    }, index=[f"S{i:05d}" for i in range(n)])
    return frame, truth


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_number_of_segments_is_found(method: str) -> None:
    X, truth = _base(2000, 1)
    model = SegmentModel(method=method, k_range=range(2, 8)).fit(X)
    assert model.n_segments_ == 4
    labels = model.predict(X)
    # Each planted group lands (almost) entirely in one segment.
    purity = pd.crosstab(truth, labels).max(axis=1).sum() / len(truth)
    assert purity > 0.98
    assert sorted(model.sizes_.index) == [1, 2, 3, 4]
    assert model.sizes_.is_monotonic_decreasing or model.sizes_.iloc[0] >= model.sizes_.iloc[-1]


def test_profiles_are_readable() -> None:
    X, truth = _base(2000, 2)
    model = SegmentModel(k_range=range(3, 6)).fit(X)
    payment = pd.DataFrame({"payment_type": np.where(truth == 0, "prepaid", "postpaid")},
                           index=X.index)
    profiles = model.profiles(X, categorical=payment).set_index("segment_id")
    owls = profiles.loc[model.predict(X.iloc[np.where(truth == 0)[0][:1]])[0], "profile"]
    assert owls.startswith("prepaid") and "heavy night calls" in owls
    heavy = profiles.loc[model.predict(X.iloc[np.where(truth == 1)[0][:1]])[0], "profile"]
    assert "heavy data" in heavy and "postpaid" in heavy
    assert profiles["subscribers"].sum() == len(X)
    assert describe_segment(pd.Series({"data_mb": 0.1})) == "average on every measure"


def test_segment_ids_are_stable_across_runs() -> None:
    X, _ = _base(3000, 3)
    first = SegmentModel(random_state=0).fit(X)
    before = pd.Series(first.predict(X), index=X.index)
    # Next month: a different seed, shuffled rows, some subscribers gone and some new.
    later, _ = _base(3300, 4)
    later.index = [f"S{i:05d}" for i in range(300, 3600)]
    later = later.sample(frac=1.0, random_state=5)
    second = SegmentModel(random_state=7).fit(later, previous=first.centroids_)
    assert set(second.centroids_.index) == set(first.centroids_.index)
    # The same planted behaviour keeps its id: compare each run's centroid for a profile.
    for sid in first.centroids_.index:
        a, b = first.centroids_.loc[sid], second.centroids_.loc[sid]
        assert np.allclose(np.log1p(a), np.log1p(b), atol=0.3)
    # A subscriber who did not change keeps their segment id on a re-fit.
    refit = SegmentModel(random_state=11).fit(X.sample(frac=1.0, random_state=1),
                                               previous=first.centroids_)
    assert (refit.predict(X) == before.to_numpy()).mean() > 0.99
    after = pd.Series(second.predict(later), index=later.index)
    moves = segment_movement(before, after)
    assert moves.loc["new"].sum() == 600 and moves["gone"].sum() == 300


def test_new_segment_gets_a_fresh_id() -> None:
    X, _ = _base(2000, 6)
    first = SegmentModel(k_range=[4]).fit(X)
    second = SegmentModel(k_range=[5]).fit(X, previous=first.centroids_)
    assert set(first.centroids_.index) < set(second.centroids_.index)
    assert max(second.centroids_.index) == 5
