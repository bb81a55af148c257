from django.conf import settings
from django.core.checks import Error, register

from articles.providers import PROVIDERS


@register()
def check_ai_provider(app_configs, **kwargs) -> list[Error]:
    """A mistyped AI_PROVIDER fails at start-up, not on the first user's paid request."""
    if settings.AI_PROVIDER in PROVIDERS:
        return []
    return [
        Error(
            f"AI_PROVIDER is {settings.AI_PROVIDER!r}.",
            hint=f"Set it to one of: {', '.join(PROVIDERS)}.",
            id="articles.E001",
        )
    ]
