"""Hand-written PostgreSQL for the rules ``bench_segments`` measures: three forms of each.

Each rule is written three ways, each a SELECT of the profile ids the segment must hold:
``grouped`` (one grouped scan of the event window, joined), ``correlated`` (from the selective
side: the cheap conditions first, then each remaining profile's events through the
``(profile_id, name, occurred_at)`` index in scalar or EXISTS subqueries) and ``lateral`` (one
LATERAL aggregate per remaining profile). Like every rule on behaviour, each leaves out the
profiles that withdrew personalised profiling. Parameters: ``now``, ``tag``, ``cities``,
``days`` (named).
"""

PROFILING_ALLOWED = """NOT EXISTS (SELECT 1 FROM profiles_consentstate cs
    WHERE cs.profile_id = p.id AND cs.purpose = 'profiling' AND cs.status <> 'granted')"""
LIVE_TAG = """(pt.expires_at IS NULL OR pt.expires_at > %(now)s)"""


def _carries(slug: str) -> str:
    return f"""EXISTS (SELECT 1 FROM profiles_profiletag pt JOIN profiles_tag t ON t.id = pt.tag_id
        WHERE pt.profile_id = p.id AND t.slug = '{slug}' AND {LIVE_TAG})"""


def _window(event: str, days: str, alias: str = "e") -> str:
    return (
        f"{alias}.name = '{event}' AND {alias}.occurred_at >= %(now)s - {days} * interval '1 day'"
        f" AND {alias}.occurred_at <= %(now)s"
    )


def _events(event: str, days: str) -> str:
    """Rows of one profile's ``event`` in the window (correlated on ``p.id``)."""
    return f"FROM profiles_event e WHERE e.profile_id = p.id AND {_window(event, days)}"


# Selective: city, signup window, a tag, purchases counted and summed, no feedback.
SELECTIVE_PROFILE = """p.city = ANY(%(cities)s)
  AND p.signup_at >= %(now)s - interval '730 days' AND p.signup_at <= %(now)s"""
NO_FEEDBACK = f"NOT EXISTS (SELECT 1 {_events('feedback', '90')})"
TAG_CARRIERS = f"""profiles_tag t
JOIN profiles_profiletag pt ON pt.tag_id = t.id AND {LIVE_TAG}
JOIN profiles_profile p ON p.id = pt.profile_id"""

SELECTIVE = {
    "grouped": f"""
SELECT p.id FROM profiles_profile p
WHERE {SELECTIVE_PROFILE}
  AND EXISTS (SELECT 1 FROM profiles_profiletag pt JOIN profiles_tag t ON t.id = pt.tag_id
              WHERE pt.profile_id = p.id AND t.slug = %(tag)s AND {LIVE_TAG})
  AND p.id IN (
      SELECT e.profile_id FROM profiles_event e WHERE {_window("purchase", "365")}
      GROUP BY e.profile_id
      HAVING COUNT(*) FILTER (WHERE e.occurred_at >= %(now)s - %(days)s * interval '1 day') >= 2
         AND SUM(e.amount) > 500)
  AND {NO_FEEDBACK}
  AND {PROFILING_ALLOWED}""",
    "correlated": f"""
SELECT p.id FROM {TAG_CARRIERS}
WHERE t.slug = %(tag)s AND {SELECTIVE_PROFILE}
  AND (SELECT COUNT(*) {_events("purchase", "%(days)s")}) >= 2
  AND (SELECT COALESCE(SUM(e.amount), 0) {_events("purchase", "365")}) > 500
  AND {NO_FEEDBACK}
  AND {PROFILING_ALLOWED}""",
    "lateral": f"""
SELECT p.id FROM {TAG_CARRIERS}
CROSS JOIN LATERAL (
    SELECT COUNT(*) FILTER (WHERE e.occurred_at >= %(now)s - %(days)s * interval '1 day') AS n,
           COALESCE(SUM(e.amount), 0) AS total
    {_events("purchase", "365")}) bought
WHERE t.slug = %(tag)s AND {SELECTIVE_PROFILE}
  AND bought.n >= 2 AND bought.total > 500
  AND {NO_FEEDBACK}
  AND {PROFILING_ALLOWED}""",
}

# Broad: a membership trait, cart events or the high tier, no purchase in 30 days, not a tag.
MEMBER = "p.traits ->> 'membership' IN ('silver', 'gold', 'platinum')"
NOT_PRICE_SENSITIVE = f"NOT {_carries('price-sensitive')}"
BROAD = {
    "grouped": f"""
SELECT p.id FROM profiles_profile p
LEFT JOIN (SELECT e.profile_id FROM profiles_event e WHERE {_window("add_to_cart", "30")}
           GROUP BY e.profile_id) cart ON cart.profile_id = p.id
LEFT JOIN (SELECT e.profile_id FROM profiles_event e WHERE {_window("purchase", "30")}
           GROUP BY e.profile_id) bought ON bought.profile_id = p.id
WHERE {MEMBER} AND (cart.profile_id IS NOT NULL OR p.value_tier = 'high')
  AND bought.profile_id IS NULL
  AND {NOT_PRICE_SENSITIVE}
  AND {PROFILING_ALLOWED}""",
    "correlated": f"""
SELECT p.id FROM profiles_profile p
WHERE {MEMBER}
  AND (p.value_tier = 'high' OR EXISTS (SELECT 1 {_events("add_to_cart", "30")}))
  AND NOT EXISTS (SELECT 1 {_events("purchase", "30")})
  AND {NOT_PRICE_SENSITIVE}
  AND {PROFILING_ALLOWED}""",
    "lateral": f"""
SELECT p.id FROM profiles_profile p
CROSS JOIN LATERAL (
    SELECT COUNT(*) FILTER (WHERE e.name = 'add_to_cart') AS carts,
           COUNT(*) FILTER (WHERE e.name = 'purchase') AS bought
    FROM profiles_event e WHERE e.profile_id = p.id AND e.name IN ('add_to_cart', 'purchase')
      AND e.occurred_at >= %(now)s - interval '30 days' AND e.occurred_at <= %(now)s) seen
WHERE {MEMBER} AND (seen.carts > 0 OR p.value_tier = 'high') AND seen.bought = 0
  AND {NOT_PRICE_SENSITIVE}
  AND {PROFILING_ALLOWED}""",
}

