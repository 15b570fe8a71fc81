"""Ranking tasks in closed form: candidates, relevance, lists and every figure.

Every expected value here is computed by the test itself, from the hand-made domain (sets of
items per user) or from the closed-form expectation of a random ranking; never by calling the
code under test. The planted cases are a perfect scorer (every figure at its ceiling, which
depends on |R| and K for recall and precision) and a seeded uniform random scorer, whose mean
figures over many users match their expectations with one relevant item among N candidates:
E[hr@K] = E[recall@K] = K/N, E[mrr@K] = (1/N) sum_{i<=K} 1/i,
E[ndcg@K] = (1/N) sum_{i<=K} 1/log2(i+1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from mtrec.measure import ranking
from mtrec.measure.tasks import compute_metrics
from mtrec.specs import DomainData, DomainSplit, LabelField, RankingInfo, TaskPredictions, TaskType

Rows = Sequence[tuple[int, int]]  # (user, item) per row


def split(
    rows: Rows, labels: Mapping[str, Sequence[float]] | None = None, start: int = 0
) -> DomainSplit:
    users = np.array([user for user, _ in rows], dtype=np.int64)
    items = np.array([item for _, item in rows], dtype=np.int64)
    return DomainSplit(
        ids=np.arange(start, start + len(rows), dtype=np.int64),
        user_ids=users,
        item_ids=items,
        user_text=[f"user {u}" for u in users],
        item_text=[f"item {i}" for i in items],
        labels={name: np.asarray(values) for name, values in (labels or {}).items()},
        sensitive={},
    )


def domain(
    train: Rows,
    validation: Rows,
    test: Rows,
    labels: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float]]] | None = None,
) -> DomainData:
    labels = labels or {}
    parts = [
        split(rows, {name: values[i] for name, values in labels.items()}, start=1000 * i)
        for i, rows in enumerate((train, validation, test))
    ]
    fields = {name: LabelField(name=name, task_type=TaskType.BINARY) for name in labels}
    return DomainData(
        train=parts[0],
        validation=parts[1],
        test=parts[2],
        label_fields=fields,
        sensitive_attributes=(),
    )


def problem(
    data: DomainData,
    *,
    split_name: str = "test",
    protocol: str = "full",
    negatives: int = 5,
    sampling: str = "uniform",
    relevance: str = "observed",
    ks: Sequence[int] = (1, 3, 5, 10),
    seed: int = 0,
    name: str = "shop",
) -> tuple[ranking.RankingProblem, ranking.Catalogue]:
    catalogue = ranking.catalogue_of(data)
    found = ranking.ranking_problem(
        data,
        catalogue,
        split=split_name,
        domain=name,
        seed=seed,
        protocol=protocol,
        negatives=negatives,
        sampling=sampling,
        relevance=relevance,
        ks=ks,
    )
    return found, catalogue


def candidate_items(
    found: ranking.RankingProblem, catalogue: ranking.Catalogue
) -> dict[int, set[int]]:
    return {
        int(user): {int(i) for i in catalogue.item_ids[positions]}
        for user, positions in zip(found.user_ids, found.candidates, strict=True)
    }


def relevant_items(found: ranking.RankingProblem) -> dict[int, set[int]]:
    return {
        int(user): {int(i) for i in items}
        for user, items in zip(found.user_ids, found.relevant, strict=True)
    }


def items_of(rows: Rows) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for user, item in rows:
        out.setdefault(user, set()).add(item)
    return out


# A small shop: 12 items (0..11), four users.
TRAIN: Rows = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 3), (2, 4), (2, 0), (3, 0), (3, 1)]
VALIDATION: Rows = [(0, 5), (1, 6), (2, 7), (3, 8)]
# user 1's test item 3 is a training item: not relevant, so user 1 keeps only item 9;
# user 3's only test item 8 was met in validation: user 3 is not ranked on the test split
TEST: Rows = [(0, 9), (0, 10), (1, 3), (1, 9), (2, 11), (3, 8)]
CATALOGUE = set(range(12))


def shop() -> DomainData:
    return domain(TRAIN, VALIDATION, TEST)


# --------------------------------------------------------------------------------------
# (a) candidates and relevance
# --------------------------------------------------------------------------------------


def test_full_test_candidates_exclude_train_and_validation_items() -> None:
    found, catalogue = problem(shop(), protocol="full")
    assert {int(i) for i in catalogue.item_ids} == CATALOGUE
    seen = items_of(list(TRAIN) + list(VALIDATION))
    held_out = items_of(TEST)
    expected_relevant = {u: held_out[u] - seen[u] for u in held_out if held_out[u] - seen[u]}
    assert relevant_items(found) == expected_relevant == {0: {9, 10}, 1: {9}, 2: {11}}
    assert list(found.user_ids) == [0, 1, 2]
    candidates = candidate_items(found, catalogue)
    for user in expected_relevant:
        assert candidates[user] == CATALOGUE - seen[user], user
        assert expected_relevant[user] <= candidates[user]
    assert found.n_pairs == sum(len(CATALOGUE - seen[u]) for u in expected_relevant)
    assert found.info.protocol == "full" and found.info.negatives == 0


def test_full_validation_candidates_exclude_only_train_items() -> None:
    found, catalogue = problem(shop(), split_name="validation", protocol="full")
    seen = items_of(TRAIN)
    assert relevant_items(found) == {0: {5}, 1: {6}, 2: {7}, 3: {8}}
    candidates = candidate_items(found, catalogue)
    for user in range(4):
        # test items stay candidates when the validation split is ranked
        assert candidates[user] == CATALOGUE - seen[user], user


def wide_shop(n_users: int = 40, n_items: int = 60) -> DomainData:
    """Every user: two training items, one validation and one test item, all distinct."""
    rng = np.random.default_rng(7)
    train, validation, test = [], [], []
    for user in range(n_users):
        a, b, c, d = rng.choice(n_items, size=4, replace=False)
        train += [(user, int(a)), (user, int(b))]
        validation.append((user, int(c)))
        test.append((user, int(d)))
    # every item appears somewhere, so the catalogue is 0..n_items-1
    train += [(n_users, item) for item in range(n_items)]
    return domain(train, validation, test)


def test_sampled_candidates_are_relevant_plus_exact_never_met_negatives() -> None:
    data = wide_shop()
    rows = [
        (int(u), int(i))
        for s in (data.train, data.validation, data.test)
        for u, i in zip(s.user_ids, s.item_ids, strict=True)
    ]
    met = items_of(rows)
    found, catalogue = problem(data, protocol="sampled", negatives=7)
    relevant = relevant_items(found)
    candidates = candidate_items(found, catalogue)
    assert len(found) == 40
    for user, pool in candidates.items():
        assert relevant[user] <= pool
        negatives = pool - relevant[user]
        assert len(negatives) == 7, user
        assert not negatives & met[user], user
    assert found.info.negatives == 7 and found.info.sampling == "uniform"


def test_sampled_candidates_depend_on_domain_split_and_seed_only() -> None:
    data = wide_shop()
    first, _ = problem(data, protocol="sampled", negatives=7, seed=3)
    again, _ = problem(data, protocol="sampled", negatives=7, seed=3)
    other_seed, _ = problem(data, protocol="sampled", negatives=7, seed=4)
    other_domain, _ = problem(data, protocol="sampled", negatives=7, seed=3, name="shop-2")

    def lists(found: ranking.RankingProblem) -> list[list[int]]:
        return [c.tolist() for c in found.candidates]

    assert lists(first) == lists(again)
    assert lists(first) != lists(other_seed)
    assert lists(first) != lists(other_domain)


def test_popularity_sampling_favours_popular_items() -> None:
    n_users, n_items, popular = 300, 200, list(range(10))
    train, test = [], []
    rng = np.random.default_rng(11)
    for user in range(n_users):
        # each user meets one quiet item at test time, nothing else
        test.append((user, int(rng.integers(100, n_items))))
    # a crowd of other shoppers makes items 0..9 popular (30 rows each); every item appears
    crowd = n_users
    train += [(crowd + j, item) for item in popular for j in range(30)]
    train += [(crowd, item) for item in range(n_items)]
    data = domain(train, [], test)

    def share_of_popular(sampling: str) -> float:
        found, catalogue = problem(
            data, protocol="sampled", negatives=10, sampling=sampling, seed=1
        )
        drawn = np.concatenate(
            [
                np.setdiff1d(catalogue.item_ids[c], r)
                for c, r in zip(found.candidates, found.relevant, strict=True)
            ]
        )
        return float(np.isin(drawn, popular).mean())

    # uniform: 10 of 200 items, 5 %; by popularity (count + 1): 10 * 32 / (10 * 32 + 190 * 2),
    # about 46 % of the first draw, fewer later (without replacement); far above 5 % either way
    uniform, by_popularity = share_of_popular("uniform"), share_of_popular("popularity")
    assert abs(uniform - 0.05) < 0.02, uniform
    assert by_popularity > 0.25, by_popularity
    assert by_popularity > 5 * uniform


RATINGS = ([5.0] * 9, [4.0, 2.0, 5.0, 3.0], [4.0, 3.0, 5.0, 4.0, 1.0, 4.0])
CLICKS = ([1] * 9, [1, 0, 0, 1], [0, 1, 1, 0, 1, 0])


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        # test rows: (0,9) r4 c0, (0,10) r3 c1, (1,3) r5 c1 (train item), (1,9) r4 c0,
        # (2,11) r1 c1, (3,8) r4 c0 (validation item)
        ("observed", {0: {9, 10}, 1: {9}, 2: {11}}),
        ("rating >= 4", {0: {9}, 1: {9}}),
        ("rating > 4", {}),
        ("rating < 2", {2: {11}}),
        ("click == 1", {0: {10}, 2: {11}}),
        ("click==0", {0: {9}, 1: {9}}),
    ],
)
def test_relevance_rules_select_the_right_rows(rule: str, expected: dict[int, set[int]]) -> None:
    data = domain(TRAIN, VALIDATION, TEST, {"rating": RATINGS, "click": CLICKS})
    found, _ = problem(data, relevance=rule)
    assert relevant_items(found) == expected
    assert list(found.user_ids) == sorted(expected)


def test_relevance_rule_rows_mask() -> None:
    rows = split(TEST, {"rating": RATINGS[2], "click": CLICKS[2]})
    assert ranking.relevant_rows(rows, "rating >= 4").tolist() == [1, 0, 1, 1, 0, 1]
    assert ranking.relevant_rows(rows, "click == 1").tolist() == [0, 1, 1, 0, 1, 0]
    assert ranking.relevant_rows(rows, "observed").all()


def test_a_rule_naming_a_missing_field_is_a_clear_error() -> None:
    data = domain(TRAIN, VALIDATION, TEST, {"rating": RATINGS})
    with pytest.raises(ValueError, match=r"'stars'.*does not provide.*rating") as caught:
        problem(data, relevance="stars >= 4")
    assert "evaluation.ranking.relevance" in str(caught.value)


# --------------------------------------------------------------------------------------
# (b) planted scorers: perfect, and uniform random
# --------------------------------------------------------------------------------------


def many_relevant_shop(n_users: int = 30, n_items: int = 40) -> DomainData:
    """User u holds 1 + u % 6 relevant test items (1..6), over a 40-item catalogue."""
    rng = np.random.default_rng(5)
    train, test = [], []
    for user in range(n_users):
        items = rng.choice(n_items, size=2 + user % 6, replace=False)
        train.append((user, int(items[0])))
        test += [(user, int(i)) for i in items[1:]]
    train += [(n_users, item) for item in range(n_items)]
    return domain(train, [], test)


def perfect_scores(found: ranking.RankingProblem, catalogue: ranking.Catalogue) -> np.ndarray:
    return np.concatenate(
        [
            np.isin(catalogue.item_ids[c], r).astype(np.float64)
            for c, r in zip(found.candidates, found.relevant, strict=True)
        ]
    )


@pytest.mark.parametrize("protocol", ["full", "sampled"])
def test_a_perfect_scorer_reaches_every_ceiling(protocol: str) -> None:
    ks = (1, 3, 5, 10)
    found, catalogue = problem(many_relevant_shop(), protocol=protocol, negatives=12, ks=ks)
    lists = ranking.top_lists(
        found, perfect_scores(found, catalogue), task="next-item", catalogue=catalogue
    )
    assert lists.task_type is TaskType.RANKING and lists.primary_metric == "ndcg@10"
    figures = compute_metrics(lists)
    sizes = np.array([len(r) for r in found.relevant], dtype=np.float64)
    assert sorted(set(sizes.tolist())) == [1, 2, 3, 4, 5, 6]
    for k in ks:
        assert figures[f"ndcg@{k}"] == pytest.approx(1.0)
        assert figures[f"hr@{k}"] == pytest.approx(1.0)
        assert figures[f"mrr@{k}"] == pytest.approx(1.0)
        assert figures[f"map@{k}"] == pytest.approx(1.0)
        assert figures[f"recall@{k}"] == pytest.approx(np.mean(np.minimum(sizes, k) / sizes))
        assert figures[f"precision@{k}"] == pytest.approx(np.mean(np.minimum(sizes, k) / k))
    assert next(iter(figures)) == "ndcg@10"


def test_one_hand_made_list() -> None:
    """|R| = 2, the list [x, r1, y, r2]: every figure by hand."""
    info = RankingInfo(
        ks=(2, 4),
        protocol="full",
        negatives=0,
        sampling="",
        relevance="observed",
        seed=0,
        catalogue=np.arange(10, dtype=np.int64),
        train_counts=np.ones(10, dtype=np.int64),
    )
    lists = TaskPredictions(
        task="next-item",
        task_type=TaskType.RANKING,
        y_true=np.array([[3, 7]]),
        y_pred=np.array([[1, 3, 5, 7]]),
        score=np.array([[0.9, 0.8, 0.7, 0.6]]),
        primary_metric="ndcg@4",
        user_ids=np.array([0]),
        ranking=info,
    )
    figures = compute_metrics(lists)
    assert figures["hr@2"] == 1.0 and figures["recall@2"] == 0.5 and figures["precision@2"] == 0.5
    assert figures["recall@4"] == 1.0 and figures["precision@4"] == 0.5
    assert figures["mrr@2"] == 0.5 and figures["mrr@4"] == 0.5
    assert figures["ndcg@2"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert figures["ndcg@4"] == pytest.approx(
        (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    )
    assert figures["map@2"] == pytest.approx((1 / 2) / 2)
    assert figures["map@4"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    # item side at the primary cut-off (4: the largest, 10 not listed): 4 of 10 items listed
    assert figures["coverage@4"] == pytest.approx(0.4)


def test_a_uniform_random_scorer_matches_the_closed_form_expectations() -> None:
    n_users, n_candidates, ks = 3000, 20, (1, 5, 10)
    rng = np.random.default_rng(2026)
    train, test = [], []
    for user in range(n_users):
        a, b = rng.choice(60, size=2, replace=False)
        train.append((user, int(a)))
        test.append((user, int(b)))
    train += [(n_users, item) for item in range(60)]
    found, catalogue = problem(
        domain(train, [], test), protocol="sampled", negatives=n_candidates - 1, ks=ks
    )
    assert {len(c) for c in found.candidates} == {n_candidates}
    scores = np.random.default_rng(99).random(found.n_pairs)
    figures = compute_metrics(
        ranking.top_lists(found, scores, task="next-item", catalogue=catalogue)
    )
    n = n_candidates
    for k in ks:
        expected = {
            "hr": k / n,
            "recall": k / n,
            "precision": 1 / n,
            "mrr": sum(1 / i for i in range(1, k + 1)) / n,
            "ndcg": sum(1 / math.log2(i + 1) for i in range(1, k + 1)) / n,
            "map": sum(1 / i for i in range(1, k + 1)) / n,  # |R| = 1: map = mrr
        }
        for family, mean in expected.items():
            # per-user values lie in [0, 1]: their standard deviation is at most
            # sqrt(mean * (1 - mean)) (a 0/1 figure's), so 5 standard errors bound the mean
            # (precision@K is a 0/1 hit with probability K/N, divided by K)
            p = k / n
            sd = (
                math.sqrt(p * (1 - p)) / k
                if family == "precision"
                else math.sqrt(mean * (1 - mean))
            )
            tolerance = 5 * sd / math.sqrt(n_users)
            assert abs(figures[f"{family}@{k}"] - mean) < tolerance, (family, k)


# --------------------------------------------------------------------------------------
# (c) the most-popular baseline and the item-side figures
# --------------------------------------------------------------------------------------


def test_most_popular_ranks_by_train_count_ties_to_the_lower_id() -> None:
    # training counts: item 4: 3; items 2 and 6: 2 (a tie); items 1, 3, 5: 1; items 0, 7: 0
    train = [(9, 4), (8, 4), (7, 4), (9, 2), (8, 2), (9, 6), (0, 6), (9, 1), (8, 3), (7, 5)]
    validation = [(9, item) for item in range(8)]  # every item in the catalogue
    test = [(0, 7), (1, 0)]
    found, catalogue = problem(domain(train, validation, test), protocol="full", ks=(3, 5))
    counts = dict.fromkeys(range(8), 0)
    for _, item in train:
        counts[item] += 1
    seen = items_of(train)
    baseline = ranking.popularity_lists(found, task="next-item", catalogue=catalogue)
    assert baseline.user_ids is not None and baseline.user_ids.tolist() == [0, 1]
    for row, user in enumerate(baseline.user_ids.tolist()):
        pool = set(range(8)) - seen.get(user, set())
        expected = sorted(pool, key=lambda item: (-counts[item], item))[:5]
        assert baseline.y_pred[row].tolist() == expected, user
    assert baseline.y_pred[0].tolist() == [4, 2, 1, 3, 5]  # user 0 met item 6 in training
    assert baseline.y_pred[1].tolist() == [4, 2, 6, 1, 3]  # the 2-2 tie: item 2 first
    assert baseline.score is not None and baseline.score[1].tolist() == [3, 2, 2, 1, 1]


def item_side_case(
    counts: Sequence[int], lists: Sequence[Sequence[int]], k: int
) -> dict[str, float]:
    catalogue = np.array([10 * (i + 1) for i in range(len(counts))], dtype=np.int64)
    info = RankingInfo(
        ks=(k,),
        protocol="sampled",
        negatives=3,
        sampling="uniform",
        relevance="observed",
        seed=0,
        catalogue=catalogue,
        train_counts=np.asarray(counts, dtype=np.int64),
    )
    predictions = TaskPredictions(
        task="next-item",
        task_type=TaskType.RANKING,
        y_true=np.full((len(lists), 1), int(catalogue[0])),
        y_pred=np.asarray(lists, dtype=np.int64),
        score=np.zeros((len(lists), k)),
        primary_metric=f"ndcg@{k}",
        user_ids=np.arange(len(lists), dtype=np.int64),
        ranking=info,
    )
    return compute_metrics(predictions)


def test_item_side_figures_by_hand() -> None:
    # catalogue 10..50 with training counts 5, 3, 2, 0, 0; three users' top-2 lists
    figures = item_side_case([5, 3, 2, 0, 0], [[10, 20], [10, 30], [10, 40]], k=2)
    # exposure 3, 1, 1, 1, 0: 4 of 5 items listed
    assert figures["coverage@2"] == pytest.approx(4 / 5)
    # Gini by mean absolute difference: sum over ordered pairs |xi - xj| = 24,
    # / (2 n^2 mean) = 24 / (2 * 25 * 1.2)
    assert figures["gini@2"] == pytest.approx(0.4)
    # recommended popularity (5 + 5 + 5 + 3 + 2 + 0) / 6 = 10 / 3, catalogue mean 2
    assert figures["pop_lift@2"] == pytest.approx(5 / 3)
    # head: the most popular ceil(20 % of 5) = 1 item (10); 3 of 6 recommendations are tail
    assert figures["tail_share@2"] == pytest.approx(0.5)


def test_item_side_ties_and_padding() -> None:
    # ten items, counts tie at the head boundary: head = ceil(0.2 * 10) = 2 items, the ties
    # 4, 4, 4 at ids 20, 30, 40 go to the lower ids (20, 30); 40 is tail
    counts = [0, 4, 4, 4, 1, 1, 0, 0, 0, 0]
    figures = item_side_case(counts, [[20, 40, -1], [30, 40, 50]], k=3)
    listed = [20, 40, 30, 40, 50]  # the -1 pad is no recommendation
    assert figures["coverage@3"] == pytest.approx(4 / 10)
    assert figures["tail_share@3"] == pytest.approx(3 / 5)
    exposure = np.array([listed.count(10 * (i + 1)) for i in range(10)], dtype=np.float64)
    mean_difference = np.abs(exposure[:, None] - exposure[None, :]).sum() / 100
    assert figures["gini@3"] == pytest.approx(mean_difference / (2 * exposure.mean()))
    popularity = np.mean([counts[item // 10 - 1] for item in listed])
    assert figures["pop_lift@3"] == pytest.approx(popularity / np.mean(counts))


def test_lists_without_recommendations_have_no_item_side_figures() -> None:
    # nothing listed: the item-side figures are NaN (reported as null), not a made-up 0
    figures = item_side_case([1, 1, 1], [[-1, -1]], k=2)
    assert math.isnan(figures["coverage@2"])
