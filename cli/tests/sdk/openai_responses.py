"""OpenAI Responses through tokengo with the official SDK: one plain, one streamed.

Usage: openai_responses.py BASE_URL MODEL; prints what the SDK parsed as one JSON object.
"""
import json
import sys

from openai import OpenAI

client = OpenAI(base_url=sys.argv[1], api_key="sk-from-app", max_retries=0)
model = sys.argv[2]
plain = client.responses.create(model=model, input="Hello through tokengo")
events = []
pieces = []
completed = None
stream = client.responses.create(
    model=model,
    input=[{"role": "user", "content": [{"type": "input_text", "text": "Streamed through tokengo"}]}],
    stream=True,
)
for event in stream:
    events.append(event.type)
    if event.type == "response.output_text.delta":
        pieces.append(event.delta)
    if event.type == "response.completed":
        completed = event.response.output_text
print(json.dumps({
    "plain": plain.output_text,
    "status": plain.status,
    "events": events,
    "pieces": pieces,
    "completed": completed,
}))
