"""The README's examples, verbatim (not a test module): test_readme.py checks that each stands in README.md, and
tests/test_readme_api.py and tests/server/test_clients.py run them."""

# -- the Python API (run against the CPU engine directory the build writes) ----------------------------------------

README_EXAMPLE = """
import asyncio

from rerankrt import Reranker

query = "Who wrote 'To Kill a Mockingbird'?"
documents = [
    "'To Kill a Mockingbird' is a novel by Harper Lee published in 1960.",
    "The novel 'Moby-Dick' was written by Herman Melville.",
    "Harper Lee was an American novelist.",
]

with Reranker.load("engines/cpu") as reranker:  # the backend the manifest names; or backend="onnxruntime"
    # Best first; score is the raw logit, normalize=True gives sigmoid(score) = P(relevant).
    for hit in reranker.rank(query, documents, top_k=2, return_documents=True, normalize=True):
        print(f"{hit.index}  {hit.score:.3f}  {hit.document}")

    scores = reranker.score(query, documents)  # raw scores, in input order
    pairs = reranker.score_pairs([(query, documents[0]), ("Who wrote Moby-Dick?", documents[1])])
    # From asyncio: the same calls with an "a", awaited; concurrent calls share batches.
    ranked = asyncio.run(reranker.arank(query, documents, timeout=30.0))
    print(reranker.info()["backend"], len(scores), len(pairs), [hit.index for hit in ranked])
"""

# -- the README's examples (the README shows them with http://localhost:8000) --------------------------------------

README_SERVE = "rerankrt serve engines/cpu --port 8000"

README_CURL_RERANK = """\
curl -s http://localhost:8000/rerank -H 'Content-Type: application/json' -d '{
  "query": "Who wrote To Kill a Mockingbird?",
  "texts": ["Harper Lee wrote To Kill a Mockingbird.", "Moby-Dick is a novel by Herman Melville."],
  "return_text": true
}'"""

README_CURL_V1_RERANK = """\
curl -s http://localhost:8000/v1/rerank -H 'Content-Type: application/json' -d '{
  "model": "mxbai-rerank-base-v2",
  "query": "Who wrote To Kill a Mockingbird?",
  "documents": ["Harper Lee wrote To Kill a Mockingbird.", {"text": "Moby-Dick is a novel by Herman Melville."}],
  "top_n": 1,
  "return_documents": true
}'"""

README_COHERE = """\
import cohere

co = cohere.ClientV2(api_key="unused", base_url="http://localhost:8000")
response = co.rerank(
    model="mxbai-rerank-base-v2",
    query="Who wrote To Kill a Mockingbird?",
    documents=["Harper Lee wrote To Kill a Mockingbird.", "Moby-Dick is a novel by Herman Melville."],
    top_n=2,
)
for result in response.results:
    print(result.index, round(result.relevance_score, 4))
"""

README_PREDICT = """\
import httpx
from rerankrt.prompt import seed_prompt  # the model card's template, exactly

prompt = seed_prompt("Who wrote To Kill a Mockingbird?", "Harper Lee wrote To Kill a Mockingbird.")
labels = httpx.post("http://localhost:8000/predict", json={"inputs": prompt}).json()
print(labels)  # [{"label": "1" or "0", "score": P(label)}, ...], highest first
"""

# -- the command line (run in tests/test_readme_cli.py, with engines/cpu as `make demo` leaves it) ------------------

README_CLI = r"""
rerankrt info engines/cpu
rerankrt info engines/cpu --json | head -3
rerankrt rank engines/cpu -q "Who wrote Moby-Dick?" -d "Herman Melville wrote Moby-Dick." -d "Jane Austen wrote Emma."
printf 'Herman Melville wrote Moby-Dick.\nJane Austen wrote Emma.\n' > docs.txt
rerankrt rank engines/cpu -q "Who wrote Moby-Dick?" --documents docs.txt --top-k 1 --normalize
printf '%s\n' '{"text": "Herman Melville wrote Moby-Dick."}' '{"text": "Jane Austen wrote Emma."}' |
  rerankrt rank engines/cpu -q "Who wrote Moby-Dick?" --documents - --json
"""
