"""The local extractive engine: limits, Unicode, and that it really restructures."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from articles.providers import get_provider
from articles.providers.local import (
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
    def test_english_title_case_within_60(self):
        assert seo_title(ARTICLE_TEXT) == "Coffee: Grind Size, Water and Brewing"

    def test_vietnamese_sentence_case(self):
        assert seo_title(VIETNAMESE_TEXT) == "Công cụ tìm kiếm: tối ưu hóa, nội dung và trang web"

    def test_fewer_terms_when_they_do_not_fit(self):
        text = (
            "Extraordinarily comprehensive documentation. " * 3
            + "Internationalisation considerations. " * 2
            + "Straightforward implementation. "
        )
        title = seo_title(text)

        assert len(title) <= 60
        assert title.startswith("Extraordinarily Comprehensive Documentation")

    def test_text_without_key_terms(self):
        assert seo_title("It is what it is.") == "It is what it is."


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

    def test_text_without_key_terms_still_gives_a_query(self):
        assert image_queries("It is what it is.")["query"] == "It is what it is."


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
