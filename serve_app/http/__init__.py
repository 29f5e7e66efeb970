"""HTTP plumbing of the ingress, without routes: the endpoint table's row, authentication,
request bodies, the error mapping and the Starlette app that wraps every handler."""
