"""The local provider: an offline, deterministic, extractive engine (AI_PROVIDER=local).

It does not understand the text and does not pretend to. It counts words, picks
sentences and moves clauses, which is enough to develop and demonstrate Volx without a
model server, and its answers are the same for the same text (tests rely on that):

- key terms: the most frequent words that are not stop words (English and Vietnamese
  lists), and runs of two to four such words that repeat: Vietnamese words are mostly
  several syllables ("công cụ tìm kiếm"), English has compounds ("search engine"); the
  common Vietnamese ones of VIETNAMESE_WORDS count as one word, never as syllables;
- SEO title: the leading sentence's opening phrase (the sentence, its first clause, or
  its opening up to a function word), within 60 characters, never cut inside a word of
  VIETNAMESE_WORDS;
- meta description: the leading sentences that fit in 160 characters, the next one cut
  at a word boundary (never inside a word of VIETNAMESE_WORDS) to fill the rest;
- rewrite: whitespace normalised, long sentences split at a conjunction, a leading
  subordinate clause moved behind its main clause and a trailing one moved in front;
- find image: the key terms as a search query, plus a few narrower queries.

A streamed text result arrives in pieces of three words, all at once: the engine takes
milliseconds, the pieces only show the page's streaming path at work.
"""

from __future__ import annotations

import asyncio
import re
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass

from articles.providers.base import (
    DESCRIPTION_MAX,
    TITLE_MAX,
    OnDelta,
    Provider,
    ProviderAnswer,
    shorten,
)


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


def _phrase_set(phrases: str) -> frozenset[str]:
    """Comma-separated phrases of several words each."""
    return frozenset(" ".join(phrase.split()) for phrase in phrases.split(","))


