"""Association rules against a brute-force count; recommendations by rules, then by cluster."""

import itertools
import random

import numpy as np
import pytest
import scipy.sparse as sp

from predictions.affinity import (
    ERR_LIMIT,
    ERR_MAX_LEN,
    AssociationRule,
    baskets_matrix,
    baskets_rules,
    recommendations_rank,
)


def random_baskets(seed, count=300):
    """Return baskets over 8 products where a, b, c often go together and d follows e."""
    rng = random.Random(seed)
    products = list("abcdefgh")
    baskets = []
    for _ in range(count):
        basket = {p for p in products if rng.random() < 0.18}
        if rng.random() < 0.3:
            basket |= {"a", "b"} if rng.random() < 0.5 else {"a", "b", "c"}
        if "e" in basket and rng.random() < 0.7:
            basket.add("d")
        baskets.append(basket)
    return baskets


def brute_force_rules(baskets, min_support, min_confidence, max_len):
    """Return {(antecedent, consequent): (support, confidence, lift, count)} by counting."""
    baskets = [b for b in baskets if b]
    total = len(baskets)
    items = sorted(set().union(*baskets))

    def count(itemset):
        return sum(1 for b in baskets if set(itemset) <= b)

    expected = {}
    for size in range(2, max_len + 1):
        for itemset in itertools.combinations(items, size):
            together = count(itemset)
            if together / total < min_support:
                continue
            for consequent in itemset:
                antecedent = tuple(p for p in itemset if p != consequent)
                confidence = together / count(antecedent)
                if confidence >= min_confidence:
                    lift = confidence / (count((consequent,)) / total)
                    expected[antecedent, consequent] = (
                        together / total,
                        confidence,
                        lift,
                        together,
                    )
    return expected


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rules_equal_a_brute_force_count_of_the_baskets(seed):
    baskets = random_baskets(seed)
    expected = brute_force_rules(baskets, min_support=0.05, min_confidence=0.3, max_len=3)

    rules = baskets_rules(baskets, min_support=0.05, min_confidence=0.3, max_len=3)

    assert len(expected) > 10
    found = {(r.antecedent, r.consequent): r for r in rules}
    assert set(found) == set(expected)
    for key, (support, confidence, lift, count) in expected.items():
        rule = found[key]
        assert rule.support == pytest.approx(support)
        assert rule.confidence == pytest.approx(confidence)
        assert rule.lift == pytest.approx(lift)
        assert rule.count == count


def test_pairs_and_sets_give_the_same_rules():
    baskets = random_baskets(4)
    rows = [i for i, basket in enumerate(baskets) for _ in basket]
    products = [p for basket in baskets for p in basket]
    # a repeated purchase of the same product counts once per basket
    rows, products = rows + rows[:50], products + products[:50]

    from_sets = baskets_rules(baskets, min_support=0.05, min_confidence=0.3)
    from_pairs = baskets_rules(
        (np.array(rows), np.array(products, dtype=object)), min_support=0.05, min_confidence=0.3
    )

    assert from_pairs == from_sets


def test_rules_come_strongest_first():
    rules = baskets_rules(random_baskets(5), min_support=0.05, min_confidence=0.2)

    keys = [(-r.confidence, -r.lift) for r in rules]
    assert keys == sorted(keys)


def test_missing_products_produce_no_rules_and_do_not_count_as_baskets():
    rows = np.array([0, 0, 1, 1, 2, 3, 4])
    products = np.array(["a", "b", "a", "b", None, "", "a"], dtype=object)

    rules = baskets_rules((rows, products), min_support=0.1, min_confidence=0.1)

    assert {(r.antecedent, r.consequent) for r in rules} == {(("a",), "b"), (("b",), "a")}
    assert [r.support for r in rules] == pytest.approx([2 / 3, 2 / 3])


@pytest.mark.parametrize(
    "baskets", [[], [set(), set()], (np.array([0, 1]), np.array([None, ""], dtype=object))]
)
def test_no_products_give_no_rules(baskets):
    assert baskets_rules(baskets, min_support=0.1, min_confidence=0.1) == []


def test_single_item_baskets_give_no_rules():
    assert baskets_rules([{"a"}, {"b"}, {"a"}], min_support=0.1, min_confidence=0.1) == []


@pytest.mark.parametrize("value", [0, -0.1, 1.5, "0.2", None, True])
def test_a_threshold_outside_0_to_1_is_refused(value):
    with pytest.raises(ValueError, match="min_support must be a number greater than 0"):
        baskets_rules([{"a", "b"}], min_support=value, min_confidence=0.5)
    with pytest.raises(ValueError, match="min_confidence must be a number greater than 0"):
        baskets_rules([{"a", "b"}], min_support=0.5, min_confidence=value)


def test_max_len_below_two_is_refused():
    with pytest.raises(ValueError) as error:
        baskets_rules([{"a", "b"}], min_support=0.5, min_confidence=0.5, max_len=1)

    assert str(error.value) == ERR_MAX_LEN.format(value=1)


def test_baskets_matrix_keeps_each_basket_on_its_row_and_drops_duplicates():
    pairs = (np.array([1, 1, 1, 3, 2]), np.array(["b", "a", "b", "c", None], dtype=object))

    matrix, products = baskets_matrix(pairs, rows=5)

    assert products == ["a", "b", "c"]
    assert matrix.toarray().astype(int).tolist() == [
        [0, 0, 0],
        [1, 1, 0],
        [0, 0, 0],
        [0, 0, 1],
        [0, 0, 0],
    ]


