"""Plain-text building blocks of the local provider: sentences, words, and word lists.

Small and deterministic on purpose: no model, no download, English word lists kept
here in the open. Other languages still get sentences and frequent words, but no
stop-word filtering or sentiment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends at . ! ? … (and any closing quotes or brackets) followed by space.
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*\s+")
_BULLET = re.compile(r"^\s*(?:[-*•·▪–]|\d{1,3}[.)])\s+")
_WORD = re.compile(r"[^\W\d_](?:[\w'’-]*\w)?")


def _listed(words: str) -> frozenset[str]:
    """A word list written as running text, one space between words."""
    return frozenset(words.split())


_ABBREVIATIONS = _listed("e.g i.e etc vs mr mrs ms dr prof sr jr st no fig approx dept inc ltd co")

STOPWORDS = _listed(
    """
    a about above after again against all almost also although always am among an and
    another any anyone anything are around as at be became because been before being
    below between both but by can cannot could did do does doing done down during each
    either else enough even ever every few for from further get gets getting give given
    go goes going got had has have having he her here hers herself him himself his how
    however i if in into is it its itself just least less let like made make makes
    many may me might more most much must my myself never no nor not now of off often
    on once one only or other others our ours ourselves out over own per perhaps quite
    rather really same she should since so some something sometimes still such than
    that the their theirs them themselves then there these they thing things this
    those though through thus to too toward towards under until up upon us very was
    way we well were what whatever when where whether which while who whom whose why
    will with within without would yet you your yours yourself yourselves able across
    etc via lot lots bit kind sort time times feel felt think thought seem seems
    """
)

POSITIVE = _listed(
    """
    good great excellent outstanding strong clear helpful supportive reliable thorough
    proactive creative insightful effective efficient organised organized responsive
    collaborative friendly kind patient positive impressive exceptional solid skilled
    talented dedicated committed careful accurate precise confident calm constructive
    generous enthusiastic engaged motivated inspiring valuable useful best excel excels
    excelled appreciate appreciated love loved enjoy enjoyed praise praised improved
    succeeded success successful well-structured consistent dependable trustworthy
    knowledgeable articulate concise fast quick timely respectful open honest
    """
)

NEGATIVE = _listed(
    """
    bad poor weak unclear confusing late slow missed missing lacks lack lacking fails
    failed failure difficult hard problem problems issue issues concern concerns
    inconsistent unreliable careless sloppy rude defensive disorganised disorganized
    dismissive frustrating frustrated worse worst struggle struggles struggled rushed
    incomplete inaccurate vague verbose hesitant nervous overwhelmed delay delays
    delayed error errors mistake mistakes conflict conflicts ignores ignored ignore
    interrupts interrupted unprepared bug bugs broken risk risks blocked blocker
    """
)

# The commonest short words of a few languages: a paragraph has enough of them to
# tell its language. Answered as ISO 639-1 codes; "und" (undetermined) otherwise.
FUNCTION_WORDS = {
    "en": _listed("the and of to is in that it for was with as on are be this by not have"),
    "de": _listed("der die und das ist nicht ein eine zu den mit von sich auf für dem des im"),
    "fr": _listed("le la les et des est une un du que pas pour dans sur au avec ce qui il"),
    "es": _listed("el la los las y de que en un una es por con para del se no al lo"),
    "it": _listed("il la di che e un una per non sono del della con gli le è nel"),
    "nl": _listed("de het een en van is dat niet op te met voor zijn er aan ook"),
    "pt": _listed("o a os as e de que em um uma é do da não para com por se"),
}
UNDETERMINED = "und"


def language_of(tokens: list[str] | tuple[str, ...]) -> str:
    """The language whose function words the tokens use most, when it is clear."""
    counts = {
        code: sum(1 for w in tokens if w in listed) for code, listed in FUNCTION_WORDS.items()
    }
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    (best, hits), (_, second) = ranked[0], ranked[1]
    if hits < 3 or hits < 1.2 * second:
        return UNDETERMINED
    return best


# Words after which, within a few words, the polarity of a word flips.
NEGATORS = _listed("not no never hardly barely rarely without cannot n't nothing")

# Phrases that mark advice or a wish for change, whatever the words' polarity.
SUGGESTION = re.compile(
    r"\b(could|should|might want|needs? to|would benefit|try to|consider|"
    r"work on|improve|improvement|more often|wish|recommend|suggest|next time|"
    r"would like|would love|hope)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Sentence:
    text: str
    source: int  # which input text it came from
    position: int  # its place in that text
    words: tuple[str, ...]  # lowercased words, in order
    content: frozenset[str]  # its words less stop words


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, with bullets dropped.

    A blank line, a bullet or a heading ends a sentence; other line breaks are taken
    for wrapping, so a sentence broken over lines stays whole.
    """
    found: list[str] = []
    for block in _blocks(text):
        found.extend(_split_line(block))
    return found


