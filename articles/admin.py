from django.contrib import admin

from articles.models import Article


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ["title", "user", "status", "created_at", "updated_at"]
    list_filter = ["status"]
    search_fields = ["title", "seo_title", "user__email", "user__username"]
    fields = ["user", "title", "seo_title", "meta_description", "content", "status"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    # Articles are many; an exact count on every page load would be a full scan.
    show_full_result_count = False
