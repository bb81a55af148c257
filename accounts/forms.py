from django import forms
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError

from accounts import flows
from accounts.api import RegisterSerializer
from accounts.models import User, time_zone_choices

# RegisterSerializer's own messages, so that the page shows them in the user's language.
SERIALIZER_MESSAGES = [
    gettext_noop("A user with this e-mail already exists."),
    gettext_noop("A user with this username already exists."),
    gettext_noop("A user with this e-mail or username already exists."),
]


class LoginForm(AuthenticationForm):
    """Django's login form (fields `username` and `password`); the `username` field takes
    an e-mail address too (accounts.backends.EmailOrUsernameBackend)."""

    username = forms.CharField(
        label=_("E-mail or username"),
        max_length=255,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    error_messages = {
        "invalid_login": _("The e-mail or username and the password do not match."),
        "inactive": _("This account is inactive."),
    }


class RegisterForm(forms.Form):
    """The page twin of POST /api/auth/register: the same rules (RegisterSerializer's),
    the same single transaction (User.objects.create_user)."""

    email = forms.EmailField(
        label=_("E-mail"),
        max_length=255,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        help_text=_("Letters, digits and @/./+/-/_ only."),
        widget=forms.TextInput(attrs={"autocomplete": "username"}),
    )
    full_name = forms.CharField(
        label=_("Full name"),
        max_length=255,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        max_length=128,
        help_text=_("At least 8 characters, not only digits, not a common password."),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        self.serializer = RegisterSerializer(data=data)
        if not self.serializer.is_valid():
            self._add_serializer_errors(self.serializer.errors)
        return data

    def save(self) -> User | None:
        """The new user, or None (with the form's errors set) if one with the same
        e-mail or username was registered meanwhile."""
        try:
            return self.serializer.save()
        except ValidationError as error:
            self._add_serializer_errors(error.detail)
            return None

    def _add_serializer_errors(self, errors: dict) -> None:
        for field, messages in errors.items():
            for message in messages:
                self.add_error(field if field in self.fields else None, gettext(str(message)))


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Django's form (it finds the active users with this address and a usable password),
    sending Volx's e-mail: in the user's language, after the commit, off the request."""

    email = forms.EmailField(
        label=_("E-mail"),
        max_length=255,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )

    def save(self, **ignored) -> None:
        for user in self.get_users(self.cleaned_data["email"]):
            flows.send_password_reset(user)


class ProfileForm(forms.ModelForm):
    avatar_url = forms.URLField(
        label=_("Avatar URL"),
        max_length=500,
        required=False,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://"}),
    )

    class Meta:
        model = User
        fields = ["full_name", "avatar_url", "bio"]
        labels = {"full_name": _("Full name"), "bio": _("Bio")}
        widgets = {
            "full_name": forms.TextInput(attrs={"autocomplete": "name"}),
            "bio": forms.Textarea(attrs={"rows": 4}),
        }


class PreferencesForm(forms.ModelForm):
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=time_zone_choices)

    class Meta:
        model = User
        fields = ["language", "time_zone"]
        labels = {"language": _("Language")}
        help_texts = {"language": _("Of your pages and of the e-mails we send you.")}


class PasswordConfirmedForm(forms.Form):
    """A form that the user confirms with their password (`self.user`'s)."""

    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, user: User, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("The password is not correct."))
        return password


class EmailChangeForm(PasswordConfirmedForm):
    email = forms.EmailField(
        label=_("New e-mail"),
        max_length=255,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    field_order = ["email", "password"]

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"])
        if email == self.user.email:
            raise forms.ValidationError(_("This is already your e-mail address."))
        if User.objects.filter(email=email).exists():
            raise forms.ValidationError(gettext("A user with this e-mail already exists."))
        return email


class PasswordChangeForm(auth_forms.PasswordChangeForm):
    """Django's, without its autofocus: on the account page it is one form of several, and
    focusing it would scroll the page past the others."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["old_password"].widget.attrs.pop("autofocus", None)


class DeleteAccountForm(PasswordConfirmedForm):
    """The account's deletion, confirmed with the password."""
