import factory

from accounts.tests.factories import UserFactory
from articles.models import Article, ArticleCreation

# An English text with clear key terms, several sentences and clauses to move.
ARTICLE_TEXT = (
    "Coffee brewing at home is easier than most people think. The grind size of the coffee "
    "matters more than the brand, because water extracts flavour faster from fine grounds. "
    "If you use a burr grinder, the grind size stays consistent. Water temperature also "
    "matters: brewing coffee with water at 93 degrees gives the best extraction, and boiling "
    "water burns the grounds, so let the kettle rest for thirty seconds before you pour it "
    "over the coffee bed slowly and evenly."
)

VIETNAMESE_TEXT = (
    "Tối ưu hóa công cụ tìm kiếm giúp bài viết của bạn xuất hiện trên Google. Khi bạn viết "
    "nội dung chất lượng, công cụ tìm kiếm sẽ đánh giá cao trang web. Từ khóa là yếu tố quan "
    "trọng trong tối ưu hóa công cụ tìm kiếm, nhưng nội dung hữu ích cho người đọc mới là "
    "điều quyết định thứ hạng lâu dài của trang web trên kết quả tìm kiếm."
)


class ArticleFactory(factory.django.DjangoModelFactory):
    """An article written straight to the table, past the limit check (tests of the
    limit go through the API); its creation is recorded, so it counts in its period."""

    class Meta:
        model = Article
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Article {n}")
    content = ARTICLE_TEXT

    @factory.post_generation
    def creation(article, create, extracted, **kwargs):
        if create:
            ArticleCreation.record(article)
