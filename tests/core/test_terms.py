"""Chinese pages use the right word: 名称 for things, 姓名 for people, 发件人, 成员 and 成员数."""

import pytest

from tests.campaigns.campaign_builders import campaign_make, segment_make

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def chinese(settings):
    settings.LANGUAGE_CODE = "zh-hans"


def test_segments_and_campaigns_have_a_name_not_a_person_s_name(ops_client):
    campaign_make()

    pages = [ops_client.get(url).content.decode() for url in ("/segments/", "/campaigns/")]

    for page in pages:
        assert "<th>名称</th>" in page
        assert "姓名" not in page


def test_people_keep_their_person_s_name(ops_client):
    page = ops_client.get("/profiles/").content.decode()

    assert "姓名" in page
    assert "名称" not in page


def test_the_campaign_sender_is_called_the_sender(client, campaign_manager):
    client.force_login(campaign_manager)
    campaign_make()

    page = client.get("/campaigns/spring-sale/edit/").content.decode()

    assert '<label for="id_from_email">发件人:</label>' in page


def test_the_member_list_is_headed_members_and_the_count_member_count(ops_client):
    segment_make()

    page = ops_client.get("/segments/shanghai/").content.decode()

    assert "<dt>成员数</dt>" in page
    assert "<h2>成员 <span" in page


def test_the_selftest_job_page_says_what_it_did_in_chinese(
    ops_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # eager in tests: done at once
        queued = ops_client.post("/jobs/selftest/")

    page = ops_client.get(queued.url).content.decode()
    assert "后台进程完成了 5 次数据库往返。" in page
    assert "step 5/5" not in page and "steps: 5" not in page


def test_the_member_table_of_a_segment_calls_a_member_s_name_姓名(ops_client):
    segment_make()

    page = ops_client.get("/segments/shanghai/").content.decode()

    assert 'data-testid="sort-name">姓名' in page
