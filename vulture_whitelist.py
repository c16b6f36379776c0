"""Names vulture (``make lint``: 80 % confidence over shared/ and function_app.py) reports that are used, each with why.

Not imported by anything: vulture reads it beside the code, and a name written here counts as used.
"""

# shared/edges/tokens.py TokenCredentialLike.get_token(*scopes, **kwargs): a Protocol's signature, mirroring
# azure-core's TokenCredential.get_token; the parameters are there for the type checker, never read.
scopes
kwargs

# function_app.py: the Functions worker finds the functions by their decorators and calls them by name.
poll_operation  # queue trigger on OPERATIONS_QUEUE
watch  # HTTP trigger POST /api/watch

# shared/core/request_model.py: pydantic reads each model's configuration from this class attribute.
model_config
