"""k-means clusters: k by silhouette, stable slugs across refreshes, portraits by hand count."""

import json

import numpy as np
import pytest
import scipy.sparse as sp
from django.utils import translation

from predictions.clusters import (
    ERR_FEW_ROWS,
    ERR_VALUES,
    MATCH_MAX_DISTANCE,
    FeatureIndex,
    Portrait,
    PreviousCluster,
    cluster_portrait,
    clusters_fit,
    clusters_match,
    portrait_slug_name,
)
from predictions.errors import ModelError

NAMES = ["recency_days", "frequency", "monetary", "engagement"]
# blob centres in log1p space; blobs 3 and 4 sit close together, the others far apart
CENTRES = np.array(
    [
        [1.0, 0.7, 3.0, 0.5],
        [2.0, 2.5, 7.0, 3.0],
        [5.5, 0.7, 2.5, 0.2],
        [3.0, 1.4, 5.0, 1.5],
        [3.0, 1.4, 5.0, 2.6],
    ]
)
FAST = {"sample_size": 1_000}


def blobs(rows=3_000, seed=0, centres=CENTRES, spread=0.12):
    """Return raw non-negative features drawn around log-space centres, and each row's blob."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, len(centres), rows)
    logged = rng.normal(centres[truth], spread)
    return np.expm1(np.maximum(logged, 0)), truth


def resampled(features, truth, share=0.02, seed=1):
    """Return a copy where ``share`` of the rows are replaced by copies of other rows."""
    rng = np.random.default_rng(seed)
    features, truth = features.copy(), truth.copy()
    rows = rng.choice(len(features), int(len(features) * share), replace=False)
    sources = rng.integers(0, len(features), len(rows))
    features[rows], truth[rows] = features[sources], truth[sources]
    return features, truth


def slug_of_blob(fit, truth):
    """Return {blob: slug of the cluster holding most of its rows}."""
    return {
        blob: fit.slugs[np.bincount(fit.labels[truth == blob]).argmax()]
        for blob in np.unique(truth)
    }


def renamed(fit):
    """Return fit's clusters as the previous refresh, under slugs no portrait would generate."""
    return [PreviousCluster(f"old-{i}", c.centroid_log) for i, c in enumerate(fit.clusters)]


def test_k_is_chosen_by_silhouette_on_well_separated_blobs():
    features, truth = blobs(centres=CENTRES[[0, 1, 2, 3]])

    fit = clusters_fit(features, NAMES, **FAST)

    assert fit.k == 4
    assert sorted(fit.silhouettes) == [3, 4, 5, 6, 7, 8]
    assert max(fit.silhouettes, key=fit.silhouettes.get) == 4
    assert all(len(set(fit.labels[truth == blob])) == 1 for blob in range(4))


def test_identities_stay_when_two_percent_of_rows_change():
    features, truth = blobs()
    first = clusters_fit(features, NAMES, k=5, **FAST)
    changed, changed_truth = resampled(features, truth)

    second = clusters_fit(changed, NAMES, k=5, previous=renamed(first), random_state=7, **FAST)

    old = {blob: f"old-{first.slugs.index(s)}" for blob, s in slug_of_blob(first, truth).items()}
    assert slug_of_blob(second, changed_truth) == old
    assert all(c.matched for c in second.clusters)


def test_identities_stay_when_the_scaler_changes():
    features, truth = blobs()
    first = clusters_fit(features, NAMES, k=5, **FAST)
    fewer = (truth != 2) | (np.arange(len(truth)) % 3 == 0)  # drop two thirds of blob 2

    second = clusters_fit(features[fewer], NAMES, k=5, previous=renamed(first), **FAST)

    assert second.mean != first.mean
    old = {blob: f"old-{first.slugs.index(s)}" for blob, s in slug_of_blob(first, truth).items()}
    assert slug_of_blob(second, truth[fewer]) == old


def test_when_k_shrinks_by_one_the_untouched_clusters_keep_their_slugs():
    features, truth = blobs()
    first = clusters_fit(features, NAMES, k=5, **FAST)
    before = slug_of_blob(first, truth)
    changed, changed_truth = resampled(features, truth)

    second = clusters_fit(changed, NAMES, k=4, previous=first.previous(), **FAST)

    after = slug_of_blob(second, changed_truth)
    assert [after[b] for b in (0, 1, 2)] == [before[b] for b in (0, 1, 2)]
    assert after[3] == after[4]
    assert after[3] not in {before[b] for b in (0, 1, 2)}
    assert len(set(second.slugs)) == 4


