"""Forms for signup, agencies, members, invitations and clients."""

from __future__ import annotations

import zoneinfo
from typing import Any, cast

from allauth.account.forms import SignupForm
from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from clients.models import Agency, Client, Invitation, InvitationRole, Role, User

LOGO_MAX_BYTES = 1024 * 1024


class AgencySignupForm(SignupForm):  # type: ignore[misc]
    """allauth's signup plus the agency name; invited people join the inviting agency."""

    agency_name = forms.CharField(
        label="Agency name",
        max_length=120,
        required=False,
        help_text="Your agency's workspace. You can rename it later.",
    )

    def __init__(self, *args: Any, invitation: Invitation | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invitation = invitation
        if invitation is not None:
            del self.fields["agency_name"]
            self.fields["email"].initial = invitation.email
            self.fields["email"].help_text = "The address the invitation was sent to."
        else:
            self.fields["agency_name"].required = True
            self.fields["agency_name"].error_messages["required"] = "Name your agency."
            self.order_fields(["agency_name", "email", "password1", "password2"])

    def clean_email(self) -> str:
        email: str = super().clean_email()
        if self.invitation is not None and email.lower() != self.invitation.email.lower():
            raise forms.ValidationError(
                f"This invitation is for {self.invitation.email}. Sign up with that address, "
                "or ask for an invitation to this one."
            )
        return email

    def clean_agency_name(self) -> str:
        name: str = self.cleaned_data.get("agency_name", "").strip()
        if self.invitation is None and not name:
            raise forms.ValidationError("Name your agency.")
        return name

    def signup(self, request: HttpRequest, user: User) -> None:
        """Called by allauth inside our atomic signup, after the user row exists."""
        from clients import services

        if self.invitation is not None:
            try:
                services.accept_invitation(self.invitation.token, user)
            except services.ServiceError as exc:
                # Re-raise as a validation error; the signup view rolls back.
                raise forms.ValidationError(exc.message) from exc
        else:
            services.create_agency(user, self.cleaned_data["agency_name"])


class AgencyForm(forms.ModelForm[Agency]):
    class Meta:
        model = Agency
        fields = ("name", "slug", "billing_email")
        help_texts = {"billing_email": "Where Stripe receipts and billing notices go."}


class NewAgencyForm(forms.Form):
    name = forms.CharField(label="Agency name", max_length=120)
    slug = forms.SlugField(
        label="URL name",
        max_length=50,
        required=False,
        help_text="Optional: lowercase letters, digits and hyphens. Made from the name if empty.",
    )

    def clean_slug(self) -> str:
        slug: str = self.cleaned_data.get("slug", "")
        if slug:
            try:
                Agency(name="x", slug=slug).full_clean(exclude=["name"])
            except ValidationError as exc:
                raise ValidationError(exc.message_dict.get("slug", exc.messages)) from exc
        return slug


def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class LogoInput(forms.ClearableFileInput):
    """A file input that previews the current logo through its tenancy-checked URL."""

    template_name = "clients/widgets/logo_input.html"
    preview_url = ""

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["widget"]["preview_url"] = self.preview_url
        return context


class ClientForm(forms.ModelForm[Client]):
    def __init__(self, *args: Any, logo_url: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast("LogoInput", self.fields["logo"].widget).preview_url = logo_url

    class Meta:
        model = Client
        fields = ("name", "website", "timezone", "contact_email", "notes", "logo")
        widgets = {
            "notes": forms.Textarea(attrs={"rows": 4}),
            "timezone": forms.TextInput(attrs={"list": "timezones", "autocomplete": "off"}),
            "logo": LogoInput(attrs={"accept": "image/png,image/jpeg,image/webp,image/gif"}),
        }

    def clean_logo(self) -> Any:
        logo = self.cleaned_data.get("logo")
        if logo and getattr(logo, "size", 0) > LOGO_MAX_BYTES:
            raise forms.ValidationError("The logo must be at most 1 MB.")
        return logo


class InviteForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=[c for c in InvitationRole.choices if c[0] != "viewer"])

    def __init__(self, *args: Any, can_invite_owner: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role = cast("forms.ChoiceField", self.fields["role"])
        if not can_invite_owner:
            role.choices = [(value, label) for value, label in Role.choices if value != Role.OWNER]
        self.fields["role"].initial = Role.MEMBER


class ViewerInviteForm(forms.Form):
    email = forms.EmailField(help_text="The client gets a read-only login to this client only.")


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
