from django.conf import settings
from django.contrib.auth import authenticate, user_logged_in
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
from tokens.wallet import Wallet
from volx.api import ErrorSerializer


class SubscriptionSummarySerializer(serializers.Serializer):
    plan_type = serializers.CharField()
    tokens_limit = serializers.IntegerField()
    articles_limit = serializers.IntegerField()
    billing_cycle = serializers.CharField()
    is_active = serializers.BooleanField()
    auto_renew = serializers.BooleanField()
    expires_at = serializers.DateTimeField(allow_null=True)
    payment_method = serializers.CharField()


class MeSerializer(serializers.ModelSerializer):
    """The `Me` shape of the README's API section. Only full_name, avatar_url and bio can
    be written."""

    tokens_remaining = serializers.SerializerMethodField()
    subscription = SubscriptionSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "username",
            "full_name",
            "avatar_url",
            "bio",
            "role",
            "is_verified",
            "tokens_remaining",
            "subscription",
        ]
        read_only_fields = ["id", "email", "username", "role", "is_verified"]

    def get_tokens_remaining(self, user: User) -> int:
        if user.tokens_remaining is None:  # docs/rules.md, NULL is not 0: restored on first read
            user.tokens_remaining = Wallet(user).balance()
        return user.tokens_remaining


def me_payload(user: User) -> dict:
    user = User.objects.select_related("subscription").get(pk=user.pk)
    return MeSerializer(user).data


class AuthAnswerSerializer(serializers.Serializer):
    token = serializers.CharField()
    refresh = serializers.CharField()
    user = MeSerializer()


def auth_answer(user: User) -> dict:
    refresh = RefreshToken.for_user(user)
    return {"token": str(refresh.access_token), "refresh": str(refresh), "user": me_payload(user)}


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=255)
    username = serializers.CharField(
        max_length=150, validators=User._meta.get_field("username").validators
    )
    password = serializers.CharField(write_only=True, trim_whitespace=False, max_length=128)
    full_name = serializers.CharField(max_length=255, required=False, allow_blank=True)

    def validate_email(self, value: str) -> str:
        value = User.objects.normalize_email(value)
        if User.objects.filter(email=value).exists():
            raise serializers.ValidationError("A user with this e-mail already exists.")
        return value

    def validate_username(self, value: str) -> str:
        if User.objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError("A user with this username already exists.")
        return value

    def validate(self, data: dict) -> dict:
        candidate = User(
            email=data["email"], username=data["username"], full_name=data.get("full_name", "")
        )
        try:
            validate_password(data["password"], user=candidate)
        except DjangoValidationError as error:
            raise serializers.ValidationError({"password": list(error.messages)}) from error
        return data

    def create(self, data: dict) -> User:
        try:
            return User.objects.create_user(**data)
        except IntegrityError as error:  # lost a race with an identical registration
            raise serializers.ValidationError(
                {"username": ["A user with this e-mail or username already exists."]}
            ) from error


class RegisterView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes = []
    throttle_scope = "register"  # per client address: THROTTLE_REGISTER

    @extend_schema(request=RegisterSerializer, responses={201: AuthAnswerSerializer})
    def post(self, request):
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.save()
        return Response(auth_answer(user), status=status.HTTP_201_CREATED)


class LoginSerializer(serializers.Serializer):
    login = serializers.CharField(max_length=255, help_text="E-mail address or username.")
    # Bounded: every login attempt hashes what it is given.
    password = serializers.CharField(trim_whitespace=False, max_length=4096)


class LoginView(APIView):
    """Too many wrong passwords lock the account (settings AXES_*, accounts/lockout.py):
    while it is locked every login answers 429, the right password too."""

    permission_classes = [permissions.AllowAny]
    authentication_classes = []

    @extend_schema(
        request=LoginSerializer,
        responses={
            200: AuthAnswerSerializer,
            401: OpenApiResponse(ErrorSerializer, description="Wrong login or password."),
            429: OpenApiResponse(ErrorSerializer, description="Account locked for a while."),
        },
    )
    def post(self, request):
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request,
            username=serializer.validated_data["login"],
            password=serializer.validated_data["password"],
        )
        if getattr(request, "axes_locked_out", False):  # set by django-axes on this request
            minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
            error = f"Too many failed logins: the account is locked for up to {minutes} minutes."
            return Response({"error": error}, status=status.HTTP_429_TOO_MANY_REQUESTS)
        if user is None:
            return Response({"error": "Invalid login or password."}, status=401)
        # What django.contrib.auth.login() announces for a session: the lockout forgets
        # the earlier failures, last_login is recorded.
        user_logged_in.send(sender=type(user), request=request, user=user)
        return Response(auth_answer(user))


class RefreshView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes = []

    @extend_schema(
        request=TokenRefreshSerializer,
        responses={200: inline_serializer("RefreshAnswer", {"token": serializers.CharField()})},
    )
    def post(self, request):
        serializer = TokenRefreshSerializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except TokenError as error:
            return Response({"error": str(error)}, status=401)
        except User.DoesNotExist:  # simplejwt looks the token's user up and lets this out
            return Response({"error": "The token's user no longer exists."}, status=401)
        answer = {"token": serializer.validated_data["access"]}
        if "refresh" in serializer.validated_data:  # only when rotation is turned on
            answer["refresh"] = serializer.validated_data["refresh"]
        return Response(answer)


class MeView(generics.RetrieveUpdateAPIView):
    serializer_class = MeSerializer
    http_method_names = ["get", "patch", "options"]

    def get_object(self) -> User:
        return User.objects.select_related("subscription").get(pk=self.request.user.pk)
