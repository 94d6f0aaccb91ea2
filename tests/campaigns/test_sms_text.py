"""An SMS as the provider bills it: the opt-out suffix, links found in it, its length and parts."""

import pytest

from campaigns.sms_text import (
    SmsCount,
    has_opt_out,
    links_find,
    links_replace,
    opt_out_add,
    sms_count,
    units,
)


@pytest.fixture(autouse=True)
def sms_settings(settings):
    settings.SMS_SIGN_NAME = ""
    settings.SMS_UNSUBSCRIBE_SUFFIX = "回T退订"


@pytest.mark.parametrize(
    ("text", "signature", "expected"),
    [
        ("", "", SmsCount(0, 0)),
        ("好" * 70, "", SmsCount(70, 1)),
        ("好" * 71, "", SmsCount(71, 2)),
        ("a" * 134, "", SmsCount(134, 2)),  # letters count as Chinese characters do
        ("a" * 135, "", SmsCount(135, 3)),
        ("好" * 64, "【小店】", SmsCount(68, 1)),
        ("好" * 67, "【小店】", SmsCount(71, 2)),  # the signature tips it over 70
        ("😀" * 35, "", SmsCount(70, 1)),  # beyond U+FFFF: two UCS-2 code units each
        ("😀" * 36, "", SmsCount(72, 2)),
    ],
)
def test_it_counts_length_and_parts_as_aliyun_and_tencent_do(text, signature, expected):
    assert sms_count(text, signature=signature) == expected


def test_the_configured_signature_is_counted(settings):
    settings.SMS_SIGN_NAME = "小店"

    assert sms_count("好" * 66) == SmsCount(70, 1)
    assert sms_count("好" * 67) == SmsCount(71, 2)
    assert units("【小店】") == 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("春季上新，全场八折", "春季上新，全场八折回T退订"),
        ("春季上新 ", "春季上新回T退订"),
        ("春季上新，回T退订", "春季上新，回T退订"),
        ("春季上新，回ｔ退订。", "春季上新，回ｔ退订。"),  # full width, lower case, a full stop
        ("春季上新 退订回TD", "春季上新 退订回TD"),
        ("春季上新，拒收请回复R", "春季上新，拒收请回复R"),
        ("Spring sale. Reply STOP to unsubscribe", "Spring sale. Reply STOP to unsubscribe"),
        ("", ""),
    ],
)
def test_a_marketing_text_gets_the_suffix_unless_it_ends_with_an_opt_out(text, expected):
    assert opt_out_add(text, marketing=True) == expected


def test_a_text_that_is_not_marketing_gets_no_suffix():
    assert opt_out_add("您的验证码是 1234", marketing=False) == "您的验证码是 1234"


def test_the_suffix_follows_the_setting(settings):
    settings.SMS_UNSUBSCRIBE_SUFFIX = " 拒收请回复R"

    assert opt_out_add("上新了", marketing=True) == "上新了 拒收请回复R"
    assert has_opt_out("上新了 拒收请回复R")
    settings.SMS_UNSUBSCRIBE_SUFFIX = ""
    assert opt_out_add("上新了", marketing=True) == "上新了"


def test_links_are_found_without_the_punctuation_after_them():
    text = "看新品 https://shop.example/a?b=1&c=2。详情 http://x.example/p/1, 或 https://"

    assert [url for _start, _end, url in links_find(text)] == [
        "https://shop.example/a?b=1&c=2",
        "http://x.example/p/1",
    ]
    assert links_replace(text, lambda url: "<L>") == "看新品 <L>。详情 <L>, 或 https://"
