"""Input checks shared by the JSON API, the HTML forms and the upload parsers.

PostgreSQL refuses NUL in text and JSON, integer columns overflow past 2**31 - 1, and Python's
parsers raise RecursionError or csv.Error on hostile nesting and field sizes. Each of those
became a 500; these checks turn them into a 4xx that says what to fix, before anything is
written.
"""

from __future__ import annotations

import csv
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from typing_extensions import TypeAliasType

from app.errors import InvalidInput

# Row ids are INTEGER columns on both backends.
MAX_ID = 2**31 - 1
MAX_JSON_DEPTH = 32
# Python's csv default; a longer cell raises csv.Error, reported by csv_error() below.
MAX_CSV_FIELD_CHARS = csv.field_size_limit()

# C0 controls except tab, newline and carriage return; DEL; and the C1 block.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def control_character(value: str) -> str | None:
    """The first forbidden control character in `value` as U+XXXX, or None."""
    found = _CONTROL.search(value)
    return f"U+{ord(found.group()):04X}" if found else None


def check_text(value: str, what: str) -> str:
    """Refuse NUL and other control characters (tab and newlines are fine)."""
    bad = control_character(value)
    if bad:
        raise InvalidInput(f"{what} contains the control character {bad}; remove it")
    return value


def check_fields(**fields: str | list[str] | None) -> None:
    """check_text on each form field given (lists item by item), named in the message."""
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                check_text(item, f"the field {name!r}")


def check_tree(value: Any, what: str, depth: int = 0) -> None:
    """check_text on every string (keys too) of a JSON-like value, and a nesting limit."""
    if depth > MAX_JSON_DEPTH:
        raise InvalidInput(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        check_text(value, what)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(str(key), f"a key of {what}")
            check_tree(item, f"{what}.{key}", depth + 1)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_tree(item, f"{what}[{index}]", depth + 1)


def is_row_id(ref: str) -> bool:
    """True for an ASCII decimal id within the id range ('²' and '٣' are digits to str.isdigit)."""
    return ref.isascii() and ref.isdigit() and len(ref) <= 10 and 0 < int(ref) <= MAX_ID


def csv_error(exc: csv.Error, line: int, what: str) -> InvalidInput:
    if "field larger than field limit" in str(exc):
        return InvalidInput(
            f"line {line} of {what} has a field longer than {MAX_CSV_FIELD_CHARS:,} characters"
        )
    return InvalidInput(f"line {line} of {what} is not valid CSV: {exc}")


# The same rule as _CONTROL, for the OpenAPI document (ECMA-262 regex syntax).
CLEAN_TEXT_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"


def _document_clean_strings(schema: dict[str, Any]) -> None:
    """Put the no-control-characters rule into the schema of every plain string it holds."""
    if schema.get("type") == "string" and not {"pattern", "enum", "format", "const"} & set(schema):
        schema["pattern"] = CLEAN_TEXT_PATTERN
    for key in ("anyOf", "oneOf", "allOf"):
        for variant in schema.get(key, []):
            _document_clean_strings(variant)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _document_clean_strings(schema[key])
    for prop in schema.get("properties", {}).values():
        _document_clean_strings(prop)


CleanText = Annotated[str, Field(pattern=CLEAN_TEXT_PATTERN)]
# Free-form settings: any JSON whose strings and keys are clean (depth checked by CleanModel).
CleanJson = TypeAliasType(
    "CleanJson",
    "bool | int | float | CleanText | list[CleanJson] | dict[CleanText, CleanJson] | None",
)


class CleanModel(BaseModel):
    """Request bodies: no control characters in any string field, nothing nested beyond
    MAX_JSON_DEPTH. Keys the model does not declare are ignored, as pydantic ignores them."""

    model_config = ConfigDict(allow_inf_nan=False, json_schema_extra=_document_clean_strings)

    @model_validator(mode="before")
    @classmethod
    def _clean_strings(cls, data: Any) -> Any:
        try:
            if isinstance(data, dict):
                for name in cls.model_fields.keys() & data.keys():
                    check_tree(data[name], f"the field {name!r}")
            else:
                check_tree(data, "the body")
        except InvalidInput as exc:
            raise ValueError(exc.message) from None
        return data
