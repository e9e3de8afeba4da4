"""gristmill's chat format (docs/formats.md): each message is its role's token, the content as text, and the
turn-end token; a prompt for a reply ends with the assistant's role token.

    <|system|>You are brief.<|end|><|user|>Hi!<|end|><|assistant|>Hello.<|end|>

The four tokens are special tokens that `gristmill tokenizer add-special --chat` adds to a tokenizer at new
ids (every other id stays). Content is encoded as ordinary text: a message that contains "<|end|>" gets the
characters, never the token, so no message can forge a turn. The same layout as a Jinja template
(`TEMPLATE`) goes into exported Hugging Face folders, where `apply_chat_template` gives the same ids.

`render` also says which tokens a fine-tune learns from: an assistant message's content and its turn end
(so the model learns to stop), not the role tokens nor what the other roles wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line names the chat tokens without loading the compiled encoder
    from tokenizer.core import Tokenizer

ROLES = ("system", "user", "assistant")
END = "<|end|>"
CHAT_TOKENS = [*(f"<|{role}|>" for role in ROLES), END]
TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] not in ['system', 'user', 'assistant'] -%}"
    "{{- raise_exception('unknown role: ' + message['role']) -}}"
    "{%- endif -%}"
    "{{- '<|' + message['role'] + '|>' + message['content'] + '<|end|>' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|assistant|>' -}}{%- endif -%}"
)


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class Rendered:
    ids: list[int]
    learn: list[bool]  # per id: whether a fine-tune learns to predict it (assistant content and turn ends)


class ChatFormat:
    """The chat format over one tokenizer; ValueError naming the fix when its tokens are missing."""

    def __init__(self, tokenizer: Tokenizer):
        missing = [token for token in CHAT_TOKENS if token not in tokenizer.special_ids]
        if missing:
            raise ValueError(
                f"the tokenizer has no chat tokens ({', '.join(missing)}): "
                "add them with `gristmill tokenizer add-special TOKENIZER --chat`"
            )
        self.tokenizer = tokenizer
        self.role_ids = {role: tokenizer.special_ids[f"<|{role}|>"] for role in ROLES}
        self.end_id = tokenizer.special_ids[END]

    def render(self, messages: Sequence[Message], learn_all: bool = False) -> Rendered:
        """The ids of a conversation and which of them are learned (every one with `learn_all`)."""
        contents = self.tokenizer.encode_batch([m.content for m in messages], disallowed_special=())
        ids: list[int] = []
        learn: list[bool] = []
        for message, content in zip(messages, contents, strict=True):
            learned = learn_all or message.role == "assistant"
            ids += [self.role_ids[message.role], *content, self.end_id]
            learn += [learn_all, *[learned] * len(content), learned]
        return Rendered(ids, learn)

    def prompt(self, messages: Sequence[Message]) -> list[int]:
        """The ids that ask for the assistant's next message."""
        return [*self.render(messages).ids, self.role_ids["assistant"]]
