"""Campaign results: rates, confidence intervals, tests, SRM and lift match hand computations."""

import datetime
import math
from decimal import Decimal

import pytest
from scipy import stats

from campaigns.models import Campaign, Send, TrackingEvent
from campaigns.results import (
    campaign_results,
    lift,
    proportion,
    sample_ratio_check,
    two_proportion_z_test,
    wilson_interval,
)
from tests.campaigns.results_builders import T0, campaign_started, ledger_add, purchase, track

Z = 1.959963984540054  # the 97.5th percentile of the standard normal
DAY = datetime.timedelta(days=1)


def wilson_by_hand(k, n):
    """The Wilson interval written as (2np + z² ± z·sqrt(z² + 4np(1-p))) / (2(n + z²))."""
    p = k / n
    root = Z * math.sqrt(Z * Z + 4 * n * p * (1 - p))
    return (2 * n * p + Z * Z - root) / (2 * (n + Z * Z)), (2 * n * p + Z * Z + root) / (
        2 * (n + Z * Z)
    )


@pytest.mark.parametrize(("k", "n"), [(45, 100), (0, 20), (20, 20), (3, 1000), (517, 1031)])
def test_the_wilson_interval_matches_the_formula_by_hand(k, n):
    low, high = wilson_interval(k, n)

    expected_low, expected_high = wilson_by_hand(k, n)
    assert low == pytest.approx(max(0.0, expected_low), abs=1e-12)
    assert high == pytest.approx(min(1.0, expected_high), abs=1e-12)


def test_a_known_wilson_interval():
    low, high = wilson_interval(45, 100)

    assert (round(low, 4), round(high, 4)) == (0.3561, 0.5476)


def test_the_two_proportion_z_test_matches_the_pooled_formula_by_hand():
    k1, n1, k2, n2 = 120, 1000, 150, 1000

    z, p = two_proportion_z_test(k1, n1, k2, n2)

    pooled = (k1 + k2) / (n1 + n2)
    expected_z = (k2 / n2 - k1 / n1) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    assert z == pytest.approx(expected_z, rel=1e-12)
    assert p == pytest.approx(math.erfc(abs(expected_z) / math.sqrt(2)), rel=1e-9)
    assert round(p, 4) == 0.0496  # significant at 5 %, only just


def test_the_z_test_equals_the_chi_square_test_of_the_2x2_table():
    table = [[120, 880], [150, 850]]

    _z, p = two_proportion_z_test(120, 1000, 150, 1000)

    _chi2, chi2_p, _dof, _expected = stats.chi2_contingency(table, correction=False)
    assert p == pytest.approx(chi2_p, rel=1e-9)


def test_equal_extreme_rates_are_not_different_and_no_trials_give_no_test():
    assert two_proportion_z_test(0, 50, 0, 70) == (0.0, 1.0)
    assert two_proportion_z_test(0, 0, 3, 10) is None


def test_the_sample_ratio_check_matches_the_chi_square_by_hand():
    observed, weights = [530, 470], [50, 50]

    check = sample_ratio_check(observed, weights)

    chi2 = (530 - 500) ** 2 / 500 + (470 - 500) ** 2 / 500
    assert check["chi2"] == pytest.approx(chi2)
    assert check["p"] == pytest.approx(math.erfc(math.sqrt(chi2 / 2)))  # 1 degree of freedom
    assert check["mismatch"] is False


def test_the_sample_ratio_check_warns_on_a_broken_split_of_three():
    observed, weights = [400, 300, 300], [20, 40, 40]

    check = sample_ratio_check(observed, weights)

    chi2 = (400 - 200) ** 2 / 200 + 2 * (300 - 400) ** 2 / 400
    assert check["chi2"] == pytest.approx(chi2)
    assert check["p"] == pytest.approx(math.exp(-chi2 / 2))  # 2 degrees of freedom
    assert check["mismatch"] is True


