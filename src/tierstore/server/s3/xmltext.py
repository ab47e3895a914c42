"""Text as it may stand between XML tags in the gateway's answers, and the URL encoding of names
that ``encoding-type=url`` asks for.

``&``, ``<`` and ``>`` become entities; a carriage return becomes ``&#13;`` (a parser would turn a
raw one into a line feed, changing the key). Characters XML 1.0 has no place for (the C0 controls
other than tab and line feed, U+FFFE and U+FFFF) are written as character references, as S3
does: a key holding one is still listed, and strict parsers that refuse the reference are why
S3 clients ask for ``encoding-type=url`` (botocore always does), which leaves such characters
percent-encoded instead.

Almost no key needs any of this, so a single regular-expression search decides; only a name
that needs escaping pays for the character-by-character pass.
"""

from __future__ import annotations

import re
from urllib.parse import quote

_NEEDS_ESCAPE = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ENTITIES = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;"}
_REFERENCES = {
    code: f"&#{code};" for code in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0D, 0x20), 0xFFFE, 0xFFFF)
}
_TABLE = {**_ENTITIES, **_REFERENCES}


def escape_text(text: str) -> str:
    """``text`` ready to stand between two tags."""
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return text.translate(_TABLE)


def url_encode(name: str) -> str:
    """A key or prefix as ``encoding-type=url`` answers carry it: UTF-8, percent-encoded except
    for letters, digits, ``-_.~`` and ``/``. A space is ``%20`` and a plus ``%2B``, so decoders
    that read ``+`` as a space (botocore's) and those that do not agree on every name."""
    return quote(name, safe="/")
