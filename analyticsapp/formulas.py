"""Formula neutralisation, one rule for every writer of exports (CSV in Python and
in PostgreSQL's COPY, xlsx): what a spreadsheet would run as a formula."""

import datetime as dt
import re

# What a spreadsheet may skip before it reads a formula: every Unicode space
# (str.isspace's, no-break ones included) and the zero-width characters.
INVISIBLE_LEADERS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200E))  # spaces, zero-width ones
    + "\u2028\u2029\u202f\u205f\u2060\u3000\ufeff"
)
# A formula starts with one of these, or their fullwidth lookalikes.
FORMULA_STARTS = "=+-@\uff1d\uff0b\uff0d\uff20"
DANGEROUS_FIRST = "\t\r"  # dangerous whatever follows (OWASP)


def _class(chars: str) -> str:
    """A regex character class of these characters, as \\uXXXX escapes that
    Python's and PostgreSQL's regular expressions both read."""
    return "[" + "".join(f"\\u{ord(c):04x}" for c in chars) + "]"


# One rule for every writer: Python's below, PostgreSQL's COPY (exports._sql_cell).
FORMULA = (
    f"^({_class(INVISIBLE_LEADERS)}*{_class(FORMULA_STARTS)}|{_class(DANGEROUS_FIRST)})"
)
_FORMULA = re.compile(FORMULA)
# A plain ASCII decimal number is data, not a formula, whatever its sign. The same
# rule is written in SQL for PostgreSQL's COPY below.
NUMBER = r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?$"
_NUMBER = re.compile(NUMBER, re.ASCII)


def neutralise(value) -> str:
    """A cell as text; one a spreadsheet would run as a formula gets a leading ':
    a formula character (or its fullwidth lookalike) after any spaces and
    zero-width characters, or a leading tab or carriage return; a plain number is
    data whatever its sign."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    text = str(value)
    if _FORMULA.match(text) and not _is_number(text):
        return "'" + text
    return text


def looks_like_formula(text: str) -> bool:
    """What `neutralise` prefixes: a spreadsheet would run it as a formula."""
    return bool(_FORMULA.match(text)) and not _is_number(text)


def _is_number(text: str) -> bool:
    # fullmatch: `$` alone would also accept a number followed by a line break.
    return _NUMBER.fullmatch(text) is not None
