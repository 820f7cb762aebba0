"""Behavioural segments: who are my customers, in groups marketing can name and keep.

Clustering on standardised behaviour (heavy-tailed counts log-transformed first), with the
number of segments chosen over a range by silhouette (KMeans) or BIC (Gaussian mixture),
seeded. Two things make segments usable by a CRM team:

* a **readable profile** per segment, generated from the features that set it apart
  (z-scores against the whole base): "prepaid, heavy night calls, low data";
* **stable ids across runs**: each run's centroids are matched to the previous run's by
  the Hungarian algorithm, so "segment 3" stays the night-owl students month after month;
  unmatched segments get fresh ids, and movement between runs is reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from graph.catalogue import FEATURES, feature_label
from graph.locales import DEFAULT_LOCALE, N_, normalize, translator

__all__ = ["SEGMENT_WORDS", "SegmentModel", "describe_segment", "profile_in",
           "segment_movement"]

# feature → (word when high, word when low); others read "high <feature's display name>" /
# "low <...>" (``graph.catalogue.feature_label``).
# The words are catalog messages (``graph.locales``): :func:`profile_in` reads a stored
# profile in another locale.
SEGMENT_WORDS: dict[str, tuple[str, str]] = {
    "night_calls": (N_("heavy night calls"), N_("few night calls")),
    "percent_nocturnal": (N_("mostly at night"), N_("daytime callers")),
    "data_mb": (N_("heavy data"), N_("low data")),
    "calls_out": (N_("many outgoing calls"), N_("few outgoing calls")),
    "minutes_out": (N_("long talkers"), N_("few minutes")),
    "sms_out": (N_("texters"), N_("rarely text")),
    "contacts": (N_("many contacts"), N_("few contacts")),
    "percent_out_of_network_contacts": (N_("many off-net contacts"), N_("few off-net contacts")),
    "active_days": (N_("active daily"), N_("seldom active")),
    "arpu": (N_("high spend"), N_("low spend")),
    "monthly_revenue": (N_("high spend"), N_("low spend")),
    "tenure_months": (N_("long-standing"), N_("new")),
    "roaming_calls": (N_("frequent roamers"), N_("never roam")),
    "complaints_90d": (N_("complain often"), N_("never complain")),
    "entropy_of_contacts_normalized": (N_("spread across many contacts"),
                                       N_("a few close contacts")),
    "percent_initiated_calls": (N_("mostly call out"), N_("mostly receive calls")),
    "pagerank": (N_("central in the call graph"), N_("peripheral in the call graph")),
}
CATEGORY_WORDS: tuple[str, ...] = (N_("prepaid"), N_("postpaid"), N_("unknown"))
"""Dominant categories a profile names (the segments' ``payment_type``)."""
HIGH, LOW = N_("high {measure}"), N_("low {measure}")
AVERAGE = N_("average on every measure")
_SEPARATOR = {"en": ", ", "zh-CN": "，"}
_LABELS = {name.replace("_", " "): feature_label(name) for name in FEATURES}
"""A feature's column name with spaces (how earlier profiles named it) → its display name."""


def _words(feature: str, high: bool, words: Mapping[str, tuple[str, str]]) -> str:
    if feature in words:
        return words[feature][0 if high else 1]
    return (HIGH if high else LOW).format(measure=feature_label(feature))


def describe_segment(z: pd.Series, categories: Mapping[str, tuple[str, float]] | None = None,
                     *, top: int = 4, threshold: float = 0.4,
                     words: Mapping[str, tuple[str, str]] | None = None) -> str:
    """Readable profile from a segment's z-scores (and dominant categories, if any)."""
    words = words or SEGMENT_WORDS
    parts = [value for value, share in (categories or {}).values() if share >= 0.7]
    strongest = z[z.abs() >= threshold].abs().sort_values(ascending=False).index[:top]
    parts += [_words(f, bool(z[f] > 0), words) for f in strongest]
    return ", ".join(parts) if parts else AVERAGE


def profile_in(profile: str | None, locale: str | None = None) -> str | None:
    """A stored (English) profile in ``locale``: each of its words through the catalog,
    "high <measure>" re-worded with the feature's display name (also when stored under its
    column name with spaces, as earlier runs wrote it), anything else (an operator's own
    words) as stored."""
    locale = normalize(locale)
    if profile is None or locale == DEFAULT_LOCALE:
        return profile
    _ = translator(locale).gettext

    def part(words: str) -> str:
        for template in (HIGH, LOW):
            prefix = template.split("{")[0]
            if words.startswith(prefix) and _(words) == words:
                measure = words[len(prefix):]
                return _(template).format(measure=_(_LABELS.get(measure, measure)))
        return _(words)

    return _SEPARATOR.get(locale, ", ").join(part(w) for w in profile.split(", "))


class SegmentModel(ClusterMixin, BaseEstimator):
    """Behavioural segments with the number chosen by silhouette or BIC, seeded, stable ids.

    ``fit(X, previous=...)`` takes the previous run's ``centroids_`` (segment id × feature,
    original units) to keep ids; ``predict`` returns those stable ids.
    """

    def __init__(self, method: str = "kmeans", k_range: Sequence[int] = (3, 4, 5, 6, 7, 8),
                 random_state: int = 0, n_init: int = 4, sample_size: int = 2000,
                 log_transform: bool = True, n_threads: int = 1) -> None:
        self.method = method
        self.k_range = k_range
        self.random_state = random_state
        self.n_init = n_init
        self.sample_size = sample_size
        self.log_transform = log_transform
        self.n_threads = n_threads

    def _transform(self, X: pd.DataFrame) -> NDArray[np.float64]:
        values = X[list(self.feature_names_in_)].to_numpy(dtype=float)
        values = np.where(np.isnan(values), self.fill_, values)
        if self.log_transform:
            values[:, self.log_columns_] = np.log1p(np.clip(values[:, self.log_columns_], 0, None))
        return self.scaler_.transform(values)

    def fit(self, X: pd.DataFrame, y: None = None,
            previous: pd.DataFrame | None = None) -> SegmentModel:
        # OpenMP threads spinning on a busy shared machine cost 30x on small data; KMeans on
        # a few thousand rows is faster on one thread.
        with threadpool_limits(self.n_threads):
            return self._fit(X, previous)

    def _fit(self, X: pd.DataFrame, previous: pd.DataFrame | None) -> SegmentModel:
        X = X.select_dtypes("number")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        raw = X.to_numpy(dtype=float)
        self.fill_ = np.nan_to_num(np.nanmedian(raw, axis=0))
        # Counts and money are heavy-tailed: log them so one whale does not make a segment.
        skew = pd.DataFrame(raw).skew().to_numpy()
        self.log_columns_ = np.where((np.nanmin(raw, axis=0) >= 0) & (skew > 1.0))[0]
        self.scaler_ = StandardScaler()
        filled = np.where(np.isnan(raw), self.fill_, raw)
        if self.log_transform:
            filled[:, self.log_columns_] = np.log1p(filled[:, self.log_columns_])
        Z = self.scaler_.fit_transform(filled)
        rng = np.random.default_rng(self.random_state)
        sample = (rng.choice(len(Z), self.sample_size, replace=False)
                  if len(Z) > self.sample_size else np.arange(len(Z)))
        self.selection_scores_: dict[int, float] = {}
        best, best_score = None, -np.inf
        for k in self.k_range:
            if k >= len(Z):
                continue
            model = self._model(k).fit(Z)
            if self.method == "kmeans":
                score = float(silhouette_score(Z[sample], model.predict(Z[sample]),
                                               random_state=self.random_state))
            else:
                score = -float(model.bic(Z))
            self.selection_scores_[k] = score
            if score > best_score:
                best, best_score = model, score
        if best is None:
            raise ValueError("not enough subscribers to segment")
        self.model_ = best
        self.n_segments_ = int(best.n_clusters if self.method == "kmeans"
                               else best.n_components)
        labels = best.predict(Z)
        means = pd.DataFrame(raw).groupby(labels).mean().reindex(range(self.n_segments_))
        means.columns = list(self.feature_names_in_)
        self.segment_ids_ = self._match(means, previous, np.bincount(labels,
                                                                     minlength=self.n_segments_))
        self.centroids_ = means.set_axis(self.segment_ids_).rename_axis("segment_id")
        self.sizes_ = pd.Series(self.segment_ids_[labels]).value_counts().sort_index()
        z = pd.DataFrame(Z).groupby(labels).mean().reindex(range(self.n_segments_))
        z.columns = list(self.feature_names_in_)
        self.z_scores_ = z.set_axis(self.segment_ids_).rename_axis("segment_id")
        return self

    def _model(self, k: int) -> KMeans | GaussianMixture:
        if self.method == "kmeans":
            return KMeans(k, n_init=self.n_init, random_state=self.random_state)
        if self.method == "gmm":
            return GaussianMixture(k, covariance_type="diag", n_init=self.n_init,
                                   random_state=self.random_state)
        raise ValueError(f"method must be 'kmeans' or 'gmm', not {self.method!r}")

    def _match(self, means: pd.DataFrame, previous: pd.DataFrame | None,
               sizes: NDArray[np.int64]) -> NDArray[np.int64]:
        """Cluster index → stable segment id (Hungarian matching on standardised centroids)."""
        if previous is None or previous.empty:
            # First run: number segments by size, biggest first (independent of cluster order).
            ids = np.zeros(self.n_segments_, dtype=np.int64)
            ids[np.argsort(-sizes, kind="stable")] = np.arange(self.n_segments_) + 1
            return ids
        common = [c for c in self.feature_names_in_ if c in previous.columns]
        cur = self._standardise(means[common])
        old = self._standardise(previous[common])
        cost = ((cur[:, None, :] - old[None, :, :]) ** 2).sum(axis=2)
        rows, cols = linear_sum_assignment(cost)
        ids = np.zeros(self.n_segments_, dtype=np.int64)
        ids[rows] = np.asarray(previous.index, dtype=np.int64)[cols]
        fresh = int(np.max(previous.index)) + 1
        for i in range(self.n_segments_):
            if i not in set(rows):
                ids[i] = fresh
                fresh += 1
        return ids

    def _standardise(self, centroids: pd.DataFrame) -> NDArray[np.float64]:
        frame = pd.DataFrame(np.nan, index=centroids.index, columns=self.feature_names_in_)
        frame[centroids.columns] = centroids.to_numpy(dtype=float)
        return self._transform(frame)[:, [list(self.feature_names_in_).index(c)
                                          for c in centroids.columns]]

    def predict(self, X: pd.DataFrame) -> NDArray[np.int64]:
        check_is_fitted(self, "model_")
        with threadpool_limits(self.n_threads):
            return self.segment_ids_[self.model_.predict(self._transform(X))]

    def fit_predict(self, X: pd.DataFrame, y: None = None,
                    previous: pd.DataFrame | None = None) -> NDArray[np.int64]:
        return self.fit(X, previous=previous).predict(X)

    def profiles(self, X: pd.DataFrame, categorical: pd.DataFrame | None = None,
                 words: Mapping[str, tuple[str, str]] | None = None) -> pd.DataFrame:
        """Per segment: size, share, readable profile, and the mean of every feature."""
        segment = self.predict(X)
        rows = []
        for sid in self.centroids_.index:
            mask = segment == sid
            categories = {}
            if categorical is not None and mask.any():
                for column in categorical.columns:
                    counts = categorical.loc[mask, column].value_counts(normalize=True)
                    if len(counts):
                        categories[column] = (str(counts.index[0]), float(counts.iloc[0]))
            rows.append({"segment_id": int(sid), "subscribers": int(mask.sum()),
                         "share": float(mask.mean()),
                         "profile": describe_segment(self.z_scores_.loc[sid], categories,
                                                     words=words)})
        table = pd.DataFrame(rows).set_index("segment_id")
        return table.join(self.centroids_.add_prefix("mean_")).reset_index()


def segment_movement(previous: pd.Series, current: pd.Series) -> pd.DataFrame:
    """Subscribers moving between segments: rows = previous segment, columns = current.

    Both series are indexed by subscriber; those only in one run show as "new"/"gone".
    """
    frame = pd.concat({"previous": previous, "current": current}, axis=1)

    def label(value: object, missing: str) -> str:
        return missing if pd.isna(value) else str(int(value))

    return pd.crosstab(frame["previous"].map(lambda v: label(v, "new")),
                       frame["current"].map(lambda v: label(v, "gone")))
