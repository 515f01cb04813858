import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils import timezone

# Random characters of a key kept in clear after its "pk_live_": enough to find it by index.
PREFIX_RANDOM_CHARS = 8
# last_used_at is a hint for people, so it is written at most this often per key.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ParleyUserManager(BaseUserManager["User"]):
    """People sign in with their email address; there are no separate usernames."""

    def create_user(self, email: str, password: str | None = None, **extra: object) -> "User":
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> "User":
        return self.create_user(email, password, is_staff=True, is_superuser=True, **extra)


class User(AbstractUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    username = None  # type: ignore[assignment]
    email = models.EmailField("email address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    objects = ParleyUserManager()  # type: ignore[assignment,misc]

    def __str__(self) -> str:
        return self.email


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


WRITER_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.MEMBER})


class Membership(models.Model):
    team = models.ForeignKey(Team, models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="membership_unique_team_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    @property
    def can_write(self) -> bool:
        return self.role in WRITER_ROLES


class ApiKeyScope(models.TextChoices):
    READ_WRITE = "read_write", "Read and write"
    READ_ONLY = "read_only", "Read only"


class ApiKey(models.Model):
    team = models.ForeignKey(Team, models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    # The start of the key: shown so people can tell keys apart, and the index keys are found by.
    prefix = models.CharField(max_length=20, db_index=True)
    # HMAC-SHA256 of the whole key; the key itself is never stored.
    digest = models.CharField(max_length=64, unique=True)
    scope = models.CharField(
        max_length=10, choices=ApiKeyScope.choices, default=ApiKeyScope.READ_WRITE
    )
    created_by = models.ForeignKey(User, models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"

    @staticmethod
    def prefix_of(secret: str) -> str:
        return secret[: len(settings.API_KEY_PREFIX) + PREFIX_RANDOM_CHARS]

    @property
    def can_write(self) -> bool:
        return self.scope == ApiKeyScope.READ_WRITE

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def last_used_is_stale(self, now: datetime) -> bool:
        return self.last_used_at is None or now - self.last_used_at >= LAST_USED_RESOLUTION


class Invitation(models.Model):
    """A link that lets whoever opens it join a team once, with a role, until it expires."""

    team = models.ForeignKey(Team, models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    # A note for the team of whom the link was meant for; anyone holding the link can use it.
    email = models.EmailField(blank=True)
    # HMAC-SHA256 of the token in the link; the token itself is never stored.
    digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(User, models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_by = models.ForeignKey(User, models.SET_NULL, null=True, blank=True, related_name="+")
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The Team page: a team's invitations still waiting to be used.
            models.Index(
                fields=["team", "expires_at"],
                name="invitation_team_pending",
                condition=models.Q(accepted_at=None, revoked_at=None),
            ),
        ]

    def __str__(self) -> str:
        return f"Invitation to {self.team} as {self.role}"

    def unusable_because(self, now: datetime) -> str | None:
        """Why the link no longer works, in words for the person holding it; None if it does."""
        if self.revoked_at is not None:
            return "was revoked by an admin of the team"
        if self.accepted_at is not None:
            return "has already been used"
        if self.expires_at <= now:
            return "has expired"
        return None
