from django.conf import settings
from django.contrib.auth import authenticate, user_logged_in
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import translation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, permissions, serializers, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from accounts import export, flows
from accounts.models import User, supported_language
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
        """The new user, speaking the request's language (the page's, or the API
        client's Accept-Language), with the verification e-mail queued."""
        try:
            with transaction.atomic():
                user = User.objects.create_user(
                    **data, language=supported_language(translation.get_language())
                )
                flows.send_verification(user, welcome=True)
        except IntegrityError as error:  # lost a race with an identical registration
            raise serializers.ValidationError(
                {"username": ["A user with this e-mail or username already exists."]}
            ) from error
        return user


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


class RevocableTokenRefreshSerializer(TokenRefreshSerializer):
    """simplejwt's refresh, refusing a token issued before the user's password last
    changed (or the account was deleted).

    SIMPLE_JWT["CHECK_REVOKE_TOKEN"] puts a digest of the password hash in every token and
    JWTAuthentication refuses an access token whose digest is stale, but simplejwt's
    refresh does not look at it: it would mint access tokens that fail on first use."""

    def validate(self, attrs: dict) -> dict:
        refresh = self.token_class(attrs["refresh"])
        user = User.objects.filter(pk=refresh.payload.get(jwt_settings.USER_ID_CLAIM)).first()
        if user is None:
            raise TokenError("The token's user no longer exists.")
        stamp = refresh.payload.get(jwt_settings.REVOKE_TOKEN_CLAIM)
        if stamp != get_md5_hash_password(user.password):
            raise TokenError("The password was changed since this token was issued.")
        return super().validate(attrs)


class RefreshView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes = []

    @extend_schema(
        request=TokenRefreshSerializer,
        responses={
            200: inline_serializer("RefreshAnswer", {"token": serializers.CharField()}),
            401: OpenApiResponse(
                ErrorSerializer, description="Invalid, expired or revoked refresh token."
            ),
        },
    )
    def post(self, request):
        serializer = RevocableTokenRefreshSerializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except TokenError as error:
            return Response({"error": str(error)}, status=401)
        except AuthenticationFailed as error:  # an inactive (deleted) user
            return Response({"error": str(error.detail)}, status=401)
        answer = {"token": serializer.validated_data["access"]}
        if "refresh" in serializer.validated_data:  # only when rotation is turned on
            answer["refresh"] = serializer.validated_data["refresh"]
        return Response(answer)


class PasswordSerializer(serializers.Serializer):
    password = serializers.CharField(trim_whitespace=False, max_length=4096)

    def validate_password(self, password: str) -> str:
        if not self.context["user"].check_password(password):
            raise serializers.ValidationError("The password is not correct.")
        return password