def test_lift_matches_the_wald_and_log_ratio_intervals_by_hand():
    kt, nt, kc, nc = 60, 500, 30, 500

    result = lift(kt, nt, kc, nc)

    pt, pc = kt / nt, kc / nc
    se = math.sqrt(pt * (1 - pt) / nt + pc * (1 - pc) / nc)
    assert result["difference"] == pytest.approx(0.06)
    assert result["difference_low"] == pytest.approx(0.06 - Z * se)
    assert result["difference_high"] == pytest.approx(0.06 + Z * se)
    se_log = math.sqrt(1 / kt - 1 / nt + 1 / kc - 1 / nc)
    assert result["relative"] == pytest.approx(1.0)
    assert result["relative_low"] == pytest.approx(2 * math.exp(-Z * se_log) - 1)
    assert result["relative_high"] == pytest.approx(2 * math.exp(Z * se_log) - 1)


@pytest.fixture
def small_campaign(db, settings):
    """A: 4 sent, B: 4 sent (one bounced), holdout: 2; opens, clicks and purchases around."""
    settings.CAMPAIGN_CONVERSION_EVENT = "purchase"
    settings.CAMPAIGN_ATTRIBUTION_DAYS = 7
    campaign = campaign_started(holdout_percent=20)
    a = ledger_add(campaign, 4, variant="A")
    b = ledger_add(campaign, 4, variant="B")
    holdout = ledger_add(campaign, 2, status=Send.Status.HOLDOUT)
    ledger_add(campaign, 1, variant="A", status=Send.Status.SKIPPED)
    sent_at = a[0].sent_at
    track(a[:1], TrackingEvent.Kind.OPEN, times=2)  # two opens of one message: one unique open
    track(a[1:2], TrackingEvent.Kind.CLICK)  # a click without a pixel counts as an open too
    track(b[:1], TrackingEvent.Kind.OPEN)
    track(b[3:], TrackingEvent.Kind.BOUNCE)
    purchase(a[0], sent_at + DAY, "100.00")  # in the window
    purchase(a[1], sent_at - datetime.timedelta(hours=1))  # before the message: not counted
    purchase(a[2], sent_at + 8 * DAY)  # after the window: not counted
    purchase(a[3], sent_at + 2 * DAY, "50.00")  # two purchases: one conversion, both revenue
    purchase(a[3], sent_at + 3 * DAY, "30.00")
    purchase(b[0], sent_at + DAY, name="page_view")  # not the conversion event
    purchase(holdout[0], T0 + 2 * DAY, "70.00")  # holdout: window from the start
    purchase(holdout[1], T0 - DAY)  # before the start: not counted
    return campaign


def test_results_count_per_variant_with_conversions_only_within_the_window(small_campaign):
    results = campaign_results(campaign=small_campaign)

    a, b = results["variants"]
    assert (a["assigned"], a["sent"], a["delivered"], a["opens"], a["clicks"]) == (5, 4, 4, 2, 1)
    assert (a["conversions"], a["revenue"]) == (2, Decimal("180.00"))
    assert (b["assigned"], b["sent"], b["delivered"], b["opens"], b["clicks"]) == (4, 4, 3, 1, 0)
    assert (b["conversions"], b["revenue"]) == (0, 0)
    assert results["holdout"]["assigned"] == 2
    assert results["holdout"]["conversions"] == 1
    assert a["conversion_rate"] == proportion(2, 4)
    assert b["open_rate"] == proportion(1, 3)


def test_the_lift_compares_everyone_sent_with_the_holdout(small_campaign):
    results = campaign_results(campaign=small_campaign)

    assert results["lift"] == pytest.approx(lift(2, 8, 1, 2))
    assert results["lift"]["difference"] == pytest.approx(2 / 8 - 1 / 2)
    assert results["lift"]["relative"] == pytest.approx((2 / 8) / (1 / 2) - 1)


def test_each_variant_is_tested_against_the_first(small_campaign):
    results = campaign_results(campaign=small_campaign)

    b = results["variants"][1]
    z, p = two_proportion_z_test(2, 4, 0, 4)
    assert b["vs_control"]["conversion_rate"] == {"z": z, "p": p, "significant": p < 0.05}
    assert results["variants"][0]["vs_control"] == {}


def test_a_longer_attribution_window_counts_the_late_purchase(small_campaign, settings):
    settings.CAMPAIGN_ATTRIBUTION_DAYS = 9

    results = campaign_results(campaign=small_campaign)

    assert results["variants"][0]["conversions"] == 3


