"""OpenAI chat completions through tokengo with the official SDK: one plain, one streamed, one
for a model nobody serves.

Usage: openai_chat.py BASE_URL MODEL; prints what the SDK parsed as one JSON object.
"""
import json
import sys

import openai
from openai import OpenAI

client = OpenAI(base_url=sys.argv[1], api_key="sk-from-app", max_retries=0)
model = sys.argv[2]
messages = [{"role": "user", "content": "Hello through tokengo"}]
plain = client.chat.completions.create(model=model, messages=messages)
pieces = []
finish = None
for chunk in client.chat.completions.create(model=model, messages=messages, stream=True):
    if chunk.choices and chunk.choices[0].delta.content:
        pieces.append(chunk.choices[0].delta.content)
    if chunk.choices and chunk.choices[0].finish_reason:
        finish = chunk.choices[0].finish_reason
try:
    client.chat.completions.create(model="nobody-serves-this", messages=messages)
    unknown = "answered"
except openai.NotFoundError as e:
    unknown = e.body.get("code") if isinstance(e.body, dict) else str(e.body)
print(json.dumps({
    "unknown": unknown,
    "plain": plain.choices[0].message.content,
    "pieces": pieces,
    "finish": finish,
}))