def test_baskets_matrix_refuses_rows_below_the_largest_index():
    with pytest.raises(ValueError, match="rows must be more than the largest basket index"):
        baskets_matrix((np.array([0, 4]), np.array(["a", "b"])), rows=4)


def rule(antecedent, consequent, confidence, lift=1.5):
    return AssociationRule(tuple(antecedent), consequent, 0.1, confidence, lift, 10)


PRODUCTS = ["a", "b", "c", "d", "e", "f"]


def bought_matrix(rows):
    return sp.csr_matrix([[p in row for p in PRODUCTS] for row in rows], dtype=bool)


def test_recommendations_follow_the_strongest_firing_rule_and_skip_bought_products():
    rules = [
        rule("a", "c", 0.4),
        rule("a", "d", 0.9),
        rule("ab", "e", 0.6),
        rule("a", "b", 0.95),
        rule("f", "e", 0.99),  # does not fire: nobody bought f
    ]
    bought = bought_matrix(["ab", "a", "b"])

    ranked = recommendations_rank(bought, rules, PRODUCTS, np.array([0, 0, 1]))

    assert ranked[0] == ["d", "e", "c"]
    assert ranked[1] == ["b", "d", "c"]


def test_a_product_named_by_two_rules_ranks_by_the_stronger_one():
    rules = [rule("a", "c", 0.3), rule("b", "c", 0.8), rule("a", "d", 0.5)]

    ranked = recommendations_rank(bought_matrix(["ab"]), rules, PRODUCTS, np.array([0]))

    assert ranked[0][:2] == ["c", "d"]


def test_equal_confidence_ranks_by_lift():
    rules = [rule("a", "c", 0.5, lift=1.2), rule("a", "d", 0.5, lift=2.0)]

    ranked = recommendations_rank(bought_matrix(["a"]), rules, PRODUCTS, np.array([0]))

    assert ranked[0] == ["d", "c"]


def test_the_rest_is_filled_by_popularity_within_the_profiles_cluster():
    # cluster 0 buys e most, then f; cluster 1 buys b most
    bought = bought_matrix(["a", "e", "ef", "ef", "b", "bc", "b"])
    clusters = np.array([0, 0, 0, 0, 1, 1, 1])

    ranked = recommendations_rank(bought, [rule("a", "c", 0.5)], PRODUCTS, clusters)

    assert ranked[0] == ["c", "e", "f"]
    assert ranked[1] == ["f", "a"]
    assert ranked[6] == ["c"]


def test_at_most_limit_products_are_recommended():
    rules = [rule("a", p, 0.9 - i / 10) for i, p in enumerate("bcdef")]

    ranked = recommendations_rank(bought_matrix(["a"]), rules, PRODUCTS, np.array([0]), limit=3)

    assert ranked == [["b", "c", "d"]]


def test_a_profile_with_nothing_to_recommend_gets_an_empty_list():
    bought = bought_matrix(["abcdef", "", "a"])

    ranked = recommendations_rank(bought, [rule("a", "b", 0.5)], PRODUCTS, np.array([1, 2, 0]))

    assert ranked == [[], [], ["b"]]


def test_rules_on_unknown_products_are_ignored():
    rules = [rule("z", "a", 0.9), rule("a", "zz", 0.9), rule("a", "b", 0.5)]

    ranked = recommendations_rank(bought_matrix(["a"]), rules, PRODUCTS, None)

    assert ranked == [["b"]]


def test_no_profiles_give_no_recommendations():
    empty = sp.csr_matrix((0, len(PRODUCTS)), dtype=bool)

    assert recommendations_rank(empty, [], PRODUCTS, np.array([], dtype=int)) == []


def test_ranking_in_chunks_gives_the_same_lists(monkeypatch):
    rng = np.random.default_rng(0)
    bought = sp.csr_matrix(rng.random((50, len(PRODUCTS))) < 0.3)
    clusters = rng.integers(0, 3, 50)
    baskets = [{p for p, b in zip(PRODUCTS, row, strict=True) if b} for row in bought.toarray()]
    rules = baskets_rules(baskets, min_support=0.05, min_confidence=0.2)
    whole = recommendations_rank(bought, rules, PRODUCTS, clusters)

    monkeypatch.setattr("predictions.affinity.RANK_CHUNK", 7)
    chunked = recommendations_rank(bought, rules, PRODUCTS, clusters)

    assert len(rules) > 3
    assert chunked == whole
    assert all(not set(ranked) & basket for ranked, basket in zip(whole, baskets, strict=True))


@pytest.mark.parametrize("limit", [0, -1, 2.5, True])
def test_a_bad_limit_is_refused(limit):
    with pytest.raises(ValueError) as error:
        recommendations_rank(bought_matrix(["a"]), [], PRODUCTS, None, limit=limit)

    assert str(error.value) == ERR_LIMIT


def test_a_bought_matrix_not_matching_the_products_is_refused():
    with pytest.raises(ValueError, match="one column per product"):
        recommendations_rank(bought_matrix(["a"]), [], PRODUCTS[:3], None)