class MeView(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = MeSerializer
    http_method_names = ["get", "patch", "delete", "options"]

    def get_object(self) -> User:
        return User.objects.select_related("subscription").get(pk=self.request.user.pk)

    @extend_schema(
        summary="Delete your account",
        description=(
            "Erases the personal data (e-mail, username, name, bio, avatar, articles) and "
            "deactivates the user: every token and session stops working. Payments, the "
            "token ledger and the usage history are kept under the anonymous user."
        ),
        request=PasswordSerializer,
        responses={204: None, 400: ErrorSerializer, 401: ErrorSerializer},
    )
    def delete(self, request, *args, **kwargs):
        serializer = PasswordSerializer(data=request.data, context={"user": request.user})
        serializer.is_valid(raise_exception=True)
        request.user.erase()
        return Response(status=status.HTTP_204_NO_CONTENT)


class ExportView(APIView):
    @extend_schema(
        summary="Everything Volx holds about you",
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        return Response(
            export.export(request.user),
            headers={"Content-Disposition": 'attachment; filename="volx-account.json"'},
        )


# --- password reset and change ------------------------------------------------------

RESET_SENT = "If an account has this address, a link to reset its password is on its way."
RESET_LINK_INVALID = "This reset link is invalid, has expired or has already been used."


class PasswordResetRequestSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=255)


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class PasswordResetRequestView(APIView):
    """The same answer, in about the same time, whether or not the address has an
    account: the e-mail is rendered and sent after the answer (accounts/emails.py)."""

    permission_classes = [permissions.AllowAny]
    authentication_classes = []
    throttle_scope = "password_reset"  # per client address: THROTTLE_PASSWORD_RESET

    @extend_schema(
        summary="E-mail a password reset link",
        request=PasswordResetRequestSerializer,
        responses={202: DetailSerializer, 400: ErrorSerializer, 429: ErrorSerializer},
    )
    def post(self, request):
        from accounts.forms import PasswordResetForm  # forms import this module

        serializer = PasswordResetRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        form = PasswordResetForm(serializer.validated_data)
        if form.is_valid():
            form.save()
        return Response({"detail": RESET_SENT}, status=status.HTTP_202_ACCEPTED)


class NewPasswordMixin:
    def check_new_password(self, password: str, user: User) -> str:
        try:
            validate_password(password, user=user)
        except DjangoValidationError as error:
            raise serializers.ValidationError({"password": list(error.messages)}) from error
        return password


class PasswordResetConfirmSerializer(NewPasswordMixin, serializers.Serializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)
    password = serializers.CharField(trim_whitespace=False, max_length=128)

    def validate(self, data: dict) -> dict:
        from django.contrib.auth.tokens import default_token_generator
        from django.utils.http import urlsafe_base64_decode

        try:
            pk = int(urlsafe_base64_decode(data["uid"]).decode())
        except (ValueError, TypeError, UnicodeDecodeError):
            pk = None
        user = User.objects.filter(pk=pk, is_active=True).first() if pk else None
        if user is None or not default_token_generator.check_token(user, data["token"]):
            raise serializers.ValidationError(RESET_LINK_INVALID)
        self.check_new_password(data["password"], user)
        data["user"] = user
        return data


class PasswordResetConfirmView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes = []
    throttle_scope = "password_reset"

    @extend_schema(
        summary="Set a new password with the e-mailed link's uid and token",
        description=(
            "The link works once. Every session and every token issued before it stops "
            "working, and the account's login lockout ends."
        ),
        request=PasswordResetConfirmSerializer,
        responses={200: DetailSerializer, 400: ErrorSerializer},
    )
    def post(self, request):
        serializer = PasswordResetConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        user.set_password(serializer.validated_data["password"])
        user.save(update_fields=["password", "updated_at"])
        flows.password_was_reset(user)
        return Response({"detail": "Your password is changed. Log in with the new one."})


class PasswordChangeSerializer(NewPasswordMixin, serializers.Serializer):
    old_password = serializers.CharField(trim_whitespace=False, max_length=4096)
    new_password = serializers.CharField(trim_whitespace=False, max_length=128)

    def validate_old_password(self, password: str) -> str:
        if not self.context["user"].check_password(password):
            raise serializers.ValidationError("The password is not correct.")
        return password

    def validate_new_password(self, password: str) -> str:
        return self.check_new_password(password, self.context["user"])


class PasswordChangeView(APIView):
    @extend_schema(
        summary="Change your password",
        description=(
            "Every other session and every token issued before stops working; the answer "
            "carries new tokens."
        ),
        request=PasswordChangeSerializer,
        responses={200: AuthAnswerSerializer, 400: ErrorSerializer, 401: ErrorSerializer},
    )
    def post(self, request):
        user = request.user
        serializer = PasswordChangeSerializer(data=request.data, context={"user": user})
        serializer.is_valid(raise_exception=True)
        user.set_password(serializer.validated_data["new_password"])
        user.save(update_fields=["password", "updated_at"])
        return Response(auth_answer(user))


# --- e-mail verification ---------------------------------------------------------

VERIFY_LINK_INVALID = "This verification link is invalid or has already been used."


class VerifyEmailSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=128)


class VerifiedSerializer(serializers.Serializer):
    email = serializers.EmailField()
    is_verified = serializers.BooleanField()


class VerifyEmailView(APIView):
    """Open to anybody: the token is the proof, and a link may be opened signed out."""

    permission_classes = [permissions.AllowAny]
    authentication_classes = []

    @extend_schema(
        summary="Verify an e-mail address with the e-mailed link's token",
        request=VerifyEmailSerializer,
        responses={200: VerifiedSerializer, 400: ErrorSerializer},
    )
    def post(self, request):
        serializer = VerifyEmailSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = User.verify_email(serializer.validated_data["token"])
        if user is None:
            return Response({"error": VERIFY_LINK_INVALID}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"email": user.email, "is_verified": user.is_verified})


class ResendVerificationView(APIView):
    throttle_scope = "verify_email"  # per user: THROTTLE_VERIFY_EMAIL

    @extend_schema(
        summary="E-mail a new verification link",
        description="For a pending e-mail change, to the new address.",
        request=None,
        responses={202: DetailSerializer, 401: ErrorSerializer, 409: ErrorSerializer},
    )
    def post(self, request):
        user = request.user
        if user.pending_email:
            flows.request_email_change(user, user.pending_email)
        elif user.is_verified:
            return Response(
                {"error": "Your e-mail address is already verified."},
                status=status.HTTP_409_CONFLICT,
            )
        else:
            flows.send_verification(user)
        return Response({"detail": "A new verification link is on its way."}, status=202)
