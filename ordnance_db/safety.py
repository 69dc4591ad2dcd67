"""The safety line, as a check: text that reads like a procedure or an explosive recipe is refused.

The catalog identifies items and warns; it never tells anyone how to handle, disarm, move, make or
use one. These patterns catch the usual ways such text slips in from a source. They are deliberately
broad: a false alarm costs a contributor a rephrasing, a miss could cost a life.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

FORBIDDEN: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (reason, re.compile(pattern, re.IGNORECASE))
    for reason, pattern in (
        ("render-safe procedure", r"render[- ]?safe"),
        ("defuzing", r"\bde-?fu[sz]"),
        ("disarming", r"\bdisarm"),
        ("dismantling", r"\bdismantl"),
        ("taking apart", r"\bunscrew|\btake (it|them) apart\b|\bopen(ing)? the (body|casing|fuze)"),
        ("fuze removal", r"\bremov(e|ing|al of) (the )?(fuze|detonator|booster|igniter)"),
        ("neutralising procedure", r"\bhow to (neutrali|move|lift|carry|open|handle|transport)"),
        ("procedure steps", r"\bstep \d\b|\bfirst,? (remove|turn|pull|lift)\b"),
        ("arming detail", r"\barm(s|ed|ing)? (after|within|at) \d|\barming (time|distance|delay)\b"),
        ("trigger threshold", r"\b(trigger(ing)?|activation|operating) (force|pressure|weight)\b"),
        ("trigger threshold", r"\b\d+(\.\d+)? ?(kg|kgf|n|newtons?|lbs?) (of )?(pressure|force|pull)\b"),
        ("self-destruct timing", r"self[- ]?(destruct|neutrali[sz])\w* (after|in|within|time) \d"),
        ("fuze delay", r"\b\d+(\.\d+)?[ -]?(s|sec|seconds?)\b (fuze )?delay|\bdelay of \d"),
        (
            "explosive amount",
            r"\b\d+(\.\d+)? ?(g|kg|grams?|kilograms?|lbs?|pounds?) of (explosive|tnt|rdx|hmx|petn|a-ix|comp)",
        ),
        (
            "explosive composition",
            r"\b(composition [abc]|comp[ .]?b|cyclotol|octol|torpex|tritonal|a-ix-\d"
            r"|\d+ ?% ?(tnt|rdx|hmx|aluminium))\b",
        ),
        ("making munitions", r"\bhow to (make|build|assemble|improvise|modify)\b"),
    )
)


def scan(text: str) -> list[str]:
    """The reasons `text` crosses the safety line; empty when it does not."""
    return [reason for reason, pattern in FORBIDDEN if pattern.search(text)]


def scan_data(data: Any, loc: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(location, reason) for every string in nested YAML data that crosses the line."""
    if isinstance(data, str):
        for reason in scan(data):
            yield loc, reason
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from scan_data(value, (*loc, key))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from scan_data(item, (*loc, i))
