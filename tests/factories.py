"""factory_boy factories for the project's models."""

import datetime
from decimal import Decimal

import factory
from django.contrib.auth.models import Group, User
from django.utils import timezone

from profiles.models import Event, Profile, ProfileTag, Tag, TagCategory


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        for name in extracted or ():  # a transactional test before this one may have flushed it
            self.groups.add(Group.objects.get_or_create(name=name)[0])


class ProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Profile

    external_id = factory.Sequence(lambda n: f"P{n:06d}")
    email = factory.LazyAttribute(lambda p: f"{p.external_id.lower()}@example.com")
    name = factory.Sequence(lambda n: f"测试用户{n}")
    city = "上海"
    signup_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=30))


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    profile = factory.SubFactory(ProfileFactory)
    name = "page_view"
    channel = "web"
    occurred_at = factory.LazyFunction(timezone.now)
    key = factory.Sequence(lambda n: f"test-event-{n}")


class PurchaseFactory(EventFactory):
    name = "purchase"
    amount = Decimal("100.00")


class TagCategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TagCategory
        django_get_or_create = ("slug",)

    slug = "interest"
    label = "兴趣 Interests"


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("slug",)

    category = factory.SubFactory(TagCategoryFactory)
    slug = factory.Sequence(lambda n: f"tag-{n}")
    label = factory.LazyAttribute(lambda t: t.slug)


class ProfileTagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProfileTag

    profile = factory.SubFactory(ProfileFactory)
    tag = factory.SubFactory(TagFactory)
