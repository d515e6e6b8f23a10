"""Who is asking, and what they may see.

``identity`` (the person: name, groups, attributes), ``roles`` (a policy file's roles and who
holds them, resolved to the ``Policy`` the guard enforces for that person), ``filters`` (the
syntax of row filters: parsed, validated and bound to a person's attributes). The guard
applies the bound filters (``sqlagent.guard.rowfilter``); everything derived from the data is
built from the schema as that person may see it.

Kept free of imports here: ``sqlagent.settings`` reads ``filters`` while it is loading.
"""
