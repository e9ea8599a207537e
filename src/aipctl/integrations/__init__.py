"""Framework integrations (optional extras): each keeps the provider and a non-zero cost behind an AIP ARN.

``pip install 'aipctl[langchain]'`` for :mod:`aipctl.integrations.langchain` (LangChain and LangGraph).
"""
