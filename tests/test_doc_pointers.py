"""Every "docs/<file>.md#<anchor>" that a module of mtrl_bench/ or analysis/ points to exists (GitHub's anchors)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POINTER = re.compile(r"docs/([\w./-]+\.md)(?:#([\w-]+))?")


def _anchors(doc: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown file (lower case, punctuation dropped, spaces to dashes)."""
    anchors, in_code = set(), False
    for line in doc.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            text = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return anchors


def test_module_doc_pointers_resolve():
    missing = []
    for source in sorted([*ROOT.glob("mtrl_bench/**/*.py"), *ROOT.glob("analysis/**/*.py")]):
        for name, anchor in POINTER.findall(source.read_text()):
            doc = ROOT / "docs" / name
            if not doc.is_file() or (anchor and anchor not in _anchors(doc)):
                missing.append(f"{source.relative_to(ROOT)}: docs/{name}#{anchor}")
    assert not missing, "pointers to docs that do not exist: " + "; ".join(missing)
