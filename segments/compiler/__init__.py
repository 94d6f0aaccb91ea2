"""Compile a parsed segment rule into one set-based condition on profiles, in the plan it calls for.

``Profile.objects.filter(compile_rule(tree, now=now, plan=...))`` is the whole segment in one
statement: attribute conditions are column comparisons (a trait comparison is one boolean that
is never NULL), tags are ``EXISTS`` semi-joins, segment references ``EXISTS`` on the membership
table. Event counts and sums have two plans: ``GROUPED``, one grouped scan of the event window
(``GROUP BY … HAVING``) joined with ``IN``, with "any" of a window small enough to hash as
``IN`` too ("none" is ``NOT EXISTS``, an anti-join that may run in parallel); and
``CORRELATED``, the same aggregate probed per candidate profile through the
``(profile_id, name, occurred_at)`` index (``EXISTS (… GROUP BY … HAVING …)``), with "any" and
"none" as ``EXISTS`` probes. Compiling is pure: it builds expressions and runs no query.

``planning`` chooses the plan of each rule from the database's estimates (``EXPLAIN`` on
PostgreSQL, a capped count on SQLite) of its *candidates*, the profiles its cheap conditions
(anything but events: attributes of the profile or of a registered one-row-per-profile model,
tags, consent, segments, stage) leave, against the rows of its event windows; ``SEGMENT_PLAN``
or a ``plan=`` argument forces one. A correlated rule on PostgreSQL is evaluated through the
tables of ``shared`` (its candidates once, their measures by one LATERAL probe each), so that
no correlated subquery keeps the rule's query in one process (``segments.services``).

The package: ``core`` (``compile_rule``, each node through the compiler its kind registered in
``segments.conditions``), ``expressions`` (SQL that behaves the same on both databases, the
operator tables, the plans), ``attributes``, ``events`` (tags, events, segments, consent),
``groups`` (all, any, not), ``planning`` (candidates, estimates, the choice) and ``shared`` (the
tables one refresh of many segments shares, restricted to the union of their candidates when
that is small).

Semantics (identical on SQLite and PostgreSQL, and what the tests' Python evaluation does):

- Every condition is true or false for every profile, never SQL's "unknown", so ``not`` is always
  the exact complement and ``all``/``any`` are plain AND/OR.
- A missing value (a NULL column, an absent trait key, a JSON null, or a trait of another JSON
  type than the operand) satisfies no comparison: eq, lt, lte, gt, gte, between, in, contains,
  startswith, within_last_days and more_than_days_ago are false for it.
- ``ne``, ``not_in`` and ``is_not_set`` are the complements of ``eq``, ``in`` and ``is_set``:
  they are true for a missing value ("city ne 上海" includes profiles without a city).
- ``is_set``: the value is present, not null and not the empty string ("" is how the core text
  fields say "none"; ``gender`` "unknown" is a value). Arrays and objects in traits are set.
- Traits compare by JSON type: numbers as numbers (1 equals 1.0, "1" is not 1), text as text,
  true/false only with true/false. Text order (lt … between) is by code point on both databases
  (binary collation, forced on PostgreSQL whatever the database's collation). ``contains`` and
  ``startswith`` are case-sensitive on both.
- Time: a date given for a date-and-time field means that whole day in the configured time zone
  (``eq 2024-01-31`` is the day, ``lte`` includes it, ``gt`` starts the next day); a date and time
  without an offset is in the configured zone. ``within_last_days N`` is ``now - N days <= x <=
  now`` and ``more_than_days_ago N`` is ``x < now - N days`` (a day is 24 hours); on the date
  field birth_date they count local calendar days back from today. Event windows are ``now -
  within_days <= occurred_at <= now``, both ends included (as the RFM window): later events are
  ignored, so an evaluation "as of" a moment is reproducible.
- Events: a count or sum over no events is 0, so ``count eq 0`` ("did not") and ``sum lt 100``
  include profiles without any such event; events without an amount add nothing to a sum; sums are
  rounded to cents before comparing. ``where`` keeps the events whose properties have each given
  value of the same JSON type (as traits compare: 1 is 1.0, not "1" nor true; a missing key,
  null, an array or an object has no value), before counting or summing.
- Engagement with messages (registered by campaigns): "opened" and "clicked" are an open or a
  click tracked in the window, "received" a send with status sent in the window, of the named
  campaign or of any; an ``EXISTS`` in both plans.
- Tags count until they expire (``expires_at`` after ``now``); a segment reference means the
  current membership of that segment.
"""

from __future__ import annotations

from segments.compiler.core import compile_node, compile_rule, uses_behaviour  # noqa: F401
from segments.compiler.expressions import CORRELATED, GROUPED, PLANS, Env  # noqa: F401
from segments.compiler.planning import (  # noqa: F401
    AUTO,
    PlanChoice,
    candidates_q,
    exists_windows,
    plan_choose,
    rule_candidates,
    rule_matching,
    shared_candidates,
)
from segments.compiler.shared import (  # noqa: F401
    MeasureKey,
    SharedMeasures,
    common_conditions,
    measure_keys,
    profile_columns,
    shared_candidates_query,
    shared_matching,
    shared_measure_columns,
    shared_measures,
    shared_measures_query,
    shared_profiles_query,
    shared_tag_query,
    tag_slugs,
)