def test_when_k_grows_by_one_the_new_cluster_gets_a_new_slug():
    features, truth = blobs()
    merged = clusters_fit(features, NAMES, k=4, **FAST)
    before = slug_of_blob(merged, truth)
    changed, changed_truth = resampled(features, truth)

    second = clusters_fit(changed, NAMES, k=5, previous=merged.previous(), **FAST)

    after = slug_of_blob(second, changed_truth)
    assert [after[b] for b in (0, 1, 2)] == [before[b] for b in (0, 1, 2)]
    assert after[3] != after[4]
    new_slugs = [c.slug for c in second.clusters if not c.matched]
    assert len(new_slugs) >= 1
    assert not set(new_slugs) & set(merged.slugs)


def test_a_far_old_centroid_does_not_lend_its_slug():
    centroid_log = np.array([[0.0, 0.0], [3.0, 3.0]])
    near = PreviousCluster("near", [0.1, 0.0])
    far = PreviousCluster("far", [3.0, 3.0 + 2 * MATCH_MAX_DISTANCE])

    kept = clusters_match(centroid_log, [near, far], mean=[0.0, 0.0], scale=[1.0, 1.0])

    assert kept == {0: "near"}


def test_an_old_centroid_nearer_another_new_one_does_not_lend_its_slug():
    centroid_log = np.array([[0.0, 0.0], [0.5, 0.0]])
    # both old clusters are nearest the first new one; the second new one must not take "b"
    previous = [PreviousCluster("a", [0.05, 0.0]), PreviousCluster("b", [-0.2, 0.0])]

    kept = clusters_match(centroid_log, previous, mean=[0.0, 0.0], scale=[1.0, 1.0])

    assert kept == {0: "a"}


def test_previous_centroids_of_another_width_are_refused():
    with pytest.raises(ValueError, match="previous centroids have 3 features; this fit has 2"):
        clusters_match(np.zeros((2, 2)), [PreviousCluster("a", [0, 0, 0])], [0, 0], [1, 1])


def test_slugs_are_unique_and_ascii_and_assign_reproduces_the_labels():
    features, _truth = blobs()

    fit = clusters_fit(features, NAMES, k=8, **FAST)

    assert len(set(fit.slugs)) == 8
    assert all(slug.isascii() and slug == slug.lower() for slug in fit.slugs)
    assert (fit.assign(features) == fit.labels).all()
    assert [c.size for c in fit.clusters] == sorted((c.size for c in fit.clusters), reverse=True)


def test_the_fit_is_json_storable():
    features, _truth = blobs(rows=500)

    fit = clusters_fit(features, NAMES, k=3, **FAST)

    stored = {
        "mean": fit.mean,
        "scale": fit.scale,
        "silhouettes": fit.silhouettes,
        "clusters": [
            [c.slug, str(c.name), c.size, c.centroid, c.centroid_log, c.portrait.as_dict()]
            for c in fit.clusters
        ],
    }
    assert json.loads(json.dumps(stored, allow_nan=False))["mean"] == fit.mean


def portrait_of(**scores):
    features = [FeatureIndex(name, 1.0, 1.0, 100.0, score) for name, score in scores.items()]
    return Portrait(0, 10, 0.1, sorted(features, key=lambda f: -abs(f.score)), [])


@pytest.mark.parametrize(
    ("scores", "slug", "english", "chinese"),
    [
        ({"monetary": 1.4, "frequency": 1.2, "recency_days": -0.2}, "loyal-big-spenders",
         "loyal big spenders", "忠诚·高消费"),
        ({"tenure": -1.0, "spend": -0.7, "frequency": 0.1}, "new-low-value", "new low value",
         "新客·低价值"),
        ({"recency_days": 2.0, "monetary": 0.3}, "lapsed", "lapsed", "流失"),
        ({"recency_days": 0.2, "monetary": 0.3}, "typical", "typical", "普通"),
        ({"coupons": 0.9}, "high-coupons", "high coupons", "高coupons"),
        ({"repeat_days": 1.2, "total_spend": 1.0, "age_days": 0.3}, "loyal-big-spenders",
         "loyal big spenders", "忠诚·高消费"),
        ({"page_view_90d": 0.9, "opens": 0.8, "average_order": -0.6}, "engaged-small-basket",
         "engaged small-basket", "高互动·小单"),
    ],
)  # fmt: skip
def test_slug_and_name_come_from_the_most_distinctive_features(scores, slug, english, chinese):
    found_slug, name = portrait_slug_name(portrait_of(**scores))

    assert found_slug == slug
    with translation.override("en"):
        assert str(name) == english
    with translation.override("zh-hans"):
        assert str(name) == chinese


