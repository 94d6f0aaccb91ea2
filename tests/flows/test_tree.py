"""The editor's tree operations and words: pure functions on a definition, which stays as it was."""

import copy

import pytest

from flows.definition import ERROR_EMPTY_PATH, ERROR_VARIANTS
from flows.describe import rule_words, step_words, trigger_words
from flows.tree import (
    ERROR_AFTER_BRANCHING,
    ERROR_PATH_DROPPED,
    ERROR_PATH_EMPTY,
    Position,
    TreeError,
    errors_place,
    key_new,
    keys_all,
    place_target,
    step_change,
    step_insert,
    step_remove,
)

WAIT = {"key": "wait-1", "kind": "wait", "duration": {"hours": 2}}
EXIT = {"key": "exit-1", "kind": "exit"}
UNTIL = {"until_event": {"event": "purchase"}, "timeout": {"hours": 2}}


def branchy() -> dict:
    """Return wait-1 (until purchase) with "exit-1" on the event path and nothing on timeout."""
    return {
        "steps": [
            {
                "key": "wait-1",
                "kind": "wait",
                **UNTIL,
                "paths": {"event": [dict(EXIT)], "timeout": []},
            }
        ]
    }


def test_a_key_is_the_kind_and_one_more_than_any_before():
    taken = keys_all([{"steps": [WAIT]}, {"steps": [{"key": "wait-7", "kind": "wait"}]}])

    assert key_new("wait", taken) == "wait-8"
    assert key_new("update_profile", taken) == "update-1"


def test_keys_are_read_from_every_path():
    assert keys_all([branchy()]) == {"wait-1", "exit-1"}


def test_a_step_goes_after_another_and_the_input_stays_unchanged():
    definition = {"steps": [dict(WAIT)]}
    before = copy.deepcopy(definition)

    result = step_insert(definition, EXIT, Position(after="wait-1"))

    assert result["steps"] == [WAIT, EXIT]
    assert definition == before


def test_a_branching_step_takes_the_steps_after_it_into_its_first_path():
    definition = {"steps": [dict(WAIT), dict(EXIT)]}
    split = {"key": "split-1", "kind": "split", "percents": {"A": 50, "B": 50}}

    result = step_insert(definition, split, Position(after="wait-1"))

    assert result["steps"] == [WAIT, {**split, "paths": {"A": [EXIT], "B": []}}]


def test_a_step_goes_first_in_a_path():
    result = step_insert(branchy(), WAIT | {"key": "wait-2"}, Position("", "wait-1", "timeout"))

    assert result["steps"][0]["paths"]["timeout"] == [WAIT | {"key": "wait-2"}]


def test_nothing_goes_after_a_branching_step():
    with pytest.raises(TreeError, match=str(ERROR_AFTER_BRANCHING)):
        step_insert(branchy(), WAIT | {"key": "wait-2"}, Position(after="wait-1"))


def test_a_step_that_starts_branching_takes_what_followed_into_its_first_path():
    definition = {"steps": [dict(WAIT), dict(EXIT)]}

    result = step_change(definition, "wait-1", UNTIL)

    assert result["steps"] == [
        {"key": "wait-1", "kind": "wait", **UNTIL, "paths": {"event": [EXIT], "timeout": []}}
    ]


def test_a_step_that_stops_branching_is_followed_by_its_one_path():
    result = step_change(branchy(), "wait-1", {"duration": {"hours": 1}})

    assert result["steps"] == [{"key": "wait-1", "kind": "wait", "duration": {"hours": 1}}, EXIT]


def test_a_split_path_with_steps_cannot_be_dropped():
    definition = {
        "steps": [
            {
                "key": "split-1",
                "kind": "split",
                "percents": {"A": 40, "B": 30, "C": 30},
                "paths": {"A": [], "B": [], "C": [dict(EXIT)]},
            }
        ]
    }

    renamed = step_change(definition, "split-1", {"percents": {"X": 50, "Y": 25, "Z": 25}})

    assert renamed["steps"][0]["paths"] == {"X": [], "Y": [], "Z": [EXIT]}
    with pytest.raises(TreeError, match=str(ERROR_PATH_DROPPED).format(path="C")):
        step_change(definition, "split-1", {"percents": {"A": 50, "B": 50}})


def test_removing_a_branching_step_removes_its_paths():
    assert step_remove(branchy(), "wait-1") == {"steps": []}


def test_an_error_place_names_its_step_or_its_path():
    definition = branchy()

    assert place_target(definition, "steps[0].paths.event[0].kind") == ("exit-1", None)
    assert place_target(definition, "steps[0].paths.timeout") == ("wait-1", "timeout")
    assert place_target(definition, "steps[0].timeout") == ("wait-1", None)
    assert place_target(definition, "trigger.event") == (None, None)


def test_errors_are_sorted_by_step_path_and_setting():
    errors = [
        ("steps[0].paths.timeout", str(ERROR_EMPTY_PATH).format(path="timeout")),
        ("steps[0].paths.event[0].variants", str(ERROR_VARIANTS)),
        ("trigger", "no trigger"),
        ("", "archived"),
    ]

    placed = errors_place(branchy(), errors)

    assert placed.paths == {("wait-1", "timeout"): [str(ERROR_PATH_EMPTY)]}
    assert placed.steps == {"exit-1": [str(ERROR_VARIANTS)]}
    assert placed.settings == {"trigger": ["no trigger"]}
    assert placed.flow == ["archived"]
    assert len(placed.summary) == 4


@pytest.mark.parametrize(
    ("step", "words"),
    [
        (WAIT, "Wait 2 hours"),
        ({"kind": "wait", **UNTIL}, "Wait until purchase, at most 2 hours"),
        (
            {"kind": "wait", "until": {"weekdays": [0, 4], "time": "09:00"}},
            "Wait until Mon, Fri at 09:00",
        ),
        (
            {"kind": "send", "channel": "email", "variants": [{"subject": "Hello"}]},
            "Send email “Hello”",
        ),
        (
            {"kind": "branch", "rule": {"attr": "city", "op": "eq", "value": "上海"}},
            "Branch: city equals 上海",
        ),
        (
            {"kind": "split", "percents": {"A": 50, "B": 50}, "control": "B"},
            "Split 50% / 50% (control)",
        ),
        ({"kind": "update_profile", "add_tags": ["converted"]}, "Add tag converted"),
        (
            {"kind": "webhook", "url": "https://crm.example.com/x"},
            "Webhook POST https://crm.example.com/x",
        ),
        (EXIT, "Exit"),
    ],
)
def test_each_kind_of_step_is_said_in_words(step, words):
    assert step_words(step) == words


@pytest.mark.django_db  # the sentence reads the tags' labels
def test_rules_and_triggers_are_said_in_words():
    rule = {"any": [{"tag": "vip", "op": "has"}, {"message": "opened", "step": "send-1"}]}

    assert rule_words({"all": [{"attr": "city", "op": "eq", "value": "上海"}, rule]}) == (
        "city equals 上海 and (has the tag vip or opened the message of step send-1)"
    )
    assert trigger_words({"type": "event", "event": "add_to_cart", "where": {"sku": "A1"}}) == (
        "When add_to_cart happens with sku = A1"
    )
    assert trigger_words({}) == "No trigger yet"
