"""Writes preferences.jsonl, the walkthrough's DPO sample, from conversations.jsonl: for each conversation's
first exchange, the assistant's answer is chosen and a reply that does not help is rejected (two per
prompt, drawn with a fixed seed). The rule a model can learn from it: answer the question.

Run from this folder: python make_preferences.py
"""

import json
import random

UNHELPFUL = [
    "I don't know.",
    "Look it up yourself.",
    "That is not something I want to talk about.",
    "Why would you ask that?",
    "No.",
    "Maybe. It depends.",
    "Ask someone else.",
    "I would rather not say.",
]


def main() -> None:
    rng = random.Random(0)
    rows = []
    with open("conversations.jsonl", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if "messages" in record:
                messages = [(m["role"], m["content"]) for m in record["messages"]]
            else:
                names = {"human": "user", "gpt": "assistant", "system": "system"}
                messages = [(names[m["from"]], m["value"]) for m in record["conversations"]]
            first = next(i for i, (role, _) in enumerate(messages) if role == "assistant")
            prompt = [{"role": role, "content": text} for role, text in messages[:first]]
            for rejected in rng.sample(UNHELPFUL, 2):
                rows.append({"prompt": prompt, "chosen": messages[first][1], "rejected": rejected})
    with open("preferences.jsonl", "w", encoding="utf-8") as out:
        out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


if __name__ == "__main__":
    main()
