"""The AI actions, what they cost, and how one is paid for (docs/rules.md, Charging for AI
actions; Streaming and clients that leave).

ACTIONS is the one price list: the API, the docs and the tests read it, a client never
sends a cost. An action runs as hold → provider → settle, or release when anything fails
(`hold`, then a `Run`).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from accounts.models import User
from articles.providers import get_provider
from articles.providers.base import OnDelta, ProviderAnswer, Result
from tokens.models import TokenHold
from tokens.wallet import HoldClosed, Wallet
from volx.db import in_database, retry_on_a_new_connection, retry_transaction

logger = logging.getLogger(__name__)

# The longest text an action accepts, in characters (after stripping surrounding
# whitespace): about 3,000 words, a long article. It bounds the provider's work and
# the rewrite cost formula below.
TEXT_MAX_CHARS = 20_000


@dataclass(frozen=True)
class Action:
    name: str  # in the URL (with dashes), in the usage history and the provider method
    label: str  # what people read: the tools page, the usage history and its filter
    base_cost: int
    # Priced by length when set: one more token per `chars_per_token` characters.
    chars_per_token: int | None = None
    max_cost: int | None = None

    @property
    def streams(self) -> bool:
        """Whether it may answer as a stream: the actions whose result is text."""
        return self.name != "find_image"

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
        Action("generate_seo_title", _("SEO title"), base_cost=300),
        Action("generate_meta_description", _("Meta description"), base_cost=400),
        Action("rewrite", _("Rewrite"), base_cost=500, chars_per_token=10, max_cost=2000),
        Action("find_image", _("Find image"), base_cost=100),
    ]
}


def action_label(name: str) -> str:
    """How people read a usage row's `action`; a name not in ACTIONS (a legacy row) is
    shown as it is stored."""
    action = ACTIONS.get(name)
    return action.label if action else name


def result_text(result: Result) -> str:
    """A result as the usage history keeps it: the text, or find-image's search queries,
    the best one first, one a line."""
    if isinstance(result, dict):
        queries = [result.get("query", ""), *result.get("suggestions", [])]
        return "\n".join(query for query in queries if query)
    return result


@dataclass(frozen=True)
class Outcome:
    action: str
    result: Result
    tokens_used: int
    tokens_remaining: int
    note: str | None = None  # why nothing was charged, when nothing was

    def as_json(self) -> dict:
        """The 200 answer, and the `done` event of a stream."""
        answer = {
            "action": self.action,
            "result": self.result,
            "tokens_used": self.tokens_used,
            "tokens_remaining": self.tokens_remaining,
        }
        if self.note:
            answer["note"] = self.note
        return answer


UNCHANGED_NOTE = "The rewrite came back unchanged, so it was not charged."


def unchanged(result: Result, text: str) -> bool:
    """A rewrite that gives the text back as it was (spacing aside) did no work."""
    return isinstance(result, str) and result.split() == text.split()


def hold(user: User, action: Action, text: str) -> TokenHold:
    """Set the action's cost aside, or raise InsufficientTokens; commits on its own."""
    return Wallet(user).hold(action.cost(text), action=action.name)


class Run:
    """A held action's provider call and its settlement, as a task of its own.

    The task, not the request, decides what is charged, so that a client's leaving
    cannot be used to get results free nor make anyone pay for nothing:

    - the provider fails or times out: the hold is released (502, 504);
    - the client leaves before the provider's first chunk (or, not streamed, its answer):
      `client_left()` cancels the provider call and the hold is released;
    - from the first chunk on, the run goes on to the end and is settled even if the
      client has gone; `settled` (the Idempotency-Key record) is written with it, so a
      retry with the same key gets the whole result.

    No transaction and no row lock spans the provider call: the hold has committed
    before, the settlement commits after, each a short transaction on a database thread.
    """

    _running: set[asyncio.Task] = set()  # a task nobody awaits must not be collected

    def __init__(
        self,
        held: TokenHold,
        action: Action,
        text: str,
        *,
        article_id: int | None = None,
        on_delta: OnDelta | None = None,
        settled: Callable[[Outcome], None] | None = None,
        failed: Callable[[], None] | None = None,
    ):
        self.hold, self.action, self.text, self.article_id = held, action, text, article_id
        self.on_delta, self.settled, self.failed = on_delta, settled, failed
        self.answering = False  # the provider's first chunk or answer has arrived
        self.task = asyncio.ensure_future(self._run())
        self._running.add(self.task)
        self.task.add_done_callback(self._running.discard)

    def client_left(self) -> None:
        if not self.answering:
            self.task.cancel()

    def _delta(self, delta: str) -> None:
        self.answering = True
        self.on_delta(delta)

    async def _run(self) -> Outcome:
        try:
            answer = await get_provider().answer(
                self.action.name, self.text, self._delta if self.on_delta else None
            )
            self.answering = True
            return await in_database(self._settle, answer)
        except BaseException:  # an error, a timeout, the client gone: a failure is free
            await in_database(self._release)
            raise

    def _settle(self, answer: ProviderAnswer) -> Outcome:
        """Charge the answer. With an Idempotency-Key (`settled` stores the answer for
        it) the charge and the stored answer are one transaction: a retry with the key
        replays the answer or, if neither landed, runs the action again, charged once
        either way. Without one, the wallet's own transaction."""
        charge = retry_transaction(self._charge) if self.settled else self._charge
        return charge(answer)

    def _charge(self, answer: ProviderAnswer) -> Outcome:
        if self.action.name == "rewrite" and unchanged(answer.result, self.text):
            return self._give_back_unchanged(answer)
        wallet = Wallet(self.hold.user_id)
        usage = wallet.settle(
            self.hold,
            article_id=self.article_id,
            provider_tokens=answer.provider_tokens,
            result=result_text(answer.result),
        )
        # The balance this action left (what the hold took, plus any unused part
        # returned), without another query; the user's other spending may lower it.
        remaining = self.hold.balance_after + self.hold.amount - usage.tokens_used
        outcome = Outcome(self.action.name, answer.result, usage.tokens_used, remaining)
        if self.settled:
            self.settled(outcome)
        return outcome

    def _give_back_unchanged(self, answer: ProviderAnswer) -> Outcome:
        """A rewrite that changed nothing is not charged: the whole hold goes back (the
        wallet's release, as for a failure) and the answer says why."""
        Wallet(self.hold.user_id).release(self.hold)
        remaining = self.hold.balance_after + self.hold.amount
        outcome = Outcome(self.action.name, answer.result, 0, remaining, note=UNCHANGED_NOTE)
        if self.settled:
            self.settled(outcome)
        return outcome

    def _release(self) -> None:
        wallet = Wallet(self.hold.user_id)
        try:
            retry_on_a_new_connection(lambda: wallet.release(self.hold))
        except HoldClosed:
            pass  # settled or released already: nothing left to give back
        except Exception:
            # The caller must see the original error; the hold stays HELD for the
            # operator (release_stale_holds gives it back).
            logger.exception("Could not release token hold %s", self.hold.pk)
        if self.failed:
            self.failed()
