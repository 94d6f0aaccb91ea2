"""What a person would notice on a screen, read off the page in the browser.

``screen_problems(page, chinese=...)`` returns a list of sentences, one per problem: a chart wider
than its card, a plotly date axis spanning less than one second, and on a Chinese page a text that
is an English msgid of the catalogue, a raw enum value, or an English phrase.
"""

import re
from functools import cache

from django.apps import apps
from django.utils import translation
from django.utils.translation import trans_real

# Collected in the page: every chart's width against its card's, every date axis's span, and the
# visible text of each element (its own text nodes), skipping what shows raw values on purpose.
PAGE_FACTS = """
() => {
  const charts = [];
  for (const plot of document.querySelectorAll(".js-plotly-plot")) {
    const card = plot.closest(".card") || plot.parentElement;
    const svg = plot.querySelector("svg.main-svg");
    const widths = [plot.getBoundingClientRect().width];
    if (svg) widths.push(svg.getBoundingClientRect().width);
    const layout = plot._fullLayout || {};
    const spans = [];
    for (const [name, axis] of Object.entries(layout)) {
      if (!/^[xy]axis\\d*$/.test(name) || !axis || axis.type !== "date" || !axis.range) continue;
      spans.push([name, axis.r2l(axis.range[1]) - axis.r2l(axis.range[0])]);
    }
    charts.push({
      id: plot.id, width: Math.max(...widths), card: card.getBoundingClientRect().width, spans,
    });
  }
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const raw = "code, pre, kbd, samp, script, style, textarea, select, .raw, [data-raw], "
    + "#swagger-ui, .js-plotly-plot";
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.replace(/\\s+/g, " ").trim();
    const element = node.parentElement;
    if (!text || !element || element.closest(raw)) continue;
    const style = getComputedStyle(element);
    if (style.display === "none" || style.visibility === "hidden") continue;
    if (!element.getClientRects().length) continue;
    texts.push(text);
  }
  for (const plot of document.querySelectorAll(".js-plotly-plot")) {
    for (const node of plot.querySelectorAll("text")) {
      const text = node.textContent.trim();
      if (text) texts.push(text);
    }
  }
  return {charts, texts};
}
"""

# Words and short phrases that are the same in both languages (names, units, formats).
ALLOWED = {
    "Email", "SMS", "API", "CSV", "Excel", "RFM", "TGI", "ID", "IP", "URL", "JSON",
    "OpenAPI", "Jaccard", "UTC", "A/B", "A", "B", "p", "TOTP", "HTML", "WeChat", "WeCom", "CLV",
    "Django", "Celery", "Redis", "PostgreSQL", "SQLite", "UpSet", "Swagger", "N/A", "PDF",
}  # fmt: skip
ENGLISH_PHRASE = re.compile(r"\b[A-Za-z]{2,}(?:[ -][A-Za-z]{2,}){1,}\b")
LOOKS_LIKE_DATA = re.compile(r"[@/:.]|\d{3,}")  # emails, URLs, times, codes


@cache
def catalogue() -> dict[str, str]:
    """Return the Simplified Chinese catalogue: English msgid → translation."""
    with translation.override("zh-hans"):
        messages = trans_real.translation("zh-hans")._catalog  # the merged catalogue
        return {key: value for key, value in messages.items() if isinstance(key, str) and value}


@cache
def raw_enums() -> frozenset[str]:
    """Return the stored values of every model field's choices whose label differs."""
    values = set()
    for model in apps.get_models():
        for field in model._meta.get_fields():
            for value, label in getattr(field, "flatchoices", None) or ():
                if isinstance(value, str) and value and str(label) != value:
                    values.add(value)
    return frozenset(values - ALLOWED)


PROJECT_APPS = ("profiles", "segments", "campaigns", "journeys", "predictions", "flows")


def data_strings() -> list[str]:
    """Return the stored names, slugs and other free texts of the project's rows (what operators
    and the data wrote, in whatever language), longest first."""
    from django.db import models

    values = set()
    for model in apps.get_models():
        if model._meta.app_label not in PROJECT_APPS:
            continue
        for field in model._meta.concrete_fields:
            if isinstance(field, models.CharField | models.SlugField) and not field.choices:
                rows = model.objects.values_list(field.attname, flat=True).distinct()[:2000]
                values.update(str(value) for value in rows if value and len(str(value)) > 1)
    return sorted(values, key=len, reverse=True)


def without_data(text: str, data: list[str]) -> str:
    """Return ``text`` with every stored value in it blanked out."""
    for value in data:
        if value in text:
            text = text.replace(value, " ")
    return text


def text_problems(texts: list[str], data: list[str]) -> list[str]:
    """Return the texts of a Chinese page that a Chinese reader should not see (stored values
    such as names and slugs aside)."""
    messages, enums, problems = catalogue(), raw_enums(), []
    for shown in dict.fromkeys(texts):
        text = without_data(shown, data).strip(" ·,;:()|/")
        if not text or text in ALLOWED:
            continue
        if text in messages and messages[text] != text:
            problems.append(f"untranslated {text!r} (msgid of {messages[text]!r})")
        elif text in enums:
            problems.append(f"raw value {text!r}")
        elif (
            (match := ENGLISH_PHRASE.search(text))
            and not LOOKS_LIKE_DATA.search(text)
            and match.group(0) not in ALLOWED
        ):
            problems.append(f"English text {text!r}")
    return problems


def screen_problems(page, *, chinese: bool, data: list[str] = ()) -> list[str]:
    """Return what is wrong on the page as it is shown now."""
    facts = page.evaluate(PAGE_FACTS)
    problems = []
    for chart in facts["charts"]:
        if chart["width"] > chart["card"] + 1:
            width, card = round(chart["width"]), round(chart["card"])
            problems.append(f"chart {chart['id']} is {width}px wide in a {card}px card")
        for axis, span in chart["spans"]:
            if span < 1000:
                problems.append(f"chart {chart['id']}: {axis} spans {span:.0f} ms")
    if chinese:
        problems += text_problems(facts["texts"], list(data))
    return problems
