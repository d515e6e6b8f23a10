"""The browser dashboard of sqlagent (a Streamlit app: ``sqlagent ui``).

Every module here only draws what the ``sqlagent`` package returns; the chain, the guard,
charts and exports live in the package.
"""