def test_portrait_tgi_and_means_match_a_hand_count():
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 1])
    features = np.array([[10, 0], [20, 0], [30, 0], [0, 0], [0, 0]] + [[1, 0]] * 5, dtype=float)
    tags = sp.csr_matrix(
        [[1, 0, 1], [1, 0, 0], [0, 0, 0], [1, 0, 0], [0, 0, 1]] + [[0, 0, 0]] * 5, dtype=bool
    )

    zero, one = cluster_portrait(labels, features, ["monetary", "clicks"], tags, ["vip", "x", "y"])

    assert (zero.size, zero.share, one.size, one.share) == (3, 0.3, 7, 0.7)
    vip = {t.name: t for t in zero.tags}["vip"]
    assert (vip.count, vip.share, vip.base_share) == (2, pytest.approx(2 / 3), 0.3)
    assert vip.index == pytest.approx((2 / 3) / (3 / 10) * 100)
    assert {t.name: t.index for t in one.tags} == {
        "vip": pytest.approx((1 / 7) / (3 / 10) * 100),
        "y": pytest.approx((1 / 7) / (2 / 10) * 100),
    }
    monetary = {f.name: f for f in zero.features}["monetary"]
    assert (monetary.mean, monetary.base_mean) == (20.0, 6.5)
    assert monetary.index == pytest.approx(20 / 6.5 * 100)
    assert zero.features[0].name == "monetary"
    assert zero.top_tags == ["vip", "y"]


def test_a_feature_zero_everywhere_and_no_tags_give_plain_numbers():
    labels = np.array([0, 1, 1])
    features = np.array([[0.0, 5.0], [0.0, 1.0], [0.0, 1.0]])

    portraits = cluster_portrait(labels, features, ["clicks", "monetary"], None, None, k=3)

    clicks = {f.name: f for f in portraits[0].features}["clicks"]
    assert (clicks.index, clicks.score) == (100.0, 0.0)
    assert portraits[2].size == 0
    assert all(f.index == 0.0 and f.score == 0.0 for f in portraits[2].features)
    dumped = json.dumps([p.as_dict() for p in portraits], allow_nan=False)
    assert json.loads(dumped)[0]["tags"] == []


def test_one_row_cannot_be_clustered():
    with pytest.raises(ModelError) as error:
        clusters_fit(np.array([[1.0, 2.0, 3.0, 4.0]]), NAMES)

    assert str(error.value) == ERR_FEW_ROWS.format(rows=1, k=3)


def test_the_refusal_is_told_in_the_readers_language():
    with pytest.raises(ModelError) as error:
        clusters_fit(np.full((5, 4), 1.0), NAMES)

    with translation.override("zh-hans"):
        assert str(error.value.message).format(**error.value.params) == (
            "只有 1 位客户的特征互不相同；3 个聚类至少需要 3 位。"
        )


def test_a_numpy_integer_k_is_accepted():
    fit = clusters_fit(blobs(rows=300)[0], NAMES, k=np.int64(3), **FAST)

    assert fit.k == 3


def test_constant_features_cannot_be_clustered():
    with pytest.raises(ModelError, match="Only 1 customers have distinct features"):
        clusters_fit(np.full((100, 4), 7.0), NAMES)


def test_fewer_distinct_rows_than_the_chosen_k_are_refused():
    features = np.repeat(np.array([[1.0, 0, 0, 0], [9.0, 0, 0, 0], [0, 3.0, 0, 0]]), 10, axis=0)

    fit = clusters_fit(features, NAMES, **FAST)
    with pytest.raises(ModelError, match="4 clusters need at least 4"):
        clusters_fit(features, NAMES, k=4)

    assert fit.k == 3


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_negative_or_missing_values_are_refused(bad):
    features, _truth = blobs(rows=50)
    features[3, 1] = bad

    with pytest.raises(ModelError) as error:
        clusters_fit(features, NAMES)

    assert str(error.value) == ERR_VALUES


def test_a_feature_count_not_matching_the_names_is_refused():
    with pytest.raises(ValueError, match="one column per feature name"):
        clusters_fit(np.ones((10, 3)), NAMES)


@pytest.mark.parametrize("k", [0, 1, 2.5])
def test_a_bad_k_is_refused(k):
    with pytest.raises(ValueError, match="k must be an integer of at least 2"):
        clusters_fit(blobs(rows=50)[0], NAMES, k=k)
