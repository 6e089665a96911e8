"""Personal data masking (GB/T 35273 §7.2): identity and phone numbers, shown beyond the call, are shown masked.

``mask(text)`` finds, inside free text, mainland resident identity numbers (居民身份证号, 18 characters or the old 15
digits), mobile numbers (with or without +86, in groups or not) and landline numbers with their area code, and
hides their middle: enough stays to recognise a number the reader already knows, not enough to use it.

    310101199001011234   -> 310101********1234   (first 6 and last 4)
    +86 138 1234 5678     -> +86 138 **** 5678     (first 3 and last 4; the prefix and the grouping stay)
    021-12345678          -> 021-****5678          (the area code and the last 4)

A number is one only where it stands alone: a digit (or a decimal point and a digit) right before or after it means
it is part of something longer (a case or ticket number, a time stamp, an amount) and it is left as it is.
Our own identifiers (case numbers, attachment and recording ids) are read whole first and kept, whatever digits
their random hex part happens to hold. Digits typed full width (１３８…, common with Chinese input methods) are
found too.

Where it applies: the case list and its CSV export and the 差评 follow-ups (``server.records``,
``server.followups``), the case record (``mask_case``), and every log line once ``mask_logs()`` has run. What is
stored is never changed (the record stays complete), and the live chat between the two sides of a call is not
masked: the clerk serving the matter may need the number.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# Full-width digits and signs read as their ASCII forms. One character for one, so a match's position in the
# translated text is its position in the original, whose characters are what the masked text keeps.
_NARROW = str.maketrans("０１２３４５６７８９Ｘｘ＋－（）　", "0123456789Xx+-() ")

_NUMBER = re.compile(
    # Our own identifiers are read whole and kept: a case number (RVW + the date + 12 hex digits, whose digits
    # may run on for 15 or 18 from the date), an attachment's (A + 20 hex) and a recording's (M + 16 hex).
    r"(?P<code>(?<![0-9A-Za-z])(?:RVW[0-9]{8}[0-9A-F]{12}|A[0-9A-F]{20}|M[0-9A-F]{16})(?![0-9A-Za-z]))"
    # Otherwise: not the tail of a longer number or of a decimal.
    r"|(?<![0-9])(?<![0-9]\.)"
    r"(?:"
    r"(?P<id>[1-9][0-9]{16}[0-9Xx]|[1-9][0-9]{14})"
    r"|(?P<cc>(?:\+|00)?86[- ]?)?(?P<mobile>1[3-9][0-9][- ]?[0-9]{4}[- ]?[0-9]{4})"
    # 010 and 02x are the three-digit area codes; every other one has four digits (03xx to 09xx).
    r"|\(?(?P<area>0(?:10|2[0-9]|[3-9][0-9]{2}))\)?[- ]?[0-9]{7,8}"
    r")"
    r"(?![0-9])(?!\.[0-9])"
)
_KEPT = "0123456789Xx"


def _hide(original: str, narrow: str, start: int, end: int, head: int, tail: int) -> str:
    """``original[start:end]`` with its digits starred except the first ``head`` and the last ``tail``;
    separators (spaces, hyphens, brackets) stay where they are."""
    places = [i for i in range(start, end) if narrow[i] in _KEPT]
    hidden = set(places[head : len(places) - tail])
    return "".join("*" if i in hidden else original[i] for i in range(start, end))


def mask(text: str) -> str:
    """``text`` with every identity, mobile and landline number in it masked; other text unchanged."""
    if len(text) < 10:  # shorter than any number masked here
        return text
    narrow = text.translate(_NARROW)
    out: list[str] = []
    done = 0
    for m in _NUMBER.finditer(narrow):
        out.append(text[done : m.start()])
        if m.group("code") is not None:
            out.append(text[m.start() : m.end()])
        elif m.group("id") is not None:
            out.append(_hide(text, narrow, m.start(), m.end(), 6, 4))
        elif m.group("mobile") is not None:
            out.append(text[m.start() : m.start("mobile")])  # +86, 0086 or 86, as written
            out.append(_hide(text, narrow, m.start("mobile"), m.end(), 3, 4))
        else:
            out.append(_hide(text, narrow, m.start(), m.end(), len(m.group("area")), 4))
        done = m.end()
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def mask_json(value: Any) -> Any:
    """A copy of a JSON-like value (dicts, lists, scalars) with every string value masked; keys are kept."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: mask_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_json(v) for v in value]
    return value


def _is_identifier(key: str) -> bool:
    # Ids and digests are machine values, never typed by a person; a SHA-256 in hex may hold 11 digits in a row.
    return key.endswith("_id") or key == "sha256"


def mask_detail(detail: Any) -> Any:
    """A timeline line's ``detail`` as shown: its texts (a chat line, a note, a reason) masked, its ids kept."""
    if not isinstance(detail, dict):
        return mask_json(detail)
    return {k: v if _is_identifier(k) else mask_json(v) for k, v in detail.items()}


def mask_case(record: dict[str, Any]) -> dict[str, Any]:
    """A case record as the REST API shows it (``recordings.store.case_json``, with or without its
    ``timeline``): a copy with the free text masked (the notes, the rating's comment, each line's detail).
    The ids, codes and times are left alone: they are the record's own values, not something a person typed."""
    shown = dict(record)
    if isinstance(shown.get("notes"), str):
        shown["notes"] = mask(shown["notes"])
    rating = shown.get("rating")
    if isinstance(rating, dict) and isinstance(rating.get("comment"), str):
        shown["rating"] = {**rating, "comment": mask(rating["comment"])}
    if isinstance(shown.get("timeline"), list):
        shown["timeline"] = [
            {**line, "detail": mask_detail(line.get("detail"))} if isinstance(line, dict) else line
            for line in shown["timeline"]
        ]
    return shown


class MaskingFilter(logging.Filter):
    """A log filter that masks the numbers in a record's message, its traceback and its stack; it drops nothing.

    Put it on handlers, not loggers: a logger's filters do not see the records its children pass up, a handler's
    see every record it writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True  # a message that does not format: the handler reports it as it always does
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[0] is not None:
            trace = record.exc_text or logging.Formatter().formatException(record.exc_info)
            masked_trace = mask(trace)
            if masked_trace != trace:
                record.exc_text = masked_trace  # the formatter uses it instead of formatting the exception again
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


def mask_logs(logger: logging.Logger | None = None) -> None:
    """Mask every line the handlers of ``logger`` (the root logger if None) write, from any logger that
    propagates to it. A handler added later is not covered: call this after logging is configured. Twice is
    the same as once."""
    target = logger if logger is not None else logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
