"""The repository states its own contracts: docs link only inside it, CONTRACTS.md is complete."""

import re
from pathlib import Path

from profiles.ingest.clean import EVENT_OPTIONAL, EVENT_REQUIRED
from profiles.services.consent_import import REQUIRED_COLUMNS as CONSENT_REQUIRED

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# Documents that live outside the repository (the brief it was built from): never a reference.
OUTSIDE = re.compile(r"\bPRODUCT\.md\b|/work/|\.\./\.\./")


def test_every_relative_link_in_the_docs_points_at_a_file_in_the_repository():
    broken = []
    for doc in DOCS:
        for target in LINK.findall(doc.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a web address or an anchor in the same page
            path = (doc.parent / target.split("#")[0]).resolve()
            if not path.is_relative_to(ROOT) or not path.exists():
                broken.append(f"{doc.name}: {target}")

    assert broken == []


def test_no_doc_refers_to_a_contract_document_outside_the_repository():
    found = [
        f"{doc.name}:{number}: {line.strip()}"
        for doc in DOCS
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]

    assert found == []


def test_the_contracts_page_states_csv_formats_rule_json_api_and_settings():
    contracts = (ROOT / "docs" / "CONTRACTS.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", contracts, flags=re.MULTILINE)
    csv_section = contracts.split("## CSV files")[1].split("\n## ")[0]

    assert {"CSV files", "Segment rule JSON", "Roles and API", "Settings"} <= set(headings)
    for column in (*EVENT_REQUIRED, *EVENT_OPTIONAL, *CONSENT_REQUIRED):
        assert f"`{column}" in csv_section or f" {column}" in csv_section, column
    for name in ("profiles/", "events/", "segments/", "campaigns/", "consents/", "flows/"):
        assert f"`{name}" in contracts, name