def _blocks(text: str) -> list[str]:
    """Runs of text between blank lines, bullets and headings, with wrapping undone."""
    blocks: list[str] = []
    current: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        bullet = _BULLET.match(line) is not None
        if bullet:
            line = _BULLET.sub("", line).strip()
        if not line or bullet or _is_heading(line):
            if current:
                blocks.append(" ".join(current))
            current = []
        if line and _is_heading(line):
            blocks.append(line)
        elif line:
            current.append(line)
    if current:
        blocks.append(" ".join(current))
    return blocks


def _is_heading(line: str) -> bool:
    # A short line that does not end like a sentence: a title or a section name.
    return len(line.split()) <= 8 and line[-1] not in ".!?,;:…\"'”’)" and line[0].isupper()


def _split_line(line: str) -> list[str]:
    parts: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(line):
        before = line[start : match.start()].rsplit(maxsplit=1)
        last = before[-1].lower().rstrip(".") if before else ""
        if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
            continue  # "e.g. this" or an initial: not the end of a sentence
        parts.append(line[start : match.end()].strip())
        start = match.end()
    rest = line[start:].strip()
    if rest:
        parts.append(rest)
    return parts


def words(text: str) -> list[str]:
    """Lowercased words (letters first; inner apostrophes and hyphens kept)."""
    return [w.replace("’", "'") for w in _WORD.findall(text.lower())]


def content_words(tokens: list[str] | tuple[str, ...]) -> list[str]:
    return [w for w in tokens if w not in STOPWORDS and len(w) > 2 and not w.endswith("'t")]


def sentences_of(texts: list[str]) -> list[Sentence]:
    """Every sentence of every input text, with where it came from."""
    found: list[Sentence] = []
    for source, text in enumerate(texts):
        for position, sentence in enumerate(split_sentences(text)):
            tokens = tuple(words(sentence))
            if tokens:
                found.append(
                    Sentence(sentence, source, position, tokens, frozenset(content_words(tokens)))
                )
    return found


def polarity(sentence: Sentence) -> float:
    """-1 (negative) … 1 (positive), from the word lists with simple negation."""
    score = 0
    flip_until = -1
    for index, word in enumerate(sentence.words):
        if word in NEGATORS or word.endswith("n't"):
            flip_until = index + 3
            continue
        sign = 1 if word in POSITIVE else -1 if word in NEGATIVE else 0
        score += -sign if index <= flip_until else sign
    hits = sum(1 for w in sentence.words if w in POSITIVE or w in NEGATIVE)
    return score / hits if hits else 0.0


def is_suggestion(sentence: Sentence) -> bool:
    return SUGGESTION.search(sentence.text) is not None


def tone(sentence: Sentence) -> float:
    """The sentence's polarity; advice without any counts as mildly negative."""
    value = polarity(sentence)
    if value == 0.0 and is_suggestion(sentence):
        return -0.5
    return value
