"""The HTTP face: Glance's Image API v2 over the same operations as the CLI.

``app`` holds the routes and the backend, ``errors`` the one place errors
become HTTP statuses and Glance's error bodies, and each handler module is
parse -> one operation -> render. Falcon and cheroot are imported only
here, so the CLI's start-up never pays for them.
"""
