"""The AI actions, what they cost, and how one is paid for (SPEC §6).

ACTIONS is the one price list: the API, the docs and the tests read it, a client never
sends a cost. An action runs as hold → provider → settle, or release when anything fails.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from accounts.models import User
from articles.providers import get_provider
from articles.providers.base import Result
from tokens.wallet import HoldClosed, Wallet

logger = logging.getLogger(__name__)

# The longest text an action accepts, in characters (after stripping surrounding
# whitespace): about 3,000 words, a long article. It bounds the provider's work and
# the rewrite cost formula below.
TEXT_MAX_CHARS = 20_000


@dataclass(frozen=True)
class Action:
    name: str  # in the URL (with dashes), in the usage history and the provider method
    base_cost: int
    # Priced by length when set: one more token per `chars_per_token` characters.
    chars_per_token: int | None = None
    max_cost: int | None = None

    @property
    def slug(self) -> str:
        return self.name.replace("_", "-")

    def cost(self, text: str) -> int:
        """Tokens charged for `text`.

        Fixed actions cost `base_cost`. Rewrite costs
        ``min(2000, 500 + ceil(len(text) / 10))`` tokens: 500 for up to 10 characters,
        600 for 1,000, 1,000 for 5,000, and the 2,000 cap from 15,000 characters on.
        """
        if self.chars_per_token is None:
            return self.base_cost
        cost = self.base_cost + math.ceil(len(text) / self.chars_per_token)
        return min(cost, self.max_cost) if self.max_cost is not None else cost

    def describe_cost(self) -> str:
        if self.chars_per_token is None:
            return f"Costs {self.base_cost} tokens."
        return (
            f"Costs {self.base_cost} + ceil(len(text) / {self.chars_per_token}) tokens, "
            f"at most {self.max_cost} (len(text) counted after stripping whitespace)."
        )


ACTIONS: dict[str, Action] = {
    action.name: action
    for action in [
        Action("generate_seo_title", base_cost=300),
        Action("generate_meta_description", base_cost=400),
        Action("rewrite", base_cost=500, chars_per_token=10, max_cost=2000),
        Action("find_image", base_cost=100),
    ]
}


@dataclass(frozen=True)
class Outcome:
    action: str
    result: Result
    tokens_used: int
    tokens_remaining: int


def perform(user: User, action: Action, text: str, *, article_id: int | None = None) -> Outcome:
    """Charge `user` for `action` on `text` and return the provider's result.

    Raises InsufficientTokens before anything runs, and the provider's errors after the
    hold has been given back. Call it outside any transaction: the hold and the settlement
    commit on their own, so no transaction (and no lock on the user's row) stays open
    while the provider works, which may take seconds.
    """
    wallet = Wallet(user)
    hold = wallet.hold(action.cost(text), action=action.name)
    try:
        answer = get_provider().run(action.name, text)
        usage = wallet.settle(hold, article_id=article_id, provider_tokens=answer.provider_tokens)
    except BaseException:  # even KeyboardInterrupt or a worker timeout: a failure is free
        _release(wallet, hold)
        raise
    # The balance this action left (what the hold took, plus any unused part returned),
    # without another query; concurrent spending of the same user may lower it further.
    remaining = hold.balance_after + hold.amount - usage.tokens_used
    return Outcome(action.name, answer.result, usage.tokens_used, remaining)


def _release(wallet: Wallet, hold) -> None:
    try:
        wallet.release(hold)
    except HoldClosed:
        pass  # settled or released already: nothing left to give back
    except Exception:
        # The caller must see the original error; the hold stays HELD for the operator.
        logger.exception("Could not release token hold %s", hold.pk)
