"""The model side of the chain: the client for any OpenAI-compatible endpoint (``client``),
the SQL found in a reply (``extract``), what a reply means (``outcome``) and the prompts."""
