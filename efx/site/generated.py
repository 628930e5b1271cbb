"""Files the site build generates: the answer key as JSON and its JSON Schema.

They are added to MkDocs' file collection, so the build copies them into the site next to
the pages and the strict build accepts links to them from ``docs/answer-key.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mkdocs.structure.files import File

from efx.answer_key import build_answer_key, load_schema

ANSWER_KEY_URI = "answer-key.json"
SCHEMA_URI = "answer-key.schema.json"


def answer_key_files(
    config: Any,
    report: Mapping[str, Any] | None,
    gpu_report: Mapping[str, Any] | None,
    current_hash: str | None,
) -> list[File]:
    """Return the generated answer key and schema as MkDocs files of this build."""
    key = build_answer_key(report=report, current_hash=current_hash, gpu_report=gpu_report)
    return [
        File.generated(
            config, ANSWER_KEY_URI, content=json.dumps(key, indent=2, ensure_ascii=False) + "\n"
        ),
        File.generated(config, SCHEMA_URI, content=json.dumps(load_schema(), indent=2) + "\n"),
    ]