ENGLISH_STOP_WORDS = _word_set(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers herself him himself his how i if
    in into is it its itself just let me more most much must my myself no nor not now of off
    on once one only or other our ours ourselves out over own same she should so some such
    than that the their theirs them themselves then there these they this those through to
    too under until up us very was we were what when where which while who whom why will
    with would yet you your yours yourself yourselves get gets got make makes made many may
    might every even ever still however use used using way ways"""
)
VIETNAMESE_STOP_WORDS = _word_set(
    """và của là các những cho với được trong một có không này để khi từ đã sẽ thì mà như
    cũng về đến rằng nên hay hoặc nhưng vì nếu theo tại bạn chúng tôi ta đó ra vào lại rất
    nhiều lên bị thế nào gì đang còn vẫn chỉ cả sự việc nhất hơn đây kia ấy mình họ nó ở
    trên dưới sau trước giữa qua bằng do nữa luôn đều mỗi rồi thật vậy"""
) | _phrase_set(
    """bởi vì, vì vậy, vì thế, do đó, cho nên, tuy nhiên, ngoài ra, hơn nữa, mặc dù, thay vì,
    trong khi, sau khi, trước khi, đôi khi, tất cả, một số, người ta, chúng ta, chúng tôi,
    có thể, không thể, như vậy, bên trong, tại sao"""
)
STOP_WORDS = ENGLISH_STOP_WORDS | VIETNAMESE_STOP_WORDS

# Vietnamese writes a word of several syllables with spaces inside ("thay đổi"), so the
# engine cannot tell where a word ends by the spaces. These common words, and the
# function words of several syllables above, are read as one word wherever they occur:
# a title is never cut inside one and a key term is never one of their syllables alone.
# It is no dictionary: a word missing here can still be cut; add it when one is.
VIETNAMESE_WORDS = _phrase_set(
    """thay đổi, nội dung, bài viết, văn bản, đoạn văn, tiêu đề, mô tả, từ khóa, trang web,
    công cụ, tìm kiếm, tối ưu, tối ưu hóa, người đọc, người dùng, khách hàng, doanh nghiệp,
    kinh doanh, sản phẩm, dịch vụ, thông tin, chất lượng, kết quả, thứ hạng, quan trọng,
    hữu ích, hiệu quả, lâu dài, xuất hiện, đánh giá, quyết định, yếu tố, vấn đề, giải pháp,
    lợi ích, giá trị, mục tiêu, chiến lược, tiếp thị, quảng cáo, thương hiệu, thị trường,
    mạng xã hội, trực tuyến, hình ảnh, câu hỏi, trả lời, trình bày, ngôn ngữ, tiếng việt,
    việt nam, thời gian, bắt đầu, phát triển, cải thiện, trải nghiệm, giao diện, ứng dụng,
    điện thoại, màn hình, máy tính, hiển thị, truy cập, liên kết, tốc độ, nhanh chóng,
    ngắn gọn, rõ ràng, dễ dàng, cách thức, phong cách, khoảng cách, thế giới, không gian,
    sự kiện, trí tuệ nhân tạo, sáng tạo, thu hút, cà phê, chạy bộ"""
) | {word for word in VIETNAMESE_STOP_WORDS if " " in word}
LONGEST_VIETNAMESE_WORD = max(len(word.split()) for word in VIETNAMESE_WORDS)

# Letters and digits (any script), with inner hyphens or apostrophes ("e-mail", "don't").
WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*")
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\s*\n\s*")
# Letters that only Vietnamese uses among the languages Volx serves.
VIETNAMESE_LETTERS = re.compile(
    r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.IGNORECASE
)
MAX_PHRASE_WORDS = 4  # counted in syllables: "công cụ tìm kiếm" is two words, four long
# What may stand before or after a word in a text split at its spaces: "(thay đổi),".
WORD_EDGE_PUNCTUATION = ".,;:!?…()[]\"'“”‘’«»–—-"
SMALL_TITLE_WORDS = _word_set("a an and as at but by for in nor of on or the to with")


class LocalProvider(Provider):
    async def answer(
        self, action: str, text: str, on_delta: OnDelta | None = None
    ) -> ProviderAnswer:
        # Counting words is CPU work of up to tens of milliseconds on a long text: done in
        # a thread, so the event loop keeps serving the other requests meanwhile.
        answer = await asyncio.to_thread(self.run, action, text)
        if on_delta is not None and isinstance(answer.result, str):
            for chunk in word_chunks(answer.result):
                on_delta(chunk)
                await asyncio.sleep(0)  # each chunk goes out before the next is made
        return answer

    def run(self, action: str, text: str) -> ProviderAnswer:
        return getattr(self, action)(text)

    def generate_seo_title(self, text: str) -> ProviderAnswer:
        return ProviderAnswer(seo_title(text))

    def generate_meta_description(self, text: str) -> ProviderAnswer:
        return ProviderAnswer(meta_description(text))

    def rewrite(self, text: str) -> ProviderAnswer:
        return ProviderAnswer(rewrite(text))

    def find_image(self, text: str) -> ProviderAnswer:
        return ProviderAnswer(image_queries(text))


# --- key terms ------------------------------------------------------------------


@dataclass
class _Term:
    key: tuple[str, ...]  # lower-case words
    count: int
    first: int  # position of the first occurrence, for stable ties
    forms: Counter  # surface forms as written, the most common one is shown

    @property
    def syllables(self) -> int:
        return sum(len(word.split()) for word in self.key)

    @property
    def score(self) -> int:
        # A phrase that repeats names a thing more precisely than any of its words.
        return self.count * self.syllables

    @property
    def shown(self) -> str:
        return self.forms.most_common(1)[0][0]  # ties: the form written first


def key_terms(text: str, limit: int = 5) -> list[str]:
    """The text's key terms, most important first, as written in the text.

    Vietnamese is counted in words, not syllables: a word of VIETNAMESE_WORDS is one
    (whole_words), and a lone syllable that is no word of the list is a term only when
    it repeats, like a phrase: it is often half of a word ("đổi", "cách").
    """
    vietnamese = is_vietnamese(text)
    terms: dict[tuple[str, ...], _Term] = {}
    position = 0

    def count(words: list[str], sentence_start: bool) -> None:
        key = tuple(word.lower() for word in words)
        term = terms.setdefault(key, _Term(key, 0, position, Counter()))
        term.count += 1
        # The capital of a sentence's first word says little: "Coffee is…" is still
        # "coffee" (but a name written only there keeps its capital).
        term.forms[" ".join(words)] += 1 if sentence_start else 2

    for sentence in split_sentences(text):
        run: list[str] = []  # the content words since the last stop word
        for index, word in enumerate(whole_words(WORD.findall(sentence))):
            position += 1
            if not _is_content_word(word):
                run = []
                continue
            run.append(word)
            for n in range(1, len(run) + 1):
                if n > 1 and len(" ".join(run[-n:]).split()) > MAX_PHRASE_WORDS:
                    break
                count(run[-n:], sentence_start=index + 1 == n)

    def is_a_term(term: _Term) -> bool:
        if term.count >= 2:
            return True
        return len(term.key) == 1 and (not vietnamese or term.syllables > 1)

    ranked = sorted(filter(is_a_term, terms.values()), key=lambda t: (-t.score, t.first))
    chosen: list[_Term] = []
    covered: set[str] = set()
    for term in ranked:
        if covered.intersection(term.key):
            continue
        chosen.append(term)
        covered.update(term.key)
        if len(chosen) == limit:
            break
    return [term.shown for term in chosen]


def _is_content_word(word: str) -> bool:
    return len(word) > 1 and not word.isdigit() and word.lower() not in STOP_WORDS


def split_sentences(text: str) -> list[str]:
    return [" ".join(s.split()) for s in SENTENCE_END.split(text.strip()) if s.strip()]


def word_chunks(text: str, words: int = 3) -> list[str]:
    """`text` in pieces of a few words each, whitespace kept: joined, they are `text`."""
    tokens = re.findall(r"\S+\s*|\s+", text)
    return ["".join(tokens[i : i + words]) for i in range(0, len(tokens), words)]


def is_vietnamese(text: str) -> bool:
    return bool(VIETNAMESE_LETTERS.search(text))


def whole_words(syllables: list[str]) -> list[str]:
    """`syllables` (a text split at its spaces) with the words of VIETNAMESE_WORDS joined
    back into one item each, the longest first: ["Thay", "đổi", "cách"] → ["Thay đổi",
    "cách"]. A punctuation mark between two syllables keeps them apart; other text is
    returned as it is."""
    words: list[str] = []
    start = 0
    while start < len(syllables):
        size = 1
        for n in range(min(LONGEST_VIETNAMESE_WORD, len(syllables) - start), 1, -1):
            candidate = " ".join(syllables[start : start + n]).lower()
            if candidate.strip(WORD_EDGE_PUNCTUATION) in VIETNAMESE_WORDS:
                size = n
                break
        words.append(" ".join(syllables[start : start + size]))
        start += size
    return words


# --- the four actions -----------------------------------------------------------


def seo_title(text: str) -> str:
    """The leading sentence's opening phrase as a title, within 60 characters.

    The first sentence says what the text is about, so the title is that sentence, or
    its first clause, or its opening cut where one phrase ends: before a function word
    ("of", "for", "của", "cho", …). Vietnamese is cut there only, or, when its opening
    has no function word, after the last whole word that fits: never inside a word of
    VIETNAMESE_WORDS ("thay đổi" has a space inside). A title never ends on a function
    word. English is title-cased, Vietnamese in sentence case.
    """
    sentence = _first_sentence(text).rstrip(SENTENCE_PUNCTUATION + ",;:– ")
    vietnamese = is_vietnamese(text)
    title = _title_phrase(sentence, vietnamese)
    if not title:  # nothing but punctuation, or one word longer than a title
        return _shorten(_first_sentence(text), TITLE_MAX)
    return _capitalise_title(title, vietnamese)


CLAUSE_BREAK = re.compile(r"\s*(?:[,;:()]|\s[–—-]\s)\s*")
MIN_TITLE_WORDS = 3


def _title_phrase(sentence: str, vietnamese: bool) -> str:
    if len(sentence) <= TITLE_MAX:
        return _without_trailing_stop_words(sentence)
    clause = CLAUSE_BREAK.split(sentence, maxsplit=1)[0]
    if len(clause) <= TITLE_MAX and len(clause.split()) >= MIN_TITLE_WORDS:
        return _without_trailing_stop_words(clause)
    words = whole_words(sentence.split())
    at_phrase_end = any_word = ""
    for end in range(1, len(words) + 1):
        candidate = " ".join(words[:end])
        if len(candidate) > TITLE_MAX:
            break
        any_word = candidate
        # A phrase ends where a function word begins the next one.
        if end < len(words) and words[end].lower().strip(",;:") in STOP_WORDS:
            at_phrase_end = candidate
    if vietnamese:
        # Any other space may be inside a word: when there is no phrase end, the whole
        # words that fit (a word of VIETNAMESE_WORDS is never cut, another one may be).
        best = at_phrase_end or any_word
    else:  # English words are whole at any space; a phrase's end still reads better
        best = at_phrase_end if len(at_phrase_end) >= TITLE_MAX // 2 else any_word
    return _without_trailing_stop_words(best.rstrip(",;:– "))


def _shorten(text: str, limit: int) -> str:
    """shorten(), but Vietnamese is cut after a whole word (see whole_words)."""
    text = " ".join(text.split())
    if len(text) <= limit or not is_vietnamese(text):
        return shorten(text, limit)
    kept = ""
    for word in whole_words(text.split()):
        longer = f"{kept} {word}".lstrip()
        if len(longer) >= limit:  # no room left for the "…"
            break
        kept = longer
    if not kept:  # one word longer than the limit
        return shorten(text, limit)
    return kept.rstrip(" ,;:-–—") + "…"


def _without_trailing_stop_words(phrase: str) -> str:
    """`phrase` without the function words it ends on, unless it is nothing else."""
    words = whole_words(phrase.split())
    while len(words) > 1 and words[-1].lower() in STOP_WORDS:
        words.pop()
    if words and words[-1].lower() in STOP_WORDS:
        return phrase.rstrip(",;:– ")  # "It is what it is": all function words
    return " ".join(words).rstrip(",;:– ")


def meta_description(text: str) -> str:
    """The leading sentences that fit in 160 characters; the next one, cut at a word
    boundary (in Vietnamese, after a whole word), fills the rest when there is room for
    a useful part of it."""
    description = ""
    for sentence in split_sentences(text):
        longer = f"{description} {sentence}".strip()
        if len(longer) <= DESCRIPTION_MAX:
            description = longer
            continue
        if DESCRIPTION_MAX - len(description) >= MIN_FILL or not description:
            description = _shorten(longer, DESCRIPTION_MAX)
        break
    return description


def image_queries(text: str) -> dict:
    """A search query for a stock photo (the top key terms) and narrower alternatives."""
    terms = key_terms(text, limit=5) or [_shorten(_first_sentence(text), TITLE_MAX)]
    query = " ".join(terms[:3])
    candidates = [f"{terms[0]} {term}" for term in terms[1:]] + terms
    suggestions: list[str] = []
    for candidate in candidates:
        if candidate != query and candidate not in suggestions:
            suggestions.append(candidate)
    return {"query": query, "suggestions": suggestions[:4]}


def rewrite(text: str) -> str:
    """The text restructured sentence by sentence; paragraphs are kept."""
    return _Rewriter(text).run()


# --- rewriting ------------------------------------------------------------------

MIN_FILL = 40  # characters: less than that of a sentence reads as a fragment
LONG_SENTENCE_WORDS = 25
MIN_PART_WORDS = 6
# Where a long sentence may be split, and how the second half then begins.
SPLIT_POINTS = [
    ("; ", ""),
    (", but ", "However, "),
    (", so ", "As a result, "),
    (", and ", ""),
    (", nhưng ", "Tuy nhiên, "),
    (", nên ", "Vì vậy, "),
    (", và ", ""),
]
LEADING_CLAUSE = re.compile(
    r"^(?P<conj>If|When|Because|Although|Though|While|Since|Once|Unless|After|Before|"
    r"Nếu|Khi|Vì|Bởi vì|Mặc dù|Trong khi|Sau khi|Trước khi) (?P<sub>[^,;]+), (?P<main>[^;]+?)"
    r"(?P<end>[.!?…]*)$"
)
TRAILING_CLAUSE = re.compile(
    r"^(?P<main>[^,;]+), (?P<conj>because|although|though|since|unless|"
    r"vì|bởi vì|mặc dù) (?P<sub>[^;]+?)(?P<end>[.!?…]*)$"
)
SENTENCE_PUNCTUATION = ".!?…"


class _Rewriter:
    def __init__(self, text: str):
        self.text = text
        # Words safe to lower-case when a clause that starts with one moves behind another:
        # common words and words the text itself writes in lower case. Any other capital
        # may be a name ("Google ranks…"), so such a clause is left where it is.
        self.common = STOP_WORDS | {word for word in WORD.findall(text) if word.islower()}

    def run(self) -> str:
        paragraphs = []
        for paragraph in re.split(r"\n\s*\n", self.text.strip()):
            lines: list[str] = []
            for sentence in split_sentences(paragraph):
                lines.extend(self.reorder_clauses(part) for part in self.split_long(sentence))
            if lines:
                paragraphs.append(_join_sentences(lines))
        return "\n\n".join(paragraphs)

    def split_long(self, sentence: str) -> list[str]:
        """A sentence of more than 25 words split in two at the conjunction nearest its
        middle (each half at least 6 words), recursively."""
        if len(sentence.split()) <= LONG_SENTENCE_WORDS:
            return [sentence]
        middle = len(sentence) / 2
        # Words are single-space separated here: counting spaces counts words, and the
        # positions make that a lookup, not a scan per candidate (texts may be 20,000 chars).
        spaces = [i for i, char in enumerate(sentence) if char == " "]
        best: tuple[float, int, int, str] | None = None
        for separator, opening in SPLIT_POINTS:
            for match in re.finditer(re.escape(separator), sentence):
                words_before = bisect_left(spaces, match.start()) + 1
                words_after = len(spaces) - bisect_left(spaces, match.end()) + 1
                if min(words_before, words_after) < MIN_PART_WORDS:
                    continue
                distance = abs(match.start() - middle)
                if best is None or distance < best[0]:
                    best = (distance, match.start(), match.end(), opening)
        if best is None:
            return [sentence]
        _, at, after, opening = best
        second = sentence[after:]
        first = sentence[:at].rstrip(",;") + "."
        if not opening:
            second = _upper_first(second)
        elif self.can_lower(second):
            second = opening + _lower_first(second)
        else:
            second = opening + second
        return self.split_long(first) + self.split_long(second)

    def reorder_clauses(self, sentence: str) -> str:
        """Move a subordinate clause to the other side of its main clause (of at least
        three words): "If X, Y." → "Y if X." and "Y, because X." → "Because X, y."."""
        if (match := LEADING_CLAUSE.match(sentence)) and len(match["main"].split()) >= 3:
            end = match["end"] or "."
            return f"{_upper_first(match['main'])} {match['conj'].lower()} {match['sub']}{end}"
        match = TRAILING_CLAUSE.match(sentence)
        if match and len(match["main"].split()) >= 3 and self.can_lower(match["main"]):
            end = match["end"] or "."
            main = _lower_first(match["main"])
            return f"{_upper_first(match['conj'])} {match['sub']}, {main}{end}"
        return sentence

    def can_lower(self, clause: str) -> bool:
        first = clause.split(" ", 1)[0]
        return first != "I" and first[1:].islower() and first.lower() in self.common


def _join_sentences(sentences: list[str]) -> str:
    """Sentences joined by spaces; a line without end punctuation (a heading, a list item)
    stays on its own line."""
    text = ""
    for sentence in sentences:
        if text:
            text += " " if text[-1] in SENTENCE_PUNCTUATION else "\n"
        text += sentence
    return text


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


# --- titles ---------------------------------------------------------------------


def _join(terms: list[str], vietnamese: bool) -> str:
    if len(terms) == 1:
        return terms[0]
    conjunction = "và" if vietnamese else "and"
    return f"{', '.join(terms[:-1])} {conjunction} {terms[-1]}"


def _capitalise_title(title: str, vietnamese: bool) -> str:
    """English title case (small words lower, words with capitals untouched); Vietnamese
    titles are written in sentence case."""
    if vietnamese:
        return _upper_first(title)
    words = title.split(" ")
    for i, word in enumerate(words):
        if word.islower() and (i == 0 or word not in SMALL_TITLE_WORDS):
            words[i] = _upper_first(word)
    return " ".join(words)


def _first_sentence(text: str) -> str:
    sentences = split_sentences(text)
    return sentences[0] if sentences else text.strip()
