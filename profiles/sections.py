"""Extra sections of the 360° profile page, contributed by other apps.

Apps above profiles (journeys, campaigns …) cannot be imported here, so they register a section
from their ``AppConfig.ready()``::

    from profiles.sections import profile_section

    profile_section("journey", "journeys/_profile_stage.html", journey_context)

``context(profile)`` returns the template's context (the profile is added as ``profile``);
the profile page renders every registered section, in the order they were registered.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.template.loader import render_to_string

from profiles.models import Profile


@dataclass(frozen=True)
class ProfileSection:
    name: str
    template: str
    context: Callable[[Profile], dict]


SECTIONS: dict[str, ProfileSection] = {}


def profile_section(name: str, template: str, context: Callable[[Profile], dict]) -> None:
    """Register (or replace) the section ``name`` of the profile page."""
    SECTIONS[name] = ProfileSection(name, template, context)


def profile_sections_render(*, profile: Profile, request=None) -> list[str]:
    """Return the HTML of every registered section for ``profile``, in registration order."""
    return [
        render_to_string(
            section.template, {**section.context(profile), "profile": profile}, request=request
        )
        for section in SECTIONS.values()
    ]
