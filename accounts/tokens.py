"""One-time links with a lifetime of their own: Django's password-reset token
scheme (keyed on the account's state, so a link stops working once what it was
for is done) with a salt and a lifetime per purpose (the base class reads
PASSWORD_RESET_TIMEOUT for every purpose)."""

from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.utils.crypto import constant_time_compare
from django.utils.http import base36_to_int


class LifetimeTokens(PasswordResetTokenGenerator):
    """Subclasses set `key_salt` and `lifetime_seconds()`."""

    def lifetime_seconds(self) -> int:
        raise NotImplementedError

    def check_token(self, user, token):
        if not (user and token):
            return False
        try:
            stamp = base36_to_int(token.split("-")[0])
        except ValueError:
            return False
        if not any(
            constant_time_compare(
                self._make_token_with_timestamp(user, stamp, secret), token
            )
            for secret in [self.secret, *self.secret_fallbacks]
        ):
            return False
        return self._num_seconds(self._now()) - stamp <= self.lifetime_seconds()
