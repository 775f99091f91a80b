"""The social layer: pool discussions, invite links, followed categories, clubs, inbox and email."""
