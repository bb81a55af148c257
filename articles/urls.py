from django.urls import path

from articles import api, views
from articles.actions import ACTIONS

app_name = "articles"

urlpatterns = [
    path("api/articles", api.ArticleListView.as_view(), name="list"),
    path("api/articles/<int:pk>", api.ArticleDetailView.as_view(), name="detail"),
    *(
        # /api/ai/generate-seo-title → name "articles:generate_seo_title"
        path(f"api/ai/{action.slug}", api.AIActionView.as_view(ai_action=action), name=action.name)
        for action in ACTIONS.values()
    ),
    # pages
    path("tools/", views.tools, name="tools"),
    path("articles/", views.article_list, name="list-page"),
    path("articles/new/", views.article_new, name="new-page"),
    path("articles/<int:pk>/", views.article_editor, name="editor"),
]
