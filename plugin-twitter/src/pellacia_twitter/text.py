"""The post text: what is sent, how X counts it, and how a post is recognised by it.

X counts text the twitter-text way (config v3): 280 units where most Latin,
Greek, Cyrillic and punctuation characters weigh 1 and every other code point
(CJK, emoji, ...) weighs 2, and every URL counts as 23 (it becomes a t.co
link). ``weighted_length`` follows that; emoji sequences joined with
zero-width joiners count per code point here, which only over-counts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from pellacia.contract import Platform, PublishRequest, RuleViolation
from pellacia.errors import Rejected

from pellacia_twitter.client import PLATFORM

MAX_WEIGHT = 280
URL_WEIGHT = 23
#: code point ranges of weight 1 (twitter-text config v3); everything else weighs 2
_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_URL = re.compile(r"https?://\S+", re.IGNORECASE)


def _weight(char: str) -> int:
    code = ord(char)
    return 1 if any(lo <= code <= hi for lo, hi in _LIGHT) else 2


def weighted_length(text: str) -> int:
    """X's length of ``text`` (NFC-normalised, URLs as 23)."""
    text = unicodedata.normalize("NFC", text)
    urls = _URL.findall(text)
    rest = _URL.sub("", text)
    return sum(_weight(c) for c in rest) + URL_WEIGHT * len(urls)


def text_of(request: PublishRequest) -> str:
    """The post text: ``options["text"]``, else the title then description and hashtags."""
    text = request.options.get("text")
    if not isinstance(text, str):
        parts = [request.title.strip(), request.caption.strip()]
        text = "\n\n".join(p for i, p in enumerate(parts) if p and p not in parts[:i])
    return text


def check_text(text: str) -> None:
    """``Rejected`` when X would refuse the text's length."""
    weight = weighted_length(text)
    if weight > MAX_WEIGHT:
        raise Rejected(
            f"an X post is at most {MAX_WEIGHT} characters as X counts them "
            f"(URLs 23, CJK and emoji 2); this one counts {weight}",
            platform=PLATFORM,
        )


def has_url(text: str) -> bool:
    """X prices a post with a URL higher than one without."""
    return _URL.search(text) is not None


def normalised(text: str) -> str:
    """``text`` as compared when matching a post: URLs removed (X rewrites them
    to t.co), entities unescaped, whitespace collapsed."""
    text = _URL.sub("", unicodedata.normalize("NFC", text))
    text = text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    return " ".join(text.split())


class XTextValidator:
    """``validate`` refuses an X post whose text X would count over 280."""

    name = "x-text"

    def validate(self, request: PublishRequest, platform: Platform) -> Sequence[RuleViolation]:
        if platform.name != PLATFORM:
            return ()
        weight = weighted_length(text_of(request))
        if weight <= MAX_WEIGHT:
            return ()
        return (
            RuleViolation(
                rule="max_post_chars",
                message=f"X counts this post's text as {weight} characters (URLs 23, CJK "
                f"and emoji 2); the limit is {MAX_WEIGHT}",
                platform=PLATFORM,
            ),
        )
