"""The Bot API methods the sandbox answers, one module per kind, each registering its handlers into
the server's method table (see :data:`sandbox.protocol.MethodTable`)."""