def test_a_split_off_its_weights_raises_the_srm_warning_on_the_results_page(client, db):
    from tests.factories import UserFactory

    campaign = campaign_started(slug="skewed")
    ledger_add(campaign, 80, variant="A")
    ledger_add(campaign, 20, variant="B")
    client.force_login(UserFactory(roles=["campaign_manager"]))

    results = campaign_results(campaign=campaign)
    response = client.get(f"/campaigns/{campaign.slug}/results/")

    assert results["srm"]["chi2"] == pytest.approx(36.0)
    assert results["srm"]["mismatch"] is True
    assert response.status_code == 200
    assert 'data-testid="srm-warning"' in response.content.decode()


def test_the_results_page_shows_rates_intervals_lift_and_the_decision(client, small_campaign):
    from tests.factories import UserFactory

    Campaign.objects.filter(pk=small_campaign.pk).update(
        winner_mode=Campaign.WinnerMode.TEST_THEN_WINNER,
        winner_decision={
            "by": "auto",
            "metric": "clicks",
            "outcome": "fallback_first",
            "winner": "A",
            "tests": {"B": {"z": -1.0, "p": 0.31}},
        },
    )
    client.force_login(UserFactory(roles=["ops"]))

    response = client.get(f"/campaigns/{small_campaign.slug}/results/")
    detail = client.get(f"/campaigns/{small_campaign.slug}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "50.0%" in html  # A's conversion rate
    low, high = wilson_interval(2, 4)
    assert f"{100 * low:.1f}% – {100 * high:.1f}%" in html
    assert 'data-testid="lift"' in html and "-25.0%" in html
    assert 'data-outcome="fallback_first"' in html
    assert html.count('class="plotly-graph-div"') == 2
    assert 'data-testid="srm-warning"' not in html
    assert f"/campaigns/{small_campaign.slug}/results/" in detail.content.decode()


def test_an_sms_campaign_has_no_open_or_click_rate_and_the_page_says_not_tracked(
    client, db, settings
):
    from tests.factories import UserFactory

    settings.SMS_SHORT_LINKS = False
    campaign = campaign_started(slug="texts", channel="sms")
    ledger_add(campaign, 5, variant="A")
    ledger_add(campaign, 5, variant="B")
    client.force_login(UserFactory(roles=["campaign_manager"]))

    results = campaign_results(campaign=campaign)
    html = client.get(f"/campaigns/{campaign.slug}/results/").content.decode()

    a = results["variants"][0]
    assert (a["open_rate"].rate, a["click_rate"].rate) == (None, None)
    assert a["conversion_rate"].rate == 0.0
    assert html.count('data-testid="not-tracked"') == 4  # open and click rate of A and B
    assert "0.0% (" not in html.split('data-testid="results-table"')[1].split("</table>")[0]
    assert "Opens and clicks are not tracked for SMS messages." in html


def test_an_sms_campaign_with_short_links_measures_clicks_not_opens(client, db, settings):
    from tests.factories import UserFactory

    settings.SMS_SHORT_LINKS = settings.CAMPAIGN_TRACKING = True
    campaign = campaign_started(slug="texts", channel="sms")
    ledger_add(campaign, 5, variant="A")
    ledger_add(campaign, 5, variant="B")
    client.force_login(UserFactory(roles=["campaign_manager"]))

    a = campaign_results(campaign=campaign)["variants"][0]
    html = client.get(f"/campaigns/{campaign.slug}/results/").content.decode()

    assert a["open_rate"].rate is None and a["click_rate"].rate == 0.0
    assert html.count('data-testid="not-tracked"') == 2  # the open rate of A and B
    assert "clicks are counted through their short links" in html


def test_an_email_campaign_keeps_its_measured_open_rate(db):
    campaign = campaign_started(slug="mails")
    ledger_add(campaign, 4, variant="A")

    assert campaign_results(campaign=campaign)["variants"][0]["open_rate"].rate == 0.0


def test_the_results_page_says_the_sample_ratio_threshold_where_it_prints_the_p_value(client, db):
    from tests.factories import UserFactory

    campaign = campaign_started(slug="even")
    ledger_add(campaign, 50, variant="A")
    ledger_add(campaign, 44, variant="B")
    client.force_login(UserFactory(roles=["campaign_manager"]))

    html = client.get(f"/campaigns/{campaign.slug}/results/").content.decode()

    check = html.split('data-testid="srm-result"')[1].split("</p>")[0]
    assert "p = 0.536" in check
    assert "below 0.001" in check
    assert "The sample ratio check below uses a threshold of 0.001." in html
