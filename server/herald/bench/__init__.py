"""``herald bench``: load tests of fan-out and publishing, against Herald or a peer server."""
