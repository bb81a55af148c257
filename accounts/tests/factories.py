import factory

from accounts.models import User


class UserFactory(factory.django.DjangoModelFactory):
    """A registered user: goes through User.objects.create_user, so the free subscription
    and the 10,000-token grant exist, exactly as after POST /api/auth/register."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = "Correct-Horse-42"
    full_name = factory.Faker("name")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return model_class.objects.create_user(*args, **kwargs)


class AdminFactory(UserFactory):
    role = User.Role.ADMIN
