"""Lists the models through tokengo with the official OpenAI SDK, then sends one chat to each.

Usage: openai_models.py BASE_URL; prints {"models": [...], "answered_by": {model: model}}.
"""
import json
import sys

from openai import OpenAI

client = OpenAI(base_url=sys.argv[1], api_key="sk-from-app", max_retries=0)
models = sorted(m.id for m in client.models.list())
answered = {}
for model in models:
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "which exit?"}]
    )
    answered[model] = reply.model
print(json.dumps({"models": models, "answered_by": answered}))
