"""Anthropic Messages through tokengo with the official SDK: one plain, one streamed (raw
events), one through the SDK's stream helper, and one for a model nobody serves.

Usage: anthropic_messages.py BASE_URL MODEL; prints what the SDK parsed as one JSON object.
"""
import json
import sys

import anthropic

client = anthropic.Anthropic(base_url=sys.argv[1], api_key="sk-from-app", max_retries=0)
model = sys.argv[2]
messages = [{"role": "user", "content": "Hello through tokengo"}]
plain = client.messages.create(model=model, max_tokens=64, messages=messages)
events = []
pieces = []
for event in client.messages.create(model=model, max_tokens=64, messages=messages, stream=True):
    events.append(event.type)
    if event.type == "content_block_delta" and event.delta.type == "text_delta":
        pieces.append(event.delta.text)
with client.messages.stream(model=model, max_tokens=64, messages=messages) as stream:
    helper_pieces = list(stream.text_stream)
    final = stream.get_final_message()
try:
    client.messages.create(model="nobody-serves-this", max_tokens=64, messages=messages)
    unknown = "answered"
except anthropic.NotFoundError as e:
    unknown = e.status_code
print(json.dumps({
    "unknown": unknown,
    "plain": plain.content[0].text,
    "stop_reason": plain.stop_reason,
    "events": events,
    "pieces": pieces,
    "helper_pieces": helper_pieces,
    "final": final.content[0].text,
    "final_stop_reason": final.stop_reason,
}))
