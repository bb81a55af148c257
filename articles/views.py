"""The AI tools page and the article pages: the list, a new article, the editor
(docs/rules.md, Charging for AI actions, Article limit; README, Pages).

The pages only render and save forms; static/js/ai.js calls /api/ai/<action> with the
session cookie, the CSRF token and a fresh Idempotency-Key per click, and shows the
answer as it streams, the new balance or the insufficient-tokens dialog.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from articles.actions import ACTIONS, TEXT_MAX_CHARS
from articles.forms import ArticleForm, NewArticleForm
from articles.models import Article, ArticleLimitReached, articles_this_period
from subscriptions.models import Plan
from tokens.wallet import Wallet


def action_buttons(remaining: int) -> list[dict]:
    """The four actions as the pages show them; `affordable` by their base cost (the
    least a rewrite costs), which the script refines with the text's length."""
    buttons = []
    for action in ACTIONS.values():
        buttons.append(
            {
                "name": action.name,
                "slug": action.slug,
                "url": reverse(f"articles:{action.name}"),
                "label": action.label,
                "action": action,
                "by_length": action.chars_per_token is not None,
                "affordable": remaining >= action.base_cost,
            }
        )
    return buttons


def ai_context(request: HttpRequest) -> dict:
    """What a page with AI actions needs: the buttons, the balance, and for the
    insufficient-tokens dialog the current plan and the plans' names."""
    subscription = getattr(request.user, "subscription", None)
    plans = {plan.slug: plan for plan in Plan.objects.all()}
    remaining = Wallet(request.user).balance()
    return {
        "actions": action_buttons(remaining),
        "text_max_chars": TEXT_MAX_CHARS,
        "remaining": remaining,
        "subscription": subscription,
        "current_plan": plans.get(subscription.plan_type) if subscription else None,
        # For the dialog: the 402 answer names the plan by its slug.
        "plan_names": {slug: _(plan.name) for slug, plan in plans.items()},
        # The offline engine says so on every page with AI actions (README, AI providers).
        "demo_engine": settings.AI_PROVIDER == "local",
    }


@login_required
@require_GET
def tools(request: HttpRequest) -> HttpResponse:
    return render(request, "articles/tools.html", ai_context(request))


def unreadable_form(request: HttpRequest) -> HttpResponse | None:
    """A 400 for a form body that is not UTF-8: Django would read it as Latin-1 and the
    article would keep the garbage (percent-escaped bytes become U+FFFD, which
    ArticleForm refuses)."""
    if request.method != "POST" or request.content_type != "application/x-www-form-urlencoded":
        return None
    try:
        request.body.decode("utf-8")
    except UnicodeDecodeError:
        return HttpResponseBadRequest(
            _("The form could not be read. Reload the page and try again."),
            content_type="text/plain; charset=utf-8",
        )
    return None


def own_article(request: HttpRequest, pk: int) -> Article:
    """One of the user's articles; another user's is a 404, as if it did not exist."""
    return get_object_or_404(Article, pk=pk, user=request.user)


@login_required
@require_GET
def article_list(request: HttpRequest) -> HttpResponse:
    used, limit = articles_this_period(request.user)
    articles = Article.objects.filter(user=request.user).order_by("-created_at", "-id")
    return render(
        request,
        "articles/list.html",
        {"articles": articles, "used": used, "limit": limit, "can_create": used < limit},
    )


@login_required
@require_http_methods(["GET", "POST"])
def article_new(request: HttpRequest) -> HttpResponse:
    """Counts against the plan's article limit, through the API's path
    (`create_within_limit`); past it the page says so with the numbers (402)."""
    if refused := unreadable_form(request):
        return refused
    used, limit = articles_this_period(request.user)
    form = NewArticleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            article = Article.objects.create_within_limit(request.user, **form.cleaned_data)
        except ArticleLimitReached as reached:
            used, limit = reached.used, reached.limit
        else:
            messages.success(request, _("Article created."))
            return redirect("articles:editor", pk=article.pk)
    context = {"form": form, "used": used, "limit": limit, "limit_reached": used >= limit}
    status = 402 if used >= limit else 400 if form.errors else 200
    return render(request, "articles/new.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def article_editor(request: HttpRequest, pk: int) -> HttpResponse:
    article = own_article(request, pk)
    if refused := unreadable_form(request):
        return refused
    form = ArticleForm(request.POST or None, instance=article)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Article saved."))
        return redirect("articles:editor", pk=article.pk)
    return render(
        request,
        "articles/editor.html",
        {
            **ai_context(request),
            "article": article,
            "form": form,
            # Each field with the action that writes it.
            "seo_fields": [
                (form["seo_title"], "generate-seo-title"),
                (form["meta_description"], "generate-meta-description"),
            ],
        },
        status=400 if form.errors else 200,
    )
