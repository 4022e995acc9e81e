"""The text tokenizer: how labelport numbers tokens and sentences of a text file.

``text_token`` instances point at tokens by index (``start_token``/``end_token``) and may name
sentences, so the split must be fixed and documented. These are the rules, applied to the text
decoded as UTF-8 (a leading byte-order mark is dropped; offsets count Unicode code points of
the decoded text, i.e. Python ``str`` indices):

Tokens, scanned left to right, each the longest match of the first rule that applies:

1. A **number**: digits with inner ``.`` or ``,`` groups between digits - ``3.14``, ``1,000``,
   ``2024.06.01`` are one token each.
2. A **word**: a run of letters, digits and underscores (Python ``\\w``, Unicode-aware),
   which may contain single inner apostrophes (``'`` or the typographic U+2019) or hyphens
   between such runs - ``don't``, ``state-of-the-art``, ``naïve`` are one token each.
3. Any **other non-space character** is a token by itself: punctuation, symbols, emoji -
   ``"Hi!"`` is ``"``, ``Hi``, ``!``, ``"``.

Whitespace only separates tokens; it is never a token.

Sentences are numbered from 0. A sentence ends after a ``.``, ``!`` or ``?`` token; further
``.``/``!``/``?`` tokens and closing quotes or brackets (``"``, ``'``, ``)``, ``]``, ``}``,
U+201D, U+2019, U+00BB) written directly after it, with no space between, still belong to
the ending sentence (so ``...``, ``?!`` and ``end."`` end one sentence). A blank line (a line break,
optional spaces, another line break) also ends a sentence. The next token starts the next
sentence. Abbreviations are not special: ``Dr. Who`` is two sentences.

Each token is ``{"text", "start_char", "end_char", "sentence"}`` with ``end_char`` exclusive,
so ``text[start_char:end_char] == token["text"]``.

Examples (also the tests)::

    "Hello, world! How are you?"  -> Hello | , | world | ! | How | are | you | ?
                                     sentences 0 0 0 0 1 1 1 1
    "It's 3.14 - isn't it?"       -> It's | 3.14 | - | isn't | it | ?
"""

from __future__ import annotations

import re
from typing import TypedDict

from labelport.media.errors import TOO_LARGE, UNREADABLE, ProbeError

_TOKEN = re.compile(r"\d+(?:[.,]\d+)+|\w+(?:['\u2019-]\w+)*|[^\w\s]")
_TERMINAL = frozenset(".!?")
_CLOSERS = frozenset("\"')]}\u201d\u2019\u00bb")
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")


class Token(TypedDict):
    text: str
    start_char: int
    end_char: int
    sentence: int


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens with character offsets and sentence numbers (rules above)."""
    tokens: list[Token] = []
    sentence = 0
    ended = False  # the current sentence has seen its terminal punctuation
    previous_end = 0
    for match in _TOKEN.finditer(text):
        piece = match.group()
        gap = text[previous_end : match.start()]
        if tokens and _BLANK_LINE.search(gap):
            ended = True
        # Terminals and closers written directly after the end still belong to that sentence.
        if ended and (gap or not (piece in _TERMINAL or piece in _CLOSERS)):
            sentence += 1
            ended = False
        tokens.append(
            Token(text=piece, start_char=match.start(), end_char=match.end(), sentence=sentence)
        )
        if piece in _TERMINAL:
            ended = True
        previous_end = match.end()
    return tokens


def decode_text(data: bytes) -> str:
    """Decode UTF-8 (BOM dropped); anything else is ``media.unreadable``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProbeError(
            UNREADABLE, f"text is not valid UTF-8 (byte {exc.start}: {exc.reason})"
        ) from None
    if "\x00" in text:
        raise ProbeError(UNREADABLE, "text contains NUL characters; it looks like binary data")
    return text


def read_text_file(path: str, max_bytes: int) -> str:
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ProbeError(TOO_LARGE, f"text file is larger than the limit of {max_bytes} bytes")
    return decode_text(data)