# An "any" mix: recent signups that are VIPs spending over 300 in 90 days, or platinum members
# with three purchases in 180 days.
RECENT = "p.signup_at >= %(now)s - interval '365 days' AND p.signup_at <= %(now)s"
PLATINUM = "p.traits ->> 'membership' = 'platinum'"
ANY_MIX = {
    "grouped": f"""
SELECT p.id FROM profiles_profile p
JOIN (SELECT e.profile_id,
             COALESCE(SUM(e.amount) FILTER (
                 WHERE e.occurred_at >= %(now)s - interval '90 days'), 0) AS spent,
             COUNT(*) AS n
      FROM profiles_event e WHERE {_window("purchase", "180")}
      GROUP BY e.profile_id) bought ON bought.profile_id = p.id
WHERE {RECENT} AND {PROFILING_ALLOWED}
  AND (({_carries("vip")} AND bought.spent > 300) OR ({PLATINUM} AND bought.n >= 3))""",
    "correlated": f"""
SELECT p.id FROM profiles_profile p
JOIN (SELECT pt.profile_id AS id FROM profiles_profiletag pt JOIN profiles_tag t
        ON t.id = pt.tag_id WHERE t.slug = 'vip' AND {LIVE_TAG}
      UNION SELECT p.id FROM profiles_profile p WHERE {PLATINUM}) candidate
  ON candidate.id = p.id
WHERE {RECENT} AND {PROFILING_ALLOWED}
  AND (({_carries("vip")}
        AND (SELECT COALESCE(SUM(e.amount), 0) {_events("purchase", "90")}) > 300)
    OR ({PLATINUM} AND (SELECT COUNT(*) {_events("purchase", "180")}) >= 3))""",
    "lateral": f"""
SELECT p.id FROM profiles_profile p
CROSS JOIN LATERAL (
    SELECT COALESCE(SUM(e.amount) FILTER (
               WHERE e.occurred_at >= %(now)s - interval '90 days'), 0) AS spent,
           COUNT(*) AS n
    {_events("purchase", "180")}) bought
WHERE {RECENT} AND {PROFILING_ALLOWED}
  AND (({_carries("vip")} AND bought.spent > 300) OR ({PLATINUM} AND bought.n >= 3))""",
}

FORMS = {"selective": SELECTIVE, "broad": BROAD, "any_mix": ANY_MIX}


def shared_refresh(variants: list[tuple[list[str], int]]) -> list[str]:
    """Return the statements refreshing the selective rule's variants (cities, purchase days)
    by hand, sharing work: the candidates once, one scan of their purchases for every window,
    then each variant's ids into its own table ``hand_segment_N``. Parameters: ``now``,
    ``tag``, ``cities`` (all of them) and each variant's ``cities_N``."""
    windows = sorted({days for _cities, days in variants} | {365})
    counts = ", ".join(
        f"COUNT(*) FILTER (WHERE e.occurred_at >= %(now)s - interval '{days} days') AS n{days}"
        for days in windows
    )
    steps = [
        "DROP TABLE IF EXISTS hand_candidates, hand_bought",
        f"""CREATE TEMP TABLE hand_candidates AS SELECT p.id, p.city FROM {TAG_CARRIERS}
            WHERE t.slug = %(tag)s AND p.city = ANY(%(cities)s)
              AND p.signup_at >= %(now)s - interval '730 days' AND p.signup_at <= %(now)s
              AND {NO_FEEDBACK} AND {PROFILING_ALLOWED}""",
        f"""CREATE TEMP TABLE hand_bought AS SELECT e.profile_id, {counts},
                   COALESCE(SUM(e.amount), 0) AS total
            FROM hand_candidates c JOIN profiles_event e ON e.profile_id = c.id
            WHERE {_window("purchase", "365")} GROUP BY e.profile_id""",
    ]
    for number, (_cities, days) in enumerate(variants):
        steps.append(f"DROP TABLE IF EXISTS hand_segment_{number}")
        steps.append(
            f"""CREATE TEMP TABLE hand_segment_{number} AS SELECT c.id FROM hand_candidates c
            JOIN hand_bought b ON b.profile_id = c.id
            WHERE c.city = ANY(%(cities_{number})s) AND b.n{days} >= 2 AND b.total > 500"""
        )
    return steps
