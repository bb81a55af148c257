from django import forms
from django.utils.translation import gettext_lazy as _

from articles.models import Article


class ArticleForm(forms.ModelForm):
    """The editor's fields; the ids are the ones the editor's script and tests use."""

    class Meta:
        model = Article
        fields = ["title", "content", "seo_title", "meta_description"]
        labels = {
            "title": _("Title"),
            "content": _("Content"),
            "seo_title": _("SEO title"),
            "meta_description": _("Meta description"),
        }
        help_texts = {
            "seo_title": _("At most 60 characters: what search results show as the link."),
            "meta_description": _("At most 160 characters: the snippet under the link."),
        }
        widgets = {
            "title": forms.TextInput(attrs={"id": "article-title"}),
            "content": forms.Textarea(attrs={"id": "article-content", "rows": 10}),
            "seo_title": forms.TextInput(attrs={"id": "seo-title"}),
            "meta_description": forms.Textarea(attrs={"id": "meta-description", "rows": 3}),
        }

    def clean(self):
        # Bytes that were not valid UTF-8 arrive as U+FFFD; kept, they would be garbage
        # for good (the API refuses them too: volx/api.py).
        data = super().clean()
        for name, value in list(data.items()):
            if isinstance(value, str) and "\ufffd" in value:
                self.add_error(name, _("This text has characters that could not be read."))
        return data


class NewArticleForm(ArticleForm):
    class Meta(ArticleForm.Meta):
        fields = ["title", "content"]
