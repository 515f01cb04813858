"""The embedded local LLM: llama.cpp's OpenAI-compatible server, run by Parley as a process of
its own (`manage.py localllm`, the Procfile's `llm`), behind the `local` LLM provider.

Only this app imports llama.cpp (the xllamacpp package). The rest of Parley reaches the model
as it reaches any self-hosted provider: over HTTP at LOCAL_LLM_URL. The one exception is
`reading`: a voice call's end of turn reads the person's words with the packaged model in the
voice worker's own process, a few tens of milliseconds each."""
