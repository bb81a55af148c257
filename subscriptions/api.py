from rest_framework import generics, permissions, serializers

from subscriptions.models import Plan


class PlanSerializer(serializers.ModelSerializer):
    class Meta:
        model = Plan
        fields = [
            "slug",
            "name",
            "tokens",
            "articles_limit",
            "price_monthly",
            "price_annual",
            "currency",
            "features",
        ]


class PlanListView(generics.ListAPIView):
    """The plan catalogue, cheapest first. Public."""

    permission_classes = [permissions.AllowAny]
    serializer_class = PlanSerializer
    pagination_class = None
    queryset = Plan.objects.all()
