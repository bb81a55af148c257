"""The local extractive engine: limits, Unicode, and that it really restructures."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from articles.providers import get_provider
from articles.providers.local import (
    STOP_WORDS,
    VIETNAMESE_WORDS,
    LocalProvider,
    image_queries,
    key_terms,
    meta_description,
    rewrite,
    seo_title,
)
from articles.tests.factories import ARTICLE_TEXT, VIETNAMESE_TEXT


def test_it_is_the_default_provider():
    assert isinstance(get_provider(), LocalProvider)


class TestKeyTerms:
    def test_frequent_words_without_stop_words(self):
        terms = key_terms(ARTICLE_TEXT)

        assert terms[:3] == ["coffee", "grind size", "water"]
        assert not {"the", "of", "is", "and"} & set(terms)

    def test_vietnamese_multi_syllable_words(self):
        assert key_terms(VIETNAMESE_TEXT)[:2] == ["công cụ tìm kiếm", "tối ưu hóa"]

    def test_a_capital_only_at_the_start_of_a_sentence_is_dropped(self):
        assert key_terms("Coffee is good. I like coffee. Fresh coffee wins.")[0] == "coffee"

    def test_a_name_keeps_its_capital(self):
        assert key_terms("We use Django. Django is fast. Django ships.")[0] == "Django"

    def test_numbers_and_single_letters_are_not_terms(self):
        assert key_terms("2024 2024 2024 x x x garden") == ["garden"]


class TestSeoTitle:
    """Titles from the leading sentence: what an editor would write first, not a list
    of frequent words (issue 15: "Best: Running, Shoes and Beginners")."""

    @pytest.mark.parametrize(
        ("text", "title"),
        [
            # The whole first sentence when it fits, title-cased.
            (ARTICLE_TEXT, "Coffee Brewing at Home Is Easier Than Most People Think"),
            # Its first clause when the sentence is longer.
            (
                "The best running shoes for beginners are light, cushioned and grip well "
                "on every kind of road you will meet.",
                "The Best Running Shoes for Beginners Are Light",
            ),
            # Its opening, cut at a word when there is no phrase end far enough in.
            (
                "Search engine optimisation helps small businesses reach new customers.",
                "Search Engine Optimisation Helps Small Businesses Reach New",
            ),
            # Vietnamese: sentence case, cut only before a function word ("trên").
            (VIETNAMESE_TEXT, "Tối ưu hóa công cụ tìm kiếm giúp bài viết của bạn xuất hiện"),
            (
                "Giày chạy bộ tốt nhất cho người mới bắt đầu cần nhẹ, êm và bám đường tốt "
                "trên mọi loại mặt đường.",
                "Giày chạy bộ tốt nhất cho người mới bắt đầu cần nhẹ",
            ),
            # Never "đổi cách" out of "thay đổi cách"; "hơn" (a function word) is dropped.
            (
                "Thay đổi cách viết giúp bài viết dễ đọc hơn. Người đọc thích câu ngắn.",
                "Thay đổi cách viết giúp bài viết dễ đọc",
            ),
            (
                "Khách hàng quay lại nhiều hơn khi trang web tải nhanh và nội dung trả lời "
                "đúng câu hỏi họ đặt ra trên điện thoại.",
                "Khách hàng quay lại nhiều hơn khi trang web tải nhanh",
            ),
            # No function word in the first 60 characters: the whole words that fit, not
            # "… cần sớm thay…" (the 60th character is in "đổi").
            (
                "Doanh nghiệp nhỏ muốn thu hút khách hàng mới cần sớm thay đổi chiến lược "
                "tiếp thị.",
                "Doanh nghiệp nhỏ muốn thu hút khách hàng mới cần sớm",
            ),
            # A function word of two syllables is one: the cut is before "bởi vì", not
            # between its syllables before "vì".
            (
                "Khách hàng rời trang web sớm bởi vì tiêu đề dài dòng khó hiểu mơ hồ lan man.",
                "Khách hàng rời trang web sớm",
            ),
        ],
    )
    def test_titles_of_english_and_vietnamese_paragraphs(self, text, title):
        assert seo_title(text) == title
        assert len(title) <= 60

    def test_a_vietnamese_title_never_ends_inside_a_word(self):
        sentence = (
            "Người dùng điện thoại cần trang web hiển thị nhanh chóng trên màn hình nhỏ "
            "và nội dung ngắn gọn."
        )
        title = seo_title(sentence)

        rest = sentence[len(title) :].split()
        assert sentence.startswith(title)
        assert rest and rest[0] in STOP_WORDS  # the cut is before "trên"

    @pytest.mark.parametrize(
        "sentence",
        [
            # Each has no function word in its first 60 characters, and the 60th is in
            # "thông tin", "thu hút", "trí tuệ nhân tạo" (after "trí", then "tuệ").
            "Người dùng muốn trang web tải nhanh hiển thị đầy đủ thông tin sản phẩm mới nhất.",
            "Chiến lược tiếp thị trực tuyến tốt giúp doanh nghiệp thu hút khách hàng mới.",
            "Doanh nghiệp nhỏ khắp nơi muốn thử công cụ viết dùng trí tuệ nhân tạo mới nhất.",
            "Doanh nghiệp nhỏ muốn thử công cụ viết bài dùng trí tuệ nhân tạo mới nhất hiện nay.",
        ],
    )
    def test_a_vietnamese_title_never_cuts_a_listed_word(self, sentence):
        """Whatever the rule picks, the title ends between words: the text after it
        never starts with the rest of a word of VIETNAMESE_WORDS that it ends inside."""
        title = seo_title(sentence).removesuffix("…")
        rest = sentence[len(title) :].lstrip()

        assert sentence.startswith(title) and len(title) <= 60
        for word in VIETNAMESE_WORDS:
            syllables = word.split()
            for k in range(1, len(syllables)):
                head, tail = " ".join(syllables[:k]), " ".join(syllables[k:])
                assert not (title.lower().endswith(" " + head) and rest.startswith(tail)), word

    def test_a_vietnamese_sentence_with_no_phrase_end_is_shortened_whole(self):
        text = "Ngườidùng " * 12  # no function word to cut before
        assert len(seo_title(text)) <= 60

    def test_text_of_function_words_only(self):
        assert seo_title("It is what it is.") == "It Is What It Is"


class TestMetaDescription:
    def test_whole_leading_sentences_when_they_fit(self):
        assert meta_description(VIETNAMESE_TEXT) == (
            "Tối ưu hóa công cụ tìm kiếm giúp bài viết của bạn xuất hiện trên Google. Khi bạn "
            "viết nội dung chất lượng, công cụ tìm kiếm sẽ đánh giá cao trang web."
        )

    def test_the_rest_is_filled_up_to_a_word_boundary(self):
        description = meta_description(ARTICLE_TEXT)

        assert len(description) <= 160
        assert description.endswith("…")
        assert ARTICLE_TEXT.startswith(description[:-1])
        assert ARTICLE_TEXT[len(description) - 1] == " "  # cut between words

    def test_vietnamese_is_filled_up_to_a_whole_word(self):
        text = (
            "Tối ưu hóa công cụ tìm kiếm giúp bài viết của bạn xuất hiện trên Google. Khi bạn "
            "viết nội dung chất lượng, công cụ tìm kiếm sẽ đánh giá cao trang web và người "
            "đọc thay đổi thói quen."
        )

        assert meta_description(text) == (  # not "… và người…" out of "người đọc"
            "Tối ưu hóa công cụ tìm kiếm giúp bài viết của bạn xuất hiện trên Google. Khi bạn "
            "viết nội dung chất lượng, công cụ tìm kiếm sẽ đánh giá cao trang web và…"
        )

    def test_whitespace_is_normalised(self):
        assert meta_description("  Short   text.\n\n Second\tline.  ") == "Short text. Second line."


class TestRewrite:
    def test_a_leading_clause_moves_behind_the_main_clause(self):
        assert rewrite("If you use a burr grinder, the grind size stays consistent.") == (
            "The grind size stays consistent if you use a burr grinder."
        )

    def test_a_trailing_clause_moves_in_front(self):
        assert rewrite("The page loses readers, because it loads slowly.") == (
            "Because it loads slowly, the page loses readers."
        )

    def test_a_word_the_text_writes_in_lower_case_is_lowered(self):
        assert rewrite("Readers leave early, because readers hate waiting.") == (
            "Because readers hate waiting, readers leave early."
        )

    def test_a_clause_that_may_start_with_a_name_stays(self):
        """ "Google" might be a name: lower-casing it would be wrong, so nothing moves."""
        text = "Google ranks the page lower, because it loads slowly."

        assert rewrite(text) == text

    def test_a_long_sentence_is_split_at_a_conjunction(self):
        text = (
            "The grinder in our kitchen produces an even and consistent grind for the "
            "morning coffee, but the cheap blade model that we bought last year makes dust "
            "and boulders."
        )

        assert rewrite(text) == (
            "The grinder in our kitchen produces an even and consistent grind for the morning "
            "coffee. However, the cheap blade model that we bought last year makes dust and "
            "boulders."
        )

    def test_vietnamese(self):
        result = rewrite(VIETNAMESE_TEXT)

        assert "Công cụ tìm kiếm sẽ đánh giá cao trang web khi bạn viết nội dung chất lượng." in (
            result
        )
        assert "Tuy nhiên, nội dung hữu ích" in result

    def test_paragraphs_stay_and_whitespace_is_normalised(self):
        text = "First   paragraph  here.\n\n\n  Second\tparagraph here.  "

        assert rewrite(text) == "First paragraph here.\n\nSecond paragraph here."

    def test_a_heading_stays_on_its_own_line(self):
        assert rewrite("Brewing at home\nStart with fresh beans.") == (
            "Brewing at home\nStart with fresh beans."
        )

    def test_it_is_deterministic(self):
        assert rewrite(ARTICLE_TEXT) == rewrite(ARTICLE_TEXT)


class TestFindImage:
    def test_key_terms_as_queries(self):
        assert image_queries(ARTICLE_TEXT) == {
            "query": "coffee grind size water",
            "suggestions": [
                "coffee grind size",
                "coffee water",
                "coffee brewing",
                "coffee matters",
            ],
        }

    @pytest.mark.parametrize(
        ("text", "terms"),
        [
            # Nothing repeats: the words of VIETNAMESE_WORDS, not "Thay", "đổi", "cách".
            (
                "Thay đổi cách trình bày nội dung giúp người đọc hiểu nhanh hơn.",
                ["Thay đổi", "trình bày", "nội dung", "người đọc"],
            ),
            # Not "Doanh", "nghiệp", and no "Doanh thu" (revenue) among the suggestions.
            (
                "Doanh nghiệp nhỏ muốn thu hút khách hàng mới cần sớm thay đổi chiến lược "
                "tiếp thị.",
                ["Doanh nghiệp", "thu hút", "khách hàng", "thay đổi", "chiến lược"],
            ),
            # A phrase that repeats is a term; "cách" alone, once, is not.
            (
                "Muốn viết hay thì phải thay đổi cách viết. Thay đổi cách viết giúp bài viết "
                "dễ đọc hơn. Người đọc thích cách viết ngắn gọn.",
                ["thay đổi cách viết", "bài viết", "Người đọc", "ngắn gọn"],
            ),
        ],
    )
    def test_vietnamese_terms_are_whole_words(self, text, terms):
        queries = image_queries(text)

        assert key_terms(text) == terms
        assert queries["query"] == " ".join(terms[:3])
        for term in key_terms(text, limit=10):  # the query and suggestions are made of them
            assert term.lower() not in _parts_of_listed_words(text), term

    def test_vietnamese_suggestions(self):
        assert image_queries("Thay đổi cách trình bày nội dung giúp người đọc hiểu nhanh.") == {
            "query": "Thay đổi trình bày nội dung",
            "suggestions": [
                "Thay đổi trình bày",
                "Thay đổi nội dung",
                "Thay đổi người đọc",
                "Thay đổi",
            ],
        }

    def test_text_without_key_terms_still_gives_a_query(self):
        assert image_queries("It is what it is.")["query"] == "It is what it is."


def _parts_of_listed_words(text: str) -> set[str]:
    """The syllables of the words of VIETNAMESE_WORDS in `text`, and their runs short of
    the whole word: "thay" and "đổi" for "thay đổi", "trí tuệ" for "trí tuệ nhân tạo"."""
    parts = set()
    for word in VIETNAMESE_WORDS:
        if word in text.lower():
            syllables = word.split()
            for start in range(len(syllables)):
                for end in range(start + 1, len(syllables) + 1):
                    if end - start < len(syllables):
                        parts.add(" ".join(syllables[start:end]))
    return parts


@pytest.mark.parametrize("action", ["generate_seo_title", "generate_meta_description", "rewrite"])
def test_the_provider_answers_without_provider_tokens(action):
    answer = LocalProvider().run(action, ARTICLE_TEXT)

    assert answer.result and answer.provider_tokens is None


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=600).filter(lambda text: text.strip()))
def test_any_text_gets_answers_within_the_limits(text):
    title = seo_title(text)
    description = meta_description(text)

    assert 0 < len(title) <= 60
    assert 0 < len(description) <= 160
    assert isinstance(rewrite(text), str)
    assert image_queries(text)["query"]
