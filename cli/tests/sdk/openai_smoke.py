"""Drives `tokengo serve` with the official OpenAI Python SDK: one plain and one streamed chat."""
import sys

from openai import OpenAI

client = OpenAI(base_url=sys.argv[1], api_key="sk-from-app")
plain = client.chat.completions.create(
    model="m", messages=[{"role": "user", "content": "hi"}]
)
print("plain:" + plain.choices[0].message.content)
pieces = []
for chunk in client.chat.completions.create(
    model="m", messages=[{"role": "user", "content": "hi"}], stream=True
):
    if chunk.choices and chunk.choices[0].delta.content:
        pieces.append(chunk.choices[0].delta.content)
print("stream:" + "|".join(pieces))
