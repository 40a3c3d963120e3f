"""The neutral core every room may import: the clock, identity hashing, message ids and the
shared vocabulary (enums). It imports nothing of the project's other rooms."""
