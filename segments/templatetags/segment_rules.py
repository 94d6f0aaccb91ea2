"""Template filters that show a segment rule in words (``{{ segment.rule|rule_sentence }}``)."""

from django import template

from segments.sentence import rule_sentence_html

register = template.Library()


@register.filter
def rule_sentence(rule):
    """Return the rule as a sentence in the page's language, raw names on hover ("" for none)."""
    return rule_sentence_html(rule) if rule else ""
