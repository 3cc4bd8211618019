"""OpenAI embeddings through tokengo with the official SDK: the default request (which asks for
base64) and an explicit float one.

Usage: openai_embeddings.py BASE_URL MODEL; prints what the SDK parsed as one JSON object.
"""
import json
import sys

from openai import OpenAI

client = OpenAI(base_url=sys.argv[1], api_key="sk-from-app", max_retries=0)
model = sys.argv[2]
texts = ["first text", "second text"]
default = client.embeddings.create(model=model, input=texts)
floats = client.embeddings.create(model=model, input=texts, encoding_format="float")
again = client.embeddings.create(model=model, input="first text", encoding_format="float")
print(json.dumps({
    "lengths": [len(d.embedding) for d in default.data],
    "indices": [d.index for d in default.data],
    "base64_matches_float": [d.embedding for d in default.data]
    == [d.embedding for d in floats.data],
    "deterministic": again.data[0].embedding == floats.data[0].embedding,
    "distinct": floats.data[0].embedding != floats.data[1].embedding,
}))
