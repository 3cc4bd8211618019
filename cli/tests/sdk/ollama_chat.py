"""Ollama's native API through tokengo with the official `ollama` package: a plain chat, a
streamed chat (Ollama's default), the model list and a chat with a model nobody serves.

Usage: ollama_chat.py HOST MODEL; prints what the package parsed as one JSON object.
"""
import json
import sys

import ollama

client = ollama.Client(host=sys.argv[1], headers={"Authorization": "Bearer sk-from-app"})
model = sys.argv[2]
messages = [{"role": "user", "content": "Hello through tokengo"}]
plain = client.chat(model=model, messages=messages, stream=False)
pieces = []
last = None
for part in client.chat(model=model, messages=messages, stream=True):
    if part.message.content:
        pieces.append(part.message.content)
    last = part
listed = client.list()
try:
    client.chat(model="nobody-serves-this", messages=messages, stream=False)
    unknown = "answered"
except ollama.ResponseError as e:
    unknown = e.status_code
print(json.dumps({
    "unknown": unknown,
    "plain": plain.message.content,
    "plain_done": plain.done,
    "pieces": pieces,
    "last_done": last.done,
    "last_reason": last.done_reason,
    "models": [m.model for m in listed.models],
}))
