"""From the bus to the client: the one subscribe loop (``gateway``, ``connection``) and thin transports."""
