"""The admin console at ``/admin``: ``router`` mounts one module per page, ``pages`` renders them, ``services`` keeps what the console holds while the app runs."""
