from django.contrib import admin
from django.contrib.auth.models import Group

from accounts.models import User

# Admin rights come from users.role alone; Django's groups are not used.
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ["username", "email", "role", "tokens_remaining", "is_active", "created_at"]
    list_filter = ["role", "is_active"]
    search_fields = ["email", "username"]
    # The balance moves only through the wallet (bonus action, payments), never by hand.
    readonly_fields = ["tokens_remaining", "password", "last_login", "created_at", "updated_at"]
    fields = [
        "username",
        "email",
        "full_name",
        "avatar_url",
        "bio",
        "role",
        "is_active",
        "is_verified",
        "tokens_remaining",
        "password",
        "last_login",
        "created_at",
        "updated_at",
    ]
    show_full_result_count = False
